"""The scheduled-sync worker: one run over one connection, resumable at any page.

A run (job from the dispatcher, `POST /sync-runs`, or a continuation of itself) holds the connection's run lease and
goes through steps, each recorded in the run when done, so a continuation skips what is finished:

1. `webhook`: register a missing webhook (`ensure_webhook`) and check the registration (when a check is wired).
2. per object whose direction includes "from CRM":
   - `deletions:{obj}` (incremental runs): ids the CRM reports deleted since the checkpoint → `apply_deletion`.
   - `pull:{obj}`: changes since the checkpoint (minus an overlap), page by page through the inbound kernel; the
     checkpoint is saved after every page. When the pull completes the checkpoint becomes
     min(newest change seen, pull start): CRM clocks and paging are not exact, and the overlap re-reads are no-ops.
   - `reconcile:{obj}` (first, housekeeping and full runs): records the app has that the CRM no longer lists are
     deleted (deletion by absence, `RecordStates.live_ids` vs `Connector.all_ids`).
3. `selections` (CRMs with `SupportsSelections`): persons of static selections, of favourite companies (former
   employees left out) and favourite persons, merged without duplicates, on the first run, at housekeeping, and for
   new selections / changed favourite preferences (seed 003).
4. `outbound`: lead events waiting for the CRM (`lifecycle.retry_pending_outbound`), when wired.

Before every page and step the worker checks its Lambda time and its CRM request budget. Out of time it stops
cleanly and queues a continuation (same run id); when the CRM throttles (`RateLimited`) it does the same with an SQS
delay; at the budget it ends the run (`budget_exhausted`), and the next run continues from the checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from leadbridge.crm.base import Connector, SupportsSelections
from leadbridge.errors import (
    ConnectionMissing,
    CrmNotFound,
    CrmUnavailable,
    LeadbridgeError,
    NeedsReauth,
    RateLimited,
    StoreUnavailable,
)
from leadbridge.inbound.dispatch import SyncJob
from leadbridge.inbound.kernel import (
    Applied,
    InboundContext,
    InboundResult,
    InboundServices,
    apply_deletion,
    apply_records,
    syncs_from_crm,
)
from leadbridge.models.changes import ChangeSource
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.runs import ImportProgress, RunError, RunMode, RunState, SyncRun
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.time import as_utc
from leadbridge.store.checkpoints import Checkpoint, CheckpointStore, SyncMarks
from leadbridge.store.events import AppEvent, EventPublisher
from leadbridge.store.runs import DelayedQueue, RunStore

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 2, tzinfo=UTC)  # "the whole data set": earlier than any CRM record
MAX_RUN_ERRORS = 50
# SuperOffice documents no request numbers, only "you may be throttled" (superoffice-api.md §13). 20,000 requests a
# run covers an initial import of ~20 pages x 1,000 records per object with room for retries; override per deployment.
DEFAULT_REQUEST_BUDGETS = {"superoffice": 20_000}
FALLBACK_REQUEST_BUDGET = 10_000


class RunJob(SyncJob):
    """A `SyncJob` as the worker reads it: dispatcher jobs have only the base fields; manual runs and continuations
    name their run and what to sync."""

    run_id: str | None = None
    objects: list[CrmObject] | None = None
    full: bool = False
    continuation: int = 0

    @property
    def effective_run_id(self) -> str:
        # A redelivered dispatcher job keeps its job id, so a retry resumes the same run.
        return self.run_id or self.job_id


@dataclass(frozen=True)
class WorkerConfig:
    overlap: timedelta = timedelta(minutes=5)
    housekeeping_every: timedelta = timedelta(hours=24)
    request_budget: int | None = None  # None: the CRM's default from DEFAULT_REQUEST_BUDGETS
    reserve_ms: int = 15_000  # stop when less than this plus twice the slowest page remains
    lease_seconds: int = 960  # longer than one worker invocation (900 s) so a live run keeps it
    max_attempts: int = 5  # the queue's maxReceiveCount: the last attempt fails the run for good
    throttle_delay: int = 60  # seconds to wait after a 429 without Retry-After
    outbound_budget: int = 200  # lead events retried per run
    selection_save_every: int = 50

    def budget_for(self, crm: str) -> int:
        return self.request_budget or DEFAULT_REQUEST_BUDGETS.get(crm, FALLBACK_REQUEST_BUDGET)


class Connections(Protocol):
    def get(self, tenant_id: str, crm: str) -> Connection | None: ...

    def record_outcome(self, tenant_id: str, crm: str, *, at: datetime, error: str | None = None) -> None: ...


OutboundRetry = Callable[[str, str, datetime, int], Any]  # (tenant, crm, now, budget) -> counts


@dataclass(frozen=True)
class WorkerServices:
    runs: RunStore
    checkpoints: CheckpointStore
    inbound: InboundServices
    connections: Connections
    settings: Callable[[str, str], SettingsDocument]
    connector: Callable[[Connection], Connector]
    publisher: EventPublisher
    queue: DelayedQueue
    ensure_webhook: Callable[[Connection], Connection] | None = None
    check_webhook: Callable[[Connection, Connector], Any] | None = None
    outbound: OutboundRetry | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class JobResult(BaseModel):
    run_id: str | None = None
    state: RunState | None = None
    detail: str = ""


class _Stop(Exception):
    """Unwinds a run to its top: out of time, throttled (continue later) or out of budget (end)."""

    def __init__(self, reason: str, *, delay: int = 0, end: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.end = end


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
            _fail_record(svc, run, "superseded", f"Run {holder} of this connection took over.")
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
        return JobResult(run_id=run_id, state=run.state, detail="already finished")
    engine = _Run(svc, config, job, run, remaining_ms, correlation_id)
    try:
        engine.execute()
    except _Stop as stop:
        return engine.stop(stop)
    except RateLimited as exc:
        delay = int(exc.retry_after) + 1 if exc.retry_after else config.throttle_delay
        return engine.stop(_Stop(f"the CRM throttled the run: {exc.message}", delay=delay))
    except _PERMANENT as exc:
        return engine.fail(exc.code, exc.message)
    except (StoreUnavailable, CrmUnavailable, Exception) as exc:
        code = exc.code if isinstance(exc, LeadbridgeError) else "internal_error"
        message = exc.message if isinstance(exc, LeadbridgeError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, LeadbridgeError) and not isinstance(exc, StoreUnavailable | CrmUnavailable):
            return engine.fail(code, message)  # the CRM refused something: a retry would repeat it
        if attempt >= config.max_attempts:
            engine.fail(code, f"{message} (attempt {attempt} of {config.max_attempts}; job moved to the DLQ)")
        else:
            engine.note_retry(code, message, attempt)
        raise
    return JobResult(run_id=run_id, state=run.state, detail="finished")


class _Run:
    def __init__(
        self,
        svc: WorkerServices,
        config: WorkerConfig,
        job: RunJob,
        run: SyncRun,
        remaining_ms: Callable[[], int],
        correlation_id: str | None,
    ) -> None:
        self.svc = svc
        self.config = config
        self.job = job
        self.run = run
        self.remaining_ms = remaining_ms
        self.correlation_id = correlation_id
        self.connector: Connector | None = None
        self.settings: SettingsDocument | None = None
        self.ctx: InboundContext | None = None
        self.marks: SyncMarks | None = None
        self.slowest_ms = 0.0
        self._calls_base = run.crm_calls
        self._calls_at_start = 0

    # --- the run ------------------------------------------------------------------------------------------------------

    def execute(self) -> None:
        svc, run = self.svc, self.run
        now = svc.clock()
        connection = svc.connections.get(run.tenant, run.crm)
        if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
            raise ConnectionMissing(f"No {run.crm} account is connected.", details={"crm": run.crm})
        if connection.status is ConnectionStatus.NEEDS_REAUTH:
            raise NeedsReauth(f"The {run.crm} connection must be re-authorised by an admin.")
        self.settings = svc.settings(run.tenant, run.crm)
        self.connector = svc.connector(connection)
        self._calls_at_start = self._calls_now()
        self.marks = svc.checkpoints.marks(run.tenant, run.crm)
        run.state = RunState.RUNNING
        run.started_at = run.started_at or now
        run.request_budget = self.config.budget_for(run.crm)
        if run.mode is None:
            run.mode = self._mode(now)
        self.ctx = InboundContext(
            tenant=run.tenant,
            crm=run.crm,
            settings=self.settings,
            source=ChangeSource.SCHEDULE,
            run_id=run.id,
            correlation_id=self.correlation_id,
        )
        self._save()
        for step, action in self._steps(connection):
            if step in run.steps_done:
                continue
            self._check_room()
            action()
            run.steps_done.append(step)
            self._save()
        self._finish()

    def _mode(self, now: datetime) -> RunMode:
        marks = self.marks
        assert marks is not None
        if self.run.full:
            return RunMode.FULL
        if marks.first_run_at is None:
            return RunMode.FIRST
        if self.run.objects is None and (
            marks.housekeeping_at is None or now - marks.housekeeping_at >= self.config.housekeeping_every
        ):
            return RunMode.HOUSEKEEPING
        return RunMode.INCREMENTAL

    def _objects(self) -> list[CrmObject]:
        assert self.settings is not None
        wanted = self.run.objects or list(CrmObject)
        inbound = [obj for obj in wanted if syncs_from_crm(self.settings, obj)]
        for obj in wanted:
            if obj not in inbound and f"not_inbound:{obj.value}" not in self.run.steps_done:
                self.run.steps_done.append(f"not_inbound:{obj.value}")
                self._error("not_inbound", f"{obj.value} does not sync from the CRM (direction setting)", obj)
        return inbound

    def _steps(self, connection: Connection) -> Iterable[tuple[str, Callable[[], None]]]:
        mode = self.run.mode
        yield "webhook", lambda: self._webhook(connection)
        for obj in self._objects():
            if mode is RunMode.INCREMENTAL:
                yield f"deletions:{obj.value}", lambda o=obj: self._deletions(o)  # type: ignore[misc]
            yield f"pull:{obj.value}", lambda o=obj: self._pull(o)  # type: ignore[misc]
            if mode in (RunMode.FIRST, RunMode.HOUSEKEEPING, RunMode.FULL):
                yield f"reconcile:{obj.value}", lambda o=obj: self._reconcile(o)  # type: ignore[misc]
        yield "selections", self._selections
        yield "outbound", self._outbound

    # --- steps --------------------------------------------------------------------------------------------------------

    def _webhook(self, connection: Connection) -> None:
        if self.svc.ensure_webhook is not None:
            connection = self.svc.ensure_webhook(connection)  # non-fatal by design: polling still works
        if self.svc.check_webhook is not None and self.connector is not None:
            try:
                self.svc.check_webhook(connection, self.connector)
            except (RateLimited, StoreUnavailable):
                raise
            except Exception as exc:  # a failed check must not stop the sync itself
                self._error("webhook_check_failed", _message(exc))

    def _pull(self, obj: CrmObject) -> None:
        svc, run, connector = self.svc, self.run, self._connector()
        checkpoint = svc.checkpoints.get(run.tenant, run.crm, obj)
        wanted = self._pull_from(checkpoint)
        if wanted is None:
            # Nothing to read back: sync from now on (first run without initial import, object newly switched on).
            if checkpoint.since is None:
                checkpoint.since = run.started_at
                checkpoint.updated_at = svc.clock()
                svc.checkpoints.save(checkpoint)
            return
        if not (checkpoint.in_progress and checkpoint.pull_since is not None and checkpoint.pull_since <= wanted):
            checkpoint = checkpoint.model_copy(
                update={
                    "pull_since": wanted,
                    "page_token": None,
                    "pull_started": svc.clock(),
                    "newest_seen": None,
                    "pull_run_id": run.id,
                }
            )
            svc.checkpoints.save(checkpoint)
        if wanted <= EPOCH and obj not in run.progress:
            # Reading the whole data set: tell the user how far along it is (ids only: cheap and memory-flat).
            run.progress[obj] = ImportProgress(estimated_total=sum(1 for _ in connector.all_ids(obj)))
            self._save()
        pull_since = checkpoint.pull_since
        assert pull_since is not None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
            self._check_room()
            page = connector.changes_since(obj, pull_since, checkpoint.page_token)
            while True:
                began = time.monotonic()
                # The next page is read while this one is applied: the run waits on the CRM or on the table, not on
                # one after the other. The checkpoint still moves only after a page is applied.
                ahead = None
                if page.next_page_token is not None and self._may_start_page():
                    ahead = reader.submit(connector.changes_since, obj, pull_since, page.next_page_token)
                self._apply(obj, page.records)
                newest = checkpoint.newest_seen
                for record in page.records:
                    if record.updated_at is not None:
                        stamp = as_utc(record.updated_at)
                        newest = stamp if newest is None or stamp > newest else newest
                checkpoint.newest_seen = newest
                checkpoint.page_token = page.next_page_token
                checkpoint.updated_at = svc.clock()
                if page.next_page_token is None:
                    started = checkpoint.pull_started or pull_since
                    checkpoint.since = min(newest, started) if newest is not None else started
                    checkpoint.pull_since = checkpoint.pull_started = checkpoint.newest_seen = None
                    checkpoint.pull_run_id = None
                svc.checkpoints.save(checkpoint)
                if obj in run.progress:
                    run.progress[obj].done += len(page.records)
                self._save()
                if page.next_page_token is None:
                    return
                if ahead is None:
                    self._check_room()  # out of time or budget: stops here, the checkpoint is at the next page
                    ahead = reader.submit(connector.changes_since, obj, pull_since, page.next_page_token)
                page = ahead.result()
                self.slowest_ms = max(self.slowest_ms, (time.monotonic() - began) * 1000)

    def _pull_from(self, checkpoint: Checkpoint) -> datetime | None:
        """Lower bound of this run's pull of one object; None: nothing to read back."""
        assert self.settings is not None and self.marks is not None
        mode, overlap = self.run.mode, self.config.overlap
        if mode is RunMode.FULL:
            return EPOCH
        if checkpoint.since is None:
            return EPOCH if self.settings.initial_import else None
        since = checkpoint.since
        if mode is RunMode.HOUSEKEEPING and self.marks.housekeeping_at is not None:
            since = min(since, self.marks.housekeeping_at)
        return max(EPOCH, since - overlap)

    def _deletions(self, obj: CrmObject) -> None:
        checkpoint = self.svc.checkpoints.get(self.run.tenant, self.run.crm, obj)
        if checkpoint.since is None:
            return
        since = max(EPOCH, checkpoint.since - self.config.overlap)
        for crm_id in self._connector().deleted_since(obj, since):
            self._delete(obj, crm_id)

    def _reconcile(self, obj: CrmObject) -> None:
        """Deletion by absence. The app's ids are listed first: a record the CRM creates meanwhile is in neither list
        or in the CRM's, never only in the app's."""
        run = self.run
        live = list(self.svc.inbound.states.live_ids(run.tenant, run.crm, obj))
        if not live:
            return
        in_crm = set(self._connector().all_ids(obj))
        for crm_id in live:
            if crm_id not in in_crm:
                self._delete(obj, crm_id)

    def _selections(self) -> None:
        connector, settings, marks, run = self._connector(), self.settings, self.marks, self.run
        assert settings is not None and marks is not None
        if not isinstance(connector, SupportsSelections) or not syncs_from_crm(settings, CrmObject.PERSON):
            return
        if run.objects is not None and CrmObject.PERSON not in run.objects:
            return
        wanted = settings.selections
        everything = run.mode in (RunMode.FIRST, RunMode.HOUSEKEEPING, RunMode.FULL)
        selection_ids = [s for s in wanted.static_selection_ids if everything or s not in marks.selection_ids]
        preferences_changed = (wanted.favourite_companies, wanted.favourite_persons) != (
            marks.favourite_companies,
            marks.favourite_persons,
        )
        favourites = everything or preferences_changed
        person_ids: list[str] = []
        for selection_id in selection_ids:
            members = connector.selection_person_ids(selection_id)
            if not members:  # a company selection: its companies' current persons
                for company_id in connector.selection_company_ids(selection_id):
                    members += connector.company_person_ids(company_id)
            person_ids += members
        if favourites and wanted.favourite_companies:
            person_ids += connector.favourite_company_person_ids()  # former employees are left out
        if favourites and wanted.favourite_persons:
            person_ids += connector.favourite_person_ids()
        unique = list(dict.fromkeys(person_ids))
        # The list is read again by a continuation (same settings, same order); `done` is where to go on.
        progress = run.selections or ImportProgress()
        progress.estimated_total = len(unique)
        run.selections = progress
        chunk = self.config.selection_save_every
        for start in range(progress.done, len(unique), chunk):
            self._check_room()
            records: list[CrmRecord] = []
            for person_id in unique[start : start + chunk]:
                with contextlib.suppress(CrmNotFound):  # gone since the list was read: deletion detection reports it
                    records.append(connector.get(CrmObject.PERSON, person_id))
            self._apply(CrmObject.PERSON, records)
            progress.done = min(start + chunk, len(unique))
            self._save()
        marks.selection_ids = list(wanted.static_selection_ids)
        marks.favourite_companies = wanted.favourite_companies
        marks.favourite_persons = wanted.favourite_persons
        self.svc.checkpoints.save_marks(marks)

    def _outbound(self) -> None:
        if self.svc.outbound is None:
            return
        try:
            counts = self.svc.outbound(self.run.tenant, self.run.crm, self.svc.clock(), self.config.outbound_budget)
        except (RateLimited, StoreUnavailable):
            raise
        except LeadbridgeError as exc:
            self._error(exc.code, f"retrying lead events failed: {exc.message}")
            return
        dumped = counts.model_dump() if isinstance(counts, BaseModel) else dict(counts or {})
        self.run.outbound = {k: int(v) for k, v in dumped.items() if isinstance(v, int)}

    # --- records ------------------------------------------------------------------------------------------------------

    def _apply(self, obj: CrmObject, records: list[CrmRecord]) -> None:
        """One page: a record that cannot be brought in fails alone (logged by the kernel); a store or bus failure
        raises, and the page is read again from the checkpoint."""
        assert self.ctx is not None
        counts = self.run.counts_for(obj)
        counts.read += len(records)
        for record, result in zip(records, apply_records(self.svc.inbound, self.ctx, records), strict=True):
            if result.outcome is Applied.FAILED:
                counts.failed += 1
                self._error(result.code or "internal_error", result.reason or "", obj, record.id)
            else:
                self._tally(obj, result)

    def _delete(self, obj: CrmObject, crm_id: str) -> None:
        assert self.ctx is not None
        self._tally(obj, apply_deletion(self.svc.inbound, self.ctx, obj, crm_id))

    def _tally(self, obj: CrmObject, result: InboundResult) -> None:
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

    # --- time, budget, persistence ------------------------------------------------------------------------------------

    def _connector(self) -> Connector:
        assert self.connector is not None
        return self.connector

    def _calls_now(self) -> int:
        calls = getattr(self.connector, "calls", None)
        return sum(calls.values()) if isinstance(calls, Mapping) else 0

    def _sync_calls(self) -> None:
        self.run.crm_calls = self._calls_base + self._calls_now() - self._calls_at_start

    def _check_room(self) -> None:
        self._sync_calls()
        budget = self.run.request_budget
        if budget is not None and self.run.crm_calls >= budget:
            raise _Stop(f"the run reached its CRM request budget of {budget}", end=True)
        if self.remaining_ms() < self.config.reserve_ms + 2 * self.slowest_ms:
            raise _Stop("the invocation is about to time out")

    def _may_start_page(self) -> bool:
        try:
            self._check_room()
        except _Stop:
            return False
        return True

    def _save(self) -> None:
        self._sync_calls()
        self.run.updated_at = self.svc.clock()
        self.svc.runs.save(self.run)

    def _error(self, code: str, message: str, obj: CrmObject | None = None, crm_id: str | None = None) -> None:
        self.run.errors_total += 1
        if len(self.run.errors) < MAX_RUN_ERRORS:
            self.run.errors.append(
                RunError(at=self.svc.clock(), code=code, message=message[:500], object=obj, crm_id=crm_id)
            )

    # --- endings ------------------------------------------------------------------------------------------------------

    def _finish(self) -> None:
        svc, run = self.svc, self.run
        now = svc.clock()
        marks = self.marks
        assert marks is not None
        if marks.first_run_at is None:
            marks.first_run_at = run.started_at
        if run.objects is None and run.mode in (RunMode.FIRST, RunMode.HOUSEKEEPING, RunMode.FULL):
            marks.housekeeping_at = run.started_at
        svc.checkpoints.save_marks(marks)
        run.state = RunState.SUCCEEDED
        run.finished_at = now
        self._save()
        svc.connections.record_outcome(run.tenant, run.crm, at=now)
        svc.publisher.publish([AppEvent(detail_type="SyncRunFinished", detail=_summary(run, self.correlation_id))])
        svc.runs.release(run.tenant, run.crm, run.id)

    def stop(self, stop: _Stop) -> JobResult:
        svc, run = self.svc, self.run
        if stop.end:
            self._error("budget_exhausted", f"{stop.reason}; the next run continues from the checkpoints")
            run.budget_exhausted = True
            self._finish()
            return JobResult(run_id=run.id, state=run.state, detail=stop.reason)
        run.state = RunState.CONTINUED
        run.continuations += 1
        self._save()
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
        return JobResult(run_id=run.id, state=run.state, detail=stop.reason)

    def fail(self, code: str, message: str) -> JobResult:
        _fail_record(self.svc, self.run, code, message, correlation_id=self.correlation_id, calls=self._sync_calls)
        return JobResult(run_id=self.run.id, state=self.run.state, detail=message)

    def note_retry(self, code: str, message: str, attempt: int) -> None:
        self._error(code, f"{message} (attempt {attempt}; the queue retries)")
        with contextlib.suppress(StoreUnavailable):  # the run item catches up on the retry
            self._save()


def _fail_record(
    svc: WorkerServices,
    run: SyncRun,
    code: str,
    message: str,
    *,
    correlation_id: str | None = None,
    calls: Callable[[], None] | None = None,
) -> None:
    now = svc.clock()
    if calls is not None:
        calls()
    run.state = RunState.FAILED
    run.finished_at = now
    run.updated_at = now
    run.errors_total += 1
    if len(run.errors) < MAX_RUN_ERRORS:
        run.errors.append(RunError(at=now, code=code, message=message[:500]))
    svc.runs.save(run)
    with contextlib.suppress(LeadbridgeError):  # the connection may be gone (disconnected meanwhile)
        svc.connections.record_outcome(run.tenant, run.crm, at=now, error=f"{code}: {message}")
    detail = {**_summary(run, correlation_id), "error": {"code": code, "message": message[:500]}}
    svc.publisher.publish([AppEvent(detail_type="SyncFailed", detail=detail)])
    svc.runs.release(run.tenant, run.crm, run.id)


def _summary(run: SyncRun, correlation_id: str | None) -> dict[str, Any]:
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


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, LeadbridgeError) else f"{type(exc).__name__}: {exc}"
