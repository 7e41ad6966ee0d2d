"""The scheduled-sync worker: one run over one connection, resumable at any page.

A run (job from the dispatcher, `POST /sync-runs`, or a continuation of itself) holds the connection's run lease and
goes through steps, each recorded in the run when done, so a continuation skips what is finished:

1. `webhook`: register a missing webhook (`ensure_webhook`) and check the registration (when a check is wired).
2. per object whose direction includes "from CRM":
   - `deletions:{obj}` (incremental runs): ids the CRM reports deleted since the checkpoint → `apply_deletion`.
   - `pull:{obj}`: changes since the checkpoint (minus an overlap), page by page through the inbound kernel, each
     page in slices; the checkpoint is saved after every slice (the page and the last record applied).
   - `reconcile:{obj}` (first, housekeeping and full runs): records the app has that the CRM no longer lists are
     deleted (deletion by absence).
   then `held_children`: children the inbound filter held back come in once their company is in the app.
3. `selections` (CRMs with `SupportsSelections`): persons of static selections and favourites.
4. `outbound`: lead events waiting for the CRM (`lifecycle.retry_pending_outbound`), when wired.

Before every step, and inside the long ones between two slices of `WorkerConfig.apply_slice` records (a page, held
children, reported deletions, selection members), the worker checks its Lambda time and its CRM request budget
(`run_budget`). Out of time it stops cleanly and queues a continuation (same run id), which goes on from the exact
record; when the CRM throttles (`RateLimited`) it does the same with an SQS delay; at the budget it ends the run
(`budget_exhausted`), and the next run continues from the checkpoints.

Where the parts live: the job, config and result in `jobs`, the ports in `ports`, each step in `steps/`, saving and
ending the run in `run_recorder`. This module starts the run, sequences the steps and turns what stopped it into the
run's ending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial

from leadbridge.errors import (
    ConnectionMissing,
    CrmUnavailable,
    LeadbridgeError,
    NeedsReauth,
    RateLimited,
    StoreUnavailable,
    code_and_message,
)
from leadbridge.inbound.jobs import JobResult, RunJob, WorkerConfig, job_result
from leadbridge.inbound.kernel import InboundContext, syncs_from_crm
from leadbridge.inbound.ports import WorkerServices
from leadbridge.inbound.run_budget import RunBudget, RunStopped
from leadbridge.inbound.run_recorder import RunRecorder, record_failure
from leadbridge.inbound.run_scope import RunScope
from leadbridge.inbound.steps.deletions import apply_reported_deletions, reconcile_deletions
from leadbridge.inbound.steps.held_children import bring_held_children
from leadbridge.inbound.steps.outbound import retry_outbound
from leadbridge.inbound.steps.pull import EPOCH, pull_changes
from leadbridge.inbound.steps.selections import sync_selections
from leadbridge.inbound.steps.webhook import ensure_webhook
from leadbridge.models.changes import ChangeSource
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import RunMode, RunState, SyncRun
from leadbridge.store.checkpoints import SyncMarks

# The worker's interface, importable from here (the scheduled-sync handler, tests and benchmarks do).
__all__ = ["EPOCH", "JobResult", "RunJob", "WorkerConfig", "WorkerServices", "process_job"]

log = logging.getLogger(__name__)

_PERMANENT = (NeedsReauth, ConnectionMissing)


def process_job(
    svc: WorkerServices,
    job: RunJob,
    *,
    remaining_ms: Callable[[], int],
    attempt: int = 1,
    config: WorkerConfig | None = None,
    correlation_id: str | None = None,
) -> JobResult:
    """Run (or continue) the job's run. Returns when the run finished, failed for good, or queued its continuation.
    Raises on a retryable failure (store or CRM outage, unexpected error) so the queue delivers the job again; on the
    last attempt the run is marked failed first, and the job goes to the dead-letter queue."""
    config = config or WorkerConfig()
    run_id = job.effective_run_id
    holder = svc.runs.acquire(job.tenant_id, job.crm, run_id, seconds=config.lease_seconds)
    run = svc.runs.get(job.tenant_id, run_id)
    if holder is not None:
        if run is not None and not run.state.finished:
            record_failure(svc, run, "superseded", f"Run {holder} of this connection took over.")
        log.info("another run holds the connection", extra={"run_id": run_id, "holder": holder})
        return JobResult(run_id=run_id, state=run.state if run else None, detail=f"run {holder} is in progress")
    if run is None:
        run = SyncRun(
            id=run_id,
            tenant=job.tenant_id,
            crm=job.crm,
            trigger=job.trigger,
            objects=job.objects,
            full=job.full,
            created_at=job.enqueued_at,
        )
        if not svc.runs.create(run):
            found = svc.runs.get(job.tenant_id, run_id)
            run = found or run
    if run.state.finished:
        svc.runs.release(job.tenant_id, job.crm, run_id)
        return JobResult(run_id=run_id, state=run.state, detail="already finished")  # counted when it ended
    budget = RunBudget(run, remaining_ms=remaining_ms, reserve_ms=config.reserve_ms)
    recorder = RunRecorder(svc, config, job, run, budget, correlation_id)
    try:
        _execute(svc, config, run, budget, recorder, correlation_id)
    except RunStopped as stop:
        return recorder.stop(stop)
    except RateLimited as exc:
        delay = int(exc.retry_after) + 1 if exc.retry_after else config.throttle_delay
        return recorder.stop(RunStopped(f"the CRM throttled the run: {exc.message}", delay=delay))
    except _PERMANENT as exc:
        return recorder.fail(exc.code, exc.message)
    except (StoreUnavailable, CrmUnavailable, Exception) as exc:
        code, message = code_and_message(exc)
        if isinstance(exc, LeadbridgeError) and not isinstance(exc, StoreUnavailable | CrmUnavailable):
            return recorder.fail(code, message)  # the CRM refused something: a retry would repeat it
        if attempt >= config.max_attempts:
            recorder.fail(code, f"{message} (attempt {attempt} of {config.max_attempts}; job moved to the DLQ)")
        else:
            recorder.note_retry(code, message, attempt)
        raise
    return job_result(run, "finished")


def _execute(
    svc: WorkerServices,
    config: WorkerConfig,
    run: SyncRun,
    budget: RunBudget,
    recorder: RunRecorder,
    correlation_id: str | None,
) -> None:
    """Start the run (or go on with it), run the steps it has not done yet, and finish it."""
    now = svc.clock()
    connection = svc.connections.get(run.tenant, run.crm)
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        raise ConnectionMissing(f"No {run.crm} account is connected.", details={"crm": run.crm})
    if connection.status is ConnectionStatus.NEEDS_REAUTH:
        raise NeedsReauth(f"The {run.crm} connection must be re-authorised by an admin.")
    settings = svc.settings(run.tenant, run.crm)
    connector = svc.connector(connection)
    budget.count_calls_of(connector)
    marks = recorder.marks = svc.checkpoints.marks(run.tenant, run.crm)
    run.state = RunState.RUNNING
    run.started_at = run.started_at or now
    run.request_budget = config.budget_for(run.crm)
    if run.mode is None:
        run.mode = _run_mode(run, marks, config, now)
    context = InboundContext(
        tenant=run.tenant,
        crm=run.crm,
        settings=settings,
        source=ChangeSource.SCHEDULE,
        run_id=run.id,
        correlation_id=correlation_id,
        manual=run.trigger == "manual",
    )
    scope = RunScope(
        svc=svc,
        config=config,
        run=run,
        connector=connector,
        settings=settings,
        marks=marks,
        context=context,
        budget=budget,
        recorder=recorder,
    )
    recorder.save()
    for step, action in _steps(scope, connection):
        if step in run.steps_done:
            continue
        budget.check_room()
        action()
        run.steps_done.append(step)
        recorder.save()
    recorder.finish()


def _run_mode(run: SyncRun, marks: SyncMarks, config: WorkerConfig, now: datetime) -> RunMode:
    if run.full:
        return RunMode.FULL
    if marks.first_run_at is None:
        return RunMode.FIRST
    if run.objects is None and (
        marks.housekeeping_at is None or now - marks.housekeeping_at >= config.housekeeping_every
    ):
        return RunMode.HOUSEKEEPING
    return RunMode.INCREMENTAL


def _steps(scope: RunScope, connection: Connection) -> Iterable[tuple[str, Callable[[], None]]]:
    """The run's steps by name, in order. A generator: the objects are chosen after the webhook step."""
    mode = scope.run.mode
    yield "webhook", partial(ensure_webhook, scope, connection)
    for obj in _inbound_objects(scope):
        if mode is RunMode.INCREMENTAL:
            yield f"deletions:{obj.value}", partial(apply_reported_deletions, scope, obj)
        yield f"pull:{obj.value}", partial(pull_changes, scope, obj)
        if mode in (RunMode.FIRST, RunMode.HOUSEKEEPING, RunMode.FULL):
            yield f"reconcile:{obj.value}", partial(reconcile_deletions, scope, obj)
    yield "held_children", partial(bring_held_children, scope)
    yield "selections", partial(sync_selections, scope)
    yield "outbound", partial(retry_outbound, scope)


def _inbound_objects(scope: RunScope) -> list[CrmObject]:
    """The run's objects that sync from the CRM. An object switched off (or `to_crm` only) is not an error: it is
    noted once in the run's `steps_done` (`not_inbound:{object}`) and not counted in `errors_total`."""
    run = scope.run
    wanted = run.objects or list(CrmObject)
    inbound = [obj for obj in wanted if syncs_from_crm(scope.settings, obj)]
    for obj in wanted:
        if obj not in inbound and f"not_inbound:{obj.value}" not in run.steps_done:
            run.steps_done.append(f"not_inbound:{obj.value}")
    return inbound
