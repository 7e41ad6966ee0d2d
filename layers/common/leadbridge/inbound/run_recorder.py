"""What a sync run leaves behind: the run item (saved after every page and step, with its errors and per-object
tallies), and how it ends: finished (`SyncRunFinished`), continued in a new invocation (queued with the same run id),
or failed (`SyncFailed`); the connection's last outcome and its run lease follow."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from leadbridge.errors import LeadbridgeError, StoreUnavailable
from leadbridge.inbound.jobs import JobResult, RunJob, WorkerConfig, job_result
from leadbridge.inbound.kernel import Applied, InboundResult
from leadbridge.inbound.ports import WorkerServices
from leadbridge.inbound.run_budget import RunBudget, RunStopped
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import RunError, RunMode, RunState, SyncRun
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger
from leadbridge.store.checkpoints import SyncMarks
from leadbridge.store.events import AppEvent

log = logging.getLogger(__name__)

MAX_RUN_ERRORS = 50


class RunRecorder:
    """Keeps one run's item up to date and ends the run."""

    def __init__(
        self,
        svc: WorkerServices,
        config: WorkerConfig,
        job: RunJob,
        run: SyncRun,
        budget: RunBudget,
        correlation_id: str | None,
    ) -> None:
        self.svc = svc
        self.config = config
        self.job = job
        self.run = run
        self.budget = budget
        self.correlation_id = correlation_id
        self.marks: SyncMarks | None = None  # the connection's sync marks, once the run has started

    def save(self) -> None:
        self.svc.runs.save(self.snapshot())

    def snapshot(self) -> SyncRun:
        """The run as `save` stores it now, as a copy another thread may store while this one goes on."""
        self.budget.update_run_calls()
        self.run.updated_at = self.svc.clock()
        return self.run.model_copy(deep=True)

    def error(self, code: str, message: str, obj: CrmObject | None = None, crm_id: str | None = None) -> None:
        self.run.errors_total += 1
        if len(self.run.errors) < MAX_RUN_ERRORS:
            self.run.errors.append(
                RunError(at=self.svc.clock(), code=code, message=message[:500], object=obj, crm_id=crm_id)
            )

    def tally(self, obj: CrmObject, result: InboundResult) -> None:
        counts = self.run.counts_for(obj)
        if result.outcome is Applied.CREATED:
            counts.created += 1
        elif result.outcome is Applied.UPDATED:
            counts.updated += 1
        elif result.outcome is Applied.DELETED:
            counts.deleted += 1
        elif result.outcome is Applied.SKIPPED:
            counts.skipped += 1
        else:  # UNCHANGED, STALE: nothing new for the app
            counts.unchanged += 1

    # --- endings ------------------------------------------------------------------------------------------------------

    def finish(self) -> None:
        svc, run, marks = self.svc, self.run, self.marks
        now = svc.clock()
        assert marks is not None
        if marks.first_run_at is None:
            marks.first_run_at = run.started_at
        if run.objects is None and run.mode in (RunMode.FIRST, RunMode.HOUSEKEEPING, RunMode.FULL):
            marks.housekeeping_at = run.started_at
        svc.checkpoints.save_marks(marks)
        run.state = RunState.SUCCEEDED
        run.finished_at = now
        self.save()
        svc.connections.record_outcome(run.tenant, run.crm, at=now)
        svc.publisher.publish([AppEvent(detail_type="SyncRunFinished", detail=run_summary(run, self.correlation_id))])
        svc.runs.release(run.tenant, run.crm, run.id)

    def stop(self, stop: RunStopped) -> JobResult:
        """Out of budget: the run finishes. Out of time or throttled: the run continues in a new invocation,
        `stop.delay` seconds from now, keeping its lease until then."""
        svc, run = self.svc, self.run
        if stop.end:
            self.error("budget_exhausted", f"{stop.reason}; the next run continues from the checkpoints")
            run.budget_exhausted = True
            self.finish()
            return job_result(run, stop.reason)
        run.state = RunState.CONTINUED
        run.continuations += 1
        self.save()
        svc.runs.acquire(run.tenant, run.crm, run.id, seconds=self.config.lease_seconds + stop.delay)
        follow_up = self.job.model_copy(
            update={"run_id": run.id, "continuation": self.job.continuation + 1, "enqueued_at": svc.clock()}
        )
        svc.queue.send(
            follow_up.model_dump_json(),
            delay_seconds=stop.delay,
            attributes={"tenant": run.tenant, "crm": run.crm, "trigger": run.trigger, "run_id": run.id},
        )
        log.info("run continues", extra={"run_id": run.id, "reason": stop.reason, "delay": stop.delay})
        return job_result(run, stop.reason)

    def fail(self, code: str, message: str) -> JobResult:
        record_failure(
            self.svc,
            self.run,
            code,
            message,
            correlation_id=self.correlation_id,
            count_calls=self.budget.update_run_calls,
        )
        return job_result(self.run, message)

    def note_retry(self, code: str, message: str, attempt: int) -> None:
        self.error(code, f"{message} (attempt {attempt}; the queue retries)")
        with contextlib.suppress(StoreUnavailable):  # the run item catches up on the retry
            self.save()


def record_failure(
    svc: WorkerServices,
    run: SyncRun,
    code: str,
    message: str,
    *,
    correlation_id: str | None = None,
    count_calls: Callable[[], None] | None = None,
) -> None:
    """The run failed for good: saved as failed, the connection's outcome noted, `SyncFailed` sent, lease released.
    Also used for a run another run took over (no recorder of its own)."""
    now = svc.clock()
    if count_calls is not None:
        count_calls()
    run.state = RunState.FAILED
    run.finished_at = now
    run.updated_at = now
    run.errors_total += 1
    if len(run.errors) < MAX_RUN_ERRORS:
        run.errors.append(RunError(at=now, code=code, message=message[:500]))
    svc.runs.save(run)
    with contextlib.suppress(LeadbridgeError):  # the connection may be gone (disconnected meanwhile)
        svc.connections.record_outcome(run.tenant, run.crm, at=now, error=f"{code}: {message}")
    with contextlib.suppress(LeadbridgeError):  # the run item, the outcome and `SyncFailed` have it too
        svc.inbound.log.write(run_failure_entry(run, code, message, correlation_id=correlation_id, at=now))
    detail = {**run_summary(run, correlation_id), "error": {"code": code, "message": message[:500]}}
    svc.publisher.publish([AppEvent(detail_type="SyncFailed", detail=detail)])
    svc.runs.release(run.tenant, run.crm, run.id)


# What an admin can do about a failed run, by error code; anything else is unexpected.
_RUN_HINTS = {
    "needs_reauth": "An admin must connect {crm} again (POST /connections/{crm}/authorize); syncing has stopped "
    "until then and goes on from where it was.",
    "not_connected": "No {crm} account is connected; connect one to sync again.",
    "crm_unavailable": "{crm} did not answer on any attempt. Nothing is lost: the next run goes on from the "
    "checkpoints. If this repeats, check {crm}'s status, then start a run (POST /sync-runs).",
    "store_unavailable": "leadbridge's storage was unavailable. Nothing is lost: the next run goes on from the "
    "checkpoints.",
    "crm_rejected": "{crm} refused a request of the run (the message says which). Fix the setting or the CRM data "
    "it names, then start a run (POST /sync-runs).",
    "superseded": "Another run of this connection took over; nothing to do.",
}
_UNEXPECTED_HINT = (
    "An unexpected error. The next run goes on from the checkpoints; if it repeats, report the run id to support."
)


def run_failure_entry(
    run: SyncRun, code: str, message: str, *, correlation_id: str | None = None, at: datetime | None = None
) -> SyncLogEntry:
    """The sync log entry of a run that failed for good (also after its last attempt, when the job goes to the
    dead-letter queue): what failed, why, and what to do."""
    hint = _RUN_HINTS.get(code, _UNEXPECTED_HINT).format(crm=run.crm)
    return SyncLogEntry(
        time=at or datetime.now(UTC),
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.FROM_CRM,
        trigger=Trigger(run.trigger),
        action=Action.SYNC_RUN,
        outcome=Outcome.FAILED,
        error=LogError(code=code, message=f"The sync run failed: {message}"[:500], hint=hint),
        crm_calls=run.crm_calls,
        correlation_id=correlation_id,
        run_id=run.id,
        details={
            "mode": run.mode.value if run.mode else None,
            "objects": [obj.value for obj in run.objects] if run.objects else None,
            "errors_total": run.errors_total,
            "run": f"/sync-runs/{run.id}",
        },
    )


def run_summary(run: SyncRun, correlation_id: str | None) -> dict[str, Any]:
    """The detail of `SyncRunFinished` and `SyncFailed`."""
    return {
        "tenant_id": run.tenant,
        "crm": run.crm,
        "run_id": run.id,
        "trigger": run.trigger,
        "mode": run.mode.value if run.mode else None,
        "state": run.state.value,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": {obj.value: counts.model_dump() for obj, counts in run.counts.items()},
        "errors_total": run.errors_total,
        "budget_exhausted": run.budget_exhausted,
        "crm_calls": run.crm_calls,
        "correlation_id": correlation_id,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
