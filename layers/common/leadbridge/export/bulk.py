"""Bulk export (`POST /exports`; issue 19 target 8, seed 002's "batch sync"): up to 1,000 leads, exported in the
background, each with exactly the single export's semantics (`export_lead`: match, link or create, persons, custom
fields, the written state, the lead's lease, one log entry), followed as a run (`GET /sync-runs/{id}`, `kind: export`).

- `start_bulk_export` (the HTTP request): checks everything it can before accepting (the connection, company export
  on in the settings, unique lead ids, each lead's size), stores the leads one item each, creates the run (`queued`)
  and queues one job on the export queue. An Idempotency-Key names the run: the same key with the same body answers
  the same run (and queues it again while it is still `queued`, in case the first request died before queueing);
  with another body it is refused.
- `process_bulk_job` (BulkExportFunction, one job per invocation): holds the run's lease (one worker per run), then
  exports the leads in order from the run's `next_index`, at most one slice (`slice_size`) per invocation and never
  past the Lambda's remaining time (it stops with `reserve_ms`, or twice the slowest lead so far, left); then it
  saves the run and queues a continuation that starts at the exact next lead. Each lead's outcome is recorded on its
  item before the run counts it, and an outcome already recorded is counted instead of exported again, so a
  redelivered or duplicated job never exports a lead twice and never counts one twice.
- A lead with only possible matches (`auto`) is set aside as `needs_decision` (its log entry names the candidates);
  a lead that fails is counted `failed` with its log entry (reason and hint); the connection failing (needs
  re-authorisation, disconnected) stops the run as `failed`: the rest would fail the same way.

Writes are batched where the CRM can (`_export_window`): the leads of a window (`write_batch`) are exported up to
their writes (a new company with its persons; or the changes to the company and persons a lead is linked or matched
to, and its new persons); the writes of all of them go in one batch request (Salesforce Composite Graph: one graph,
all or none, per lead; HubSpot: the companies', then the contacts' batch calls, a lead refused in part keeping what
was written), then each export finishes as a single export does with what was written.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from leadbridge.crm.base import Connector
from leadbridge.crm.read_many import SupportsPersonsOfMany, SupportsReadMany
from leadbridge.crm.search_many import SupportsSearchMany
from leadbridge.crm.together import PartlyWritten, RecordWrite, SupportsWriteBatches
from leadbridge.errors import (
    Conflict,
    ConnectionMissing,
    CrmError,
    InvalidInput,
    LeadbridgeError,
    NeedsReauth,
    StoreUnavailable,
)
from leadbridge.export.company import lead_keys, lead_search, search_name
from leadbridge.export.contracts import BulkExportRequest, ExportChoice, ExportMode, ExportRequest
from leadbridge.export.lead_export import PossibleMatchesOnly, export_lead
from leadbridge.export.lease import ExportInProgress, lead_lease
from leadbridge.export.matching import normalise_domain, normalise_org_nr
from leadbridge.export.ports import ExportServices, one_call
from leadbridge.export.run import COMPANY_READ, PERSONS_READ, DeferredWrites, WritesDeferred
from leadbridge.mapping.phones import prepare_lead
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.lead import Lead
from leadbridge.models.runs import BulkExport, BulkExportTotals, RunError, RunKind, RunState, SyncRun
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger, new_entry_id
from leadbridge.store.bulk_exports import BulkLead
from leadbridge.store.ports import DelayedQueue, RunStore

log = logging.getLogger(__name__)

MAX_LEAD_BYTES = 300_000  # one lead is one DynamoDB item (400 KB at most)
MAX_RUN_ERRORS = 50
_NAMESPACE = uuid.UUID("6f1c3f8e-2b7a-4d0c-9a51-3c2f1e0b7d42")  # run ids of Idempotency-Keys


class BulkLeads(Protocol):
    """The leads of bulk export runs and each one's outcome (`store.bulk_exports.DynamoBulkExportLeads`)."""

    def put_all(self, tenant: str, crm: str, run_id: str, leads: Sequence[str]) -> None: ...

    def page(self, tenant: str, crm: str, run_id: str, start: int, limit: int) -> list[BulkLead]: ...

    def record(self, tenant: str, crm: str, run_id: str, index: int, outcome: dict[str, Any]) -> dict[str, Any]:
        """Record the outcome unless one is recorded already; returns the outcome that stands."""
        ...


@dataclass
class BulkExportServices:
    export: ExportServices
    runs: RunStore
    leads: BulkLeads
    queue: DelayedQueue
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass(frozen=True)
class BulkExportConfig:
    slice_size: int = 200  # leads per invocation (8 windows of `write_batch`)
    reserve_ms: int = 15_000  # stop with at least this much Lambda time left
    lease_seconds: float = 240.0  # longer than BulkExportFunction's timeout (180 s)
    save_every: int = 10  # leads between progress saves (GET /sync-runs/{id})
    page_size: int = 25  # leads read per query
    write_batch: int = 25  # leads whose writes one batch request makes (a Composite Graph; HubSpot's batch calls)


class BulkExportJob(BaseModel):
    """A message on the export queue: export the run's leads from `from_index` on."""

    model_config = ConfigDict(defer_build=True)

    kind: Literal["bulk_export"] = "bulk_export"
    run_id: str
    tenant_id: str
    crm: str
    from_index: int = 0


# --- accepting a request ---------------------------------------------------------------------------------------------


def start_bulk_export(
    svc: BulkExportServices,
    tenant: str,
    request: BulkExportRequest,
    *,
    crm: str | None = None,
    idempotency_key: str | None = None,
    requested_by: str | None = None,
) -> SyncRun:
    """Accept a bulk export: the queued run (or, for a repeated Idempotency-Key, the run it started)."""
    export = one_call(svc.export)
    crm = crm or export.active_crm(tenant)
    export.connector(tenant, crm)  # refuses a missing or unauthorised connection (no CRM call)
    settings = export.settings(tenant, crm)
    if not settings.objects.for_object(CrmObject.COMPANY).direction.outbound:
        raise Conflict(
            "Companies are not exported to the CRM under the current settings (objects.company.direction).",
            details={"hint": "An admin can turn on company export in the integration settings."},
        )
    leads = _checked_leads(request)
    request_hash = hashlib.sha256(json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    run_id = (
        str(uuid.uuid5(_NAMESPACE, f"{tenant}\n{crm}\n{idempotency_key}")) if idempotency_key else str(uuid.uuid4())
    )
    if idempotency_key:
        existing = svc.runs.get(tenant, run_id)
        if existing is not None:
            return _repeated(svc, existing, request_hash)
    svc.leads.put_all(tenant, crm, run_id, leads)
    now = svc.clock()
    run = SyncRun(
        id=run_id,
        tenant=tenant,
        crm=crm,
        kind=RunKind.EXPORT,
        trigger="manual",
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
        export=BulkExport(match=request.match, totals=BulkExportTotals(total=len(leads)), request_hash=request_hash),
    )
    if not svc.runs.create(run):  # the same key at the same moment: the other request created it
        existing = svc.runs.get(tenant, run_id)
        if existing is None:
            raise StoreUnavailable("The run could not be stored; retry.", details={"run_id": run_id})
        return _repeated(svc, existing, request_hash)
    try:
        _queue(svc, run, 0)
    except StoreUnavailable:
        run.state, run.finished_at = RunState.FAILED, svc.clock()
        svc.runs.save(run)
        raise
    return run


def _checked_leads(request: BulkExportRequest) -> list[str]:
    """Each lead as stored; 422 naming every lead (by index) that cannot be exported as sent."""
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    stored: list[str] = []
    for index, lead in enumerate(request.leads):
        loc: list[str | int] = ["body", "leads", index]
        if "#" in lead.id or "~" in lead.id:
            errors.append({"loc": [*loc, "id"], "type": "invalid", "message": "must not contain '#' or '~'"})
        if lead.id in seen:
            errors.append({"loc": [*loc, "id"], "type": "duplicate",
                           "message": f"the same lead id as leads[{seen[lead.id]}]; send each lead once"})  # fmt: skip
        seen.setdefault(lead.id, index)
        text = lead.model_dump_json(exclude_none=True)
        if len(text.encode()) > MAX_LEAD_BYTES:
            errors.append({"loc": loc, "type": "too_large", "message": f"larger than {MAX_LEAD_BYTES} bytes"})
        stored.append(text)
    if errors:
        raise InvalidInput(f"{len(errors)} lead(s) cannot be exported as sent; nothing was queued.", errors=errors)
    return stored


def _repeated(svc: BulkExportServices, run: SyncRun, request_hash: str) -> SyncRun:
    if run.export is None or run.export.request_hash != request_hash:
        raise InvalidInput(
            "This Idempotency-Key was used with a different request body; use a new key for a new request.",
            errors=[{"loc": ["header", "idempotency-key"], "type": "reused", "message": "used with another body"}],
        )
    if run.state is RunState.QUEUED:  # the first request may have died before queueing: a second job is harmless
        _queue(svc, run, run.export.next_index)
    return run


def _queue(svc: BulkExportServices, run: SyncRun, from_index: int, *, delay_seconds: int = 0) -> None:
    job = BulkExportJob(run_id=run.id, tenant_id=run.tenant, crm=run.crm, from_index=from_index)
    svc.queue.send(job.model_dump_json(), delay_seconds=delay_seconds,
                   attributes={"tenant": run.tenant, "crm": run.crm, "kind": "bulk_export"})  # fmt: skip


# --- the background worker -------------------------------------------------------------------------------------------


def lease_id(run_id: str) -> str:
    """The run's lease among the lead leases: `~` never occurs in a lead id (refused at `POST /exports`)."""
    return f"~bulk-export~{run_id}"


def process_bulk_job(
    svc: BulkExportServices,
    job: BulkExportJob,
    *,
    remaining_ms: Callable[[], int],
    config: BulkExportConfig = BulkExportConfig(),
) -> SyncRun | None:
    """Export one slice of the run's leads (see the module docstring); the run as this slice left it. None when there
    was nothing to do here: the run is unknown or finished, or another invocation holds it (its own job or
    continuation carries on)."""
    leases = svc.export.leases
    owner = new_entry_id()
    if leases is not None and leases.acquire(job.tenant_id, job.crm, lease_id(job.run_id), owner,
                                             config.lease_seconds) is not None:  # fmt: skip
        log.info("bulk export run is being worked on by another invocation", extra={"run_id": job.run_id})
        return None
    continue_after: int | None = None
    try:
        run = svc.runs.get(job.tenant_id, job.run_id)  # read under the lease: the latest progress
        if run is None or run.export is None:
            log.warning("bulk export job for an unknown run; dropped", extra={"run_id": job.run_id})
            return None
        if run.state.finished and not _dead_lettered(run):
            return None
        continue_after = _work(svc, run, remaining_ms, config)
    finally:
        if leases is not None:
            leases.release(job.tenant_id, job.crm, lease_id(job.run_id), owner)
    # After the release, so the continuation never finds this invocation's lease. If queueing fails, this job is
    # redelivered and starts at the saved next lead.
    if continue_after is not None:
        assert run.export is not None
        _queue(svc, run, run.export.next_index, delay_seconds=continue_after)
    return run


def _work(
    svc: BulkExportServices, run: SyncRun, remaining_ms: Callable[[], int], config: BulkExportConfig
) -> int | None:
    """Export leads until the run is done, the slice is full or time runs short; the delay before the continuation,
    or None when the run ended."""
    assert run.export is not None
    progress = run.export
    now = svc.clock()
    run.state, run.finished_at = RunState.RUNNING, None
    run.started_at = run.started_at or now
    run.updated_at = now
    progress.slices += 1
    svc.runs.save(run)
    # The settings and the connection are read once per slice (a change applies from the next slice on).
    export = one_call(svc.export)
    done_here = unsaved = 0
    pace = _Pace()
    delay: int | None = 0

    def time_for_one_more() -> bool:
        return remaining_ms() >= max(config.reserve_ms, 2 * pace.slowest_ms)

    while progress.next_index < progress.totals.total and done_here < config.slice_size:
        size = min(config.page_size, config.write_batch, config.slice_size - done_here)
        batch = svc.leads.page(run.tenant, run.crm, run.id, progress.next_index, size)
        if not batch or batch[0].index != progress.next_index:
            _fail(svc, run, "leads_missing", f"Lead {progress.next_index} of the run is no longer stored (kept "
                  "7 days); export the rest in a new request.")  # fmt: skip
            return None
        window = [item for i, item in enumerate(batch) if item.index == progress.next_index + i]

        def record(item: BulkLead, outcome: dict[str, Any]) -> dict[str, Any]:
            return svc.leads.record(run.tenant, run.crm, run.id, item.index, outcome)  # the one that stands

        outcomes, retry_after = _export_window(
            export, run, window, Pacing(time_for_one_more, pace, config.lease_seconds), record
        )
        for _item, outcome in outcomes:
            _count(run, outcome, svc.clock())
            progress.next_index += 1
            done_here += 1
            unsaved += 1
            if outcome.get("fatal"):
                _fail(svc, run, str(outcome.get("code")), str(outcome.get("message")), hint=outcome.get("hint"))
                return None
            if unsaved >= config.save_every:
                run.updated_at = svc.clock()
                svc.runs.save(run)
                unsaved = 0
        if retry_after is not None:  # a lead the user is exporting right now: its result decides, retry shortly
            delay = retry_after
            break
        if len(outcomes) < len(window):  # time ran short inside the window
            delay = 0
            break
    run.updated_at = svc.clock()
    if progress.next_index >= progress.totals.total:
        run.state, run.finished_at = RunState.SUCCEEDED, run.updated_at
        svc.runs.save(run)
        return None
    run.state = RunState.CONTINUED
    run.continuations += 1
    svc.runs.save(run)
    return delay


@dataclass
class _Pace:
    """The slowest step so far (one lead's export, or a window's batch write and the exports that finish it)."""

    slowest_ms: float = 0.0

    def took(self, started: float) -> None:
        self.slowest_ms = max(self.slowest_ms, (time.monotonic() - started) * 1000)


@dataclass(frozen=True)
class Pacing:
    """What a window needs of its slice: whether there is time for one more lead, the pace so far, and how long the
    leads' leases must last (the whole invocation: the window holds them from its first lead to its last)."""

    time_for_one_more: Callable[[], bool]
    pace: _Pace
    lease_seconds: float


def _export_window(
    export: ExportServices,
    run: SyncRun,
    window: Sequence[BulkLead],
    pacing: Pacing,
    record: Callable[[BulkLead, dict[str, Any]], dict[str, Any]],
) -> tuple[list[tuple[BulkLead, dict[str, Any]]], int | None]:
    """Export a window of leads with their writes made in one batch request where the CRM can: each lead's export runs
    up to its writes (`defer_writes`), the held-back writes of all of them go in one request
    (`write_batches_together`: each lead's writes all or none), then each export finishes with what was written (or
    its refusal) and is logged as a single export is. A lead whose company is the same as one a lead before it in
    the window would create (org number, domain, name) waits, and is exported after the batch as a single export,
    which finds and links what the batch created. Each outcome is recorded (`record`) as soon as it is known; the
    leads' leases are held throughout. Returns the outcomes of the leads in order (a prefix of the window), and the
    seconds to wait when a lead is being exported by someone else right now (the window stops before it). Time is
    checked before each lead, as without batching."""
    outcomes: dict[int, dict[str, Any]] = {}
    deferred: list[tuple[BulkLead, Lead, DeferredWrites]] = []
    after_batch: list[tuple[BulkLead, Lead]] = []
    retry_after: int | None = None
    with ExitStack() as held:
        ready: list[tuple[BulkLead, Lead | None]] = []  # None: an outcome already recorded, never exported again
        for item in window:
            if item.outcome is not None:
                outcomes[item.index] = item.outcome
                ready.append((item, None))
                continue
            lead = Lead.model_validate_json(item.lead)
            try:
                held.enter_context(lead_lease(export, run.tenant, run.crm, lead.id, seconds=pacing.lease_seconds))
            except ExportInProgress as exc:
                retry_after = exc.retry_after
                break
            ready.append((item, lead))
        found = _search_ahead(export, run, [lead for _, lead in ready if lead is not None])
        done: list[BulkLead] = []
        for item, maybe_lead in ready:
            if maybe_lead is not None:
                if not pacing.time_for_one_more():
                    break
                started = time.monotonic()
                try:
                    outcomes[item.index] = record(item, _export_one(
                        export, run, maybe_lead, defer=True, candidates=found.get(maybe_lead.id)))  # fmt: skip
                except WritesDeferred as wait:
                    run.crm_calls += wait.deferred.crm_calls
                    creating = [other for _, other, writes in deferred if writes.creates_company]
                    if wait.deferred.creates_company and any(_same_company(maybe_lead, o) for o in creating):
                        after_batch.append((item, maybe_lead))
                    else:
                        deferred.append((item, maybe_lead, wait.deferred))
                pacing.pace.took(started)
            done.append(item)
        started = time.monotonic()
        deferred = _with_reads(export, run, deferred, outcomes, record)
        if deferred:
            _write_deferred(export, run, [d for _, _, d in deferred])
        failure: StoreUnavailable | None = None
        finishing: list[tuple[BulkLead, Lead, DeferredWrites | None]] = [*deferred]
        finishing += [(item, lead, None) for item, lead in after_batch]
        for item, lead, prepared in finishing:
            # Each one finished and recorded on its own: an outage for one leaves the others linked and counted.
            try:
                outcomes[item.index] = record(item, _export_one(export, run, lead, prepared=prepared))
            except StoreUnavailable as exc:
                failure = failure or exc
        if finishing:
            pacing.pace.took(started)
        if failure is not None:
            raise failure  # the job is retried from the first lead without an outcome
    return [(item, outcomes[item.index]) for item in done], retry_after


def _same_company(lead: Lead, other: Lead) -> bool:
    """Whether two leads of one window would match the same CRM company (so only one of them may create it)."""
    mine, theirs = lead_keys(lead), lead_keys(other)
    org_nr = normalise_org_nr(mine.org_nr)
    if org_nr and org_nr == normalise_org_nr(theirs.org_nr):
        return True
    domains = {normalise_domain(w) for w in mine.websites} - {None}
    if domains & ({normalise_domain(w) for w in theirs.websites} - {None}):
        return True
    name, other_name = search_name(lead.company_name), search_name(other.company_name)
    if not name or not other_name:
        return False
    a, b = name.casefold(), other_name.casefold()
    return a.startswith(b) or b.startswith(a)  # as the CRM's prefix search would find one from the other


def _search_ahead(export: ExportServices, run: SyncRun, leads: Sequence[Lead]) -> dict[str, list[CrmRecord]]:
    """The CRM's candidate companies of the leads not linked yet (matching `auto`: a linked lead searches nothing), in
    one request where the connector can (`SupportsSearchMany`); {} otherwise, or when that search fails: each export
    then searches on its own, and reports its own failure."""
    assert run.export is not None
    if ExportMode(run.export.match) is not ExportMode.AUTO:
        return {}
    try:  # the connection, the store or the search failing: each export meets it on its own and reports it
        connector = export.connector(run.tenant, run.crm)
        if not isinstance(connector, SupportsSearchMany):
            return {}
        linked = export.links.get_many(run.tenant, run.crm, CrmObject.COMPANY, [lead.id for lead in leads])
        leads = [lead for lead in leads if lead.id not in linked]
        if len(leads) < 2:
            return {}
        settings = export.settings(run.tenant, run.crm)
        prepared = [prepare_lead(lead, settings)[0] for lead in leads]  # as the export will see them
        with _counted(run, connector):
            answers = connector.search_companies_many([lead_search(settings, lead) for lead in prepared])
    except LeadbridgeError as exc:
        log.info("bulk export: the window's batched search failed; each lead searches alone", extra={
            "run_id": run.id, "error_code": exc.code})  # fmt: skip
        return {}
    return {lead.id: found for lead, found in zip(leads, answers, strict=True)}


def _with_reads(
    export: ExportServices,
    run: SyncRun,
    deferred: list[tuple[BulkLead, Lead, DeferredWrites]],
    outcomes: dict[int, dict[str, Any]],
    record: Callable[[BulkLead, dict[str, Any]], dict[str, Any]],
) -> list[tuple[BulkLead, Lead, DeferredWrites]]:
    """The leads that wait for a CRM read (the company they matched, the persons of their company to match new
    contacts among) get it in one request for the window (`SupportsReadMany`, `SupportsPersonsOfMany`), then plan
    their writes again; a lead may wait once more (its company first, then its persons). A lead that needs no writes
    after all is finished here (its outcome recorded in `outcomes`). If the window's read fails, its leads are not
    batched: each reads and writes after the batch as its single export does (and fails, logged, as that would).
    Returns the leads with writes to batch."""
    for _ in range(MAX_READ_ROUNDS):
        waiting = [entry for entry in deferred if entry[2].reads_wanted]
        if not waiting:
            return deferred
        read = _read_for_window(export, run, [key for _, _, d in waiting for key in d.reads_wanted])
        again: list[tuple[BulkLead, Lead, DeferredWrites]] = []
        for item, lead, prepared in deferred:
            if not prepared.reads_wanted:
                again.append((item, lead, prepared))
                continue
            if isinstance(read, CrmError):  # the lead reads and writes as its single export does, after the batch
                prepared.records, prepared.reads_wanted = [], []
                again.append((item, lead, prepared))
                continue
            prepared.reads.update({key: read.get(key) for key in prepared.reads_wanted})
            prepared.reads_wanted = []
            try:
                outcomes[item.index] = record(item, _export_one(export, run, lead, defer=True, prepared=prepared))
            except WritesDeferred as wait:
                run.crm_calls += wait.deferred.crm_calls
                again.append((item, lead, wait.deferred))
        deferred = again
    for _, _, prepared in deferred:  # never so far: such a lead is written as a single export, after the batch
        if prepared.reads_wanted:
            prepared.records, prepared.reads_wanted = [], []
    return deferred


MAX_READ_ROUNDS = 3  # a lead's company, then its company's persons: two; one more to spare


def _read_for_window(
    export: ExportServices, run: SyncRun, wanted: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Any] | CrmError:
    """The reads the window's leads wait for, by key (a company not found: None), or the error that failed them."""
    connector = export.connector(run.tenant, run.crm)
    companies = list(dict.fromkeys(crm_id for kind, crm_id in wanted if kind == COMPANY_READ))
    persons_of = list(dict.fromkeys(crm_id for kind, crm_id in wanted if kind == PERSONS_READ))
    read: dict[tuple[str, str], Any] = {}
    try:
        with _counted(run, connector):
            if companies:
                assert isinstance(connector, SupportsReadMany)  # only then does a lead wait for its company
                found = connector.get_many(CrmObject.COMPANY, companies)
                read.update({(COMPANY_READ, crm_id): found.get(crm_id) for crm_id in companies})
            if persons_of:
                assert isinstance(connector, SupportsPersonsOfMany)  # only then does a lead wait for them
                persons = connector.list_persons_many(persons_of)
                read.update({(PERSONS_READ, crm_id): persons[crm_id] for crm_id in persons_of})
    except CrmError as exc:
        return exc
    return read


@contextmanager
def _counted(run: SyncRun, connector: Connector) -> Iterator[None]:
    """Counts the CRM requests made inside on the run: a window's requests serve many leads, no one lead's."""
    before = connector.request_count()
    try:
        yield
    finally:
        run.crm_calls += connector.request_count() - before


def _write_deferred(export: ExportServices, run: SyncRun, deferred: Sequence[DeferredWrites]) -> None:
    """One batch request for the leads' held-back writes; each gets what was written, or the error. A lead whose
    writes the CRM cannot take in one batch (too many, or kinds it cannot batch) gets neither: its export writes them
    itself, as a single export does."""
    connector = export.connector(run.tenant, run.crm)
    assert isinstance(connector, SupportsWriteBatches)  # only such a connector defers
    batched = [d for d in deferred if connector.can_write_together(d.records)]
    try:
        with _counted(run, connector):
            answers = list(connector.write_batches_together([d.records for d in batched]))
    except CrmError as exc:  # the request as a whole (unavailable, re-auth): every lead of it fails with it
        answers = [exc] * len(batched)
    # Fields the CRM no longer has, left out on a second try: each lead is told of those it wrote.
    gone = connector.take_skipped_fields()
    for prepared, answer in zip(batched, answers, strict=True):
        if isinstance(answer, CrmError):
            prepared.error = answer
            continue
        if isinstance(answer, PartlyWritten):
            prepared.error = first_refusal(prepared.records, answer)
            answer = answer.written
        prepared.written = answer
        prepared.skipped = [name for name in gone if any(name in r.fields for r in prepared.records if r.ref in answer)]


def first_refusal(records: Sequence[RecordWrite], answer: PartlyWritten) -> CrmError:
    """The refusal a lead written in part fails with: its first record refused, in the order a single export writes
    them, naming that record and saying what the CRM kept of the lead (the export links it; a retry writes only the
    rest) and what it did not send."""
    refused = [r for r in records if r.ref in answer.refused]
    first = refused[0] if refused else records[0]
    error = copy.copy(answer.refused.get(first.ref) or CrmError("not written"))  # one error may serve many leads
    error.details = dict(error.details)
    label = first.label or first.ref
    if not error.message.startswith(label):
        error.message = f"{label}: {error.message}"
        error.args = (error.message,)
    kept = [r.label or r.ref for r in records if r.ref in answer.written]
    others = [r.label or r.ref for r in refused[1:]]
    unsent = [r.label or r.ref for r in records if r.ref not in answer.written and r.ref not in answer.refused]
    said = [f"Written in the CRM: {', '.join(kept)}." if kept else "",
            f"Also refused: {', '.join(others)}." if others else "",
            f"Not sent: {', '.join(unsent)}." if unsent else ""]  # fmt: skip
    hint = error.details.get("hint")
    what_now = ("Correct what was refused (the lead or the field mapping), then export the lead again: it keeps "
                "what was written and writes only the rest.")  # fmt: skip
    error.details.update({"record": first.ref, "written": [r.ref for r in records if r.ref in answer.written],
                          "hint": " ".join(p for p in (*said, str(hint) if hint else what_now) if p)})  # fmt: skip
    return error


def _export_one(
    export: ExportServices,
    run: SyncRun,
    lead: Lead,
    *,
    defer: bool = False,
    prepared: DeferredWrites | None = None,
    candidates: list[CrmRecord] | None = None,
) -> dict[str, Any]:
    """The single export of one lead (its lease held by the caller), as an outcome to record."""
    assert run.export is not None
    request = ExportRequest(lead=lead, choice=ExportChoice(mode=ExportMode(run.export.match)))
    try:
        result = export_lead(export, run.tenant, request, crm=run.crm, correlation_id=run.id, run_id=run.id,
                             lock=False, defer_writes=defer, prepared=prepared, candidates=candidates)  # fmt: skip
    except WritesDeferred:
        raise
    except PossibleMatchesOnly as exc:
        possible = (exc.details.get("match") or {}).get("candidates") or []
        return {
            "lead_id": lead.id,
            "status": "needs_decision",
            "candidates": [c.get("crm_id") for c in possible[:5]],
            "log_entry_id": exc.details.get("log_entry_id"),
        }
    except StoreUnavailable:
        raise  # AWS, not the lead: the job is retried from this lead
    except LeadbridgeError as exc:
        return _failed(export, run, lead.id, exc)
    except Exception as exc:  # a defect with one lead must not stop the others; it is logged with its trace
        log.exception("bulk export of one lead failed unexpectedly", extra={"run_id": run.id, "lead_id": lead.id})
        internal = LeadbridgeError("The export of this lead failed unexpectedly.", details={
            "hint": "Export the lead on its own; if it fails again, report it with the run id."})  # fmt: skip
        internal.code = "internal_error"
        return _failed(export, run, lead.id, internal, cause=type(exc).__name__)
    return {
        "lead_id": lead.id,
        "status": result.company.action.value,
        "crm_id": result.company.crm_id,
        "crm_calls": result.crm_calls,
        "log_entry_id": result.log_entry_id,
    }


def _failed(
    export: ExportServices, run: SyncRun, lead_id: str, exc: LeadbridgeError, cause: str | None = None
) -> dict[str, Any]:
    """A failed lead's outcome; its log entry is the export's own when the export wrote one."""
    fatal = isinstance(exc, NeedsReauth | ConnectionMissing)
    if isinstance(exc, ConnectionMissing | NeedsReauth):
        exc.details.setdefault("hint", "An admin must reconnect the CRM account, then send the export again.")
    hint = exc.details.get("hint")
    if isinstance(exc, InvalidInput) and exc.errors and not hint:
        hint = "Correct the fields named in the errors (or the mapping), then export the lead again."
    entry_id = exc.details.get("log_entry_id")
    if not entry_id:  # failed before the export could log it (e.g. the connection)
        error = LogError.of(exc).model_copy(update={"hint": None if hint is None else str(hint)})
        if cause:
            error = error.model_copy(update={"cause": cause})
        entry = SyncLogEntry(
            tenant=run.tenant,
            crm=run.crm,
            direction=Direction.TO_CRM,
            trigger=Trigger.EXPORT,
            action=Action.CREATE,
            outcome=Outcome.FAILED,
            object=CrmObject.COMPANY,
            app_id=lead_id,
            error=error,
            correlation_id=run.id,
            run_id=run.id,
        )
        export.sync_log.write(entry)
        entry_id = entry.id
    return {
        "lead_id": lead_id,
        "status": "failed",
        "code": exc.code,
        "message": exc.message,
        "hint": None if hint is None else str(hint),
        "errors": [{"loc": e.get("loc"), "type": e.get("type")} for e in (exc.details.get("errors") or [])][:10],
        "log_entry_id": entry_id,
        "fatal": fatal,
    }


def _count(run: SyncRun, outcome: dict[str, Any], now: datetime) -> None:
    assert run.export is not None
    totals = run.export.totals
    status = str(outcome.get("status"))
    if status in ("created", "linked", "updated", "unchanged", "needs_decision", "failed"):
        setattr(totals, status, getattr(totals, status) + 1)
    else:  # an outcome written by a newer version: still one lead done
        totals.failed += 1
    totals.done += 1
    run.crm_calls += int(outcome.get("crm_calls") or 0)
    if status == "failed":
        run.errors_total += 1
        if len(run.errors) < MAX_RUN_ERRORS:
            run.errors.append(RunError(at=now, code=str(outcome.get("code")), object=CrmObject.COMPANY,
                                       message=f"lead {outcome.get('lead_id')}: {outcome.get('message')}"))  # fmt: skip


def _fail(svc: BulkExportServices, run: SyncRun, code: str, message: str, *, hint: Any = None) -> None:
    now = svc.clock()
    run.state, run.finished_at, run.updated_at = RunState.FAILED, now, now
    text = f"{message} {hint}" if hint else message
    run.errors_total += 1
    if len(run.errors) < MAX_RUN_ERRORS:
        run.errors.append(RunError(at=now, code=code, message=f"the run stopped: {text}"))
    svc.runs.save(run)


def _dead_lettered(run: SyncRun) -> bool:
    """A run failed only because its job was dead-lettered: a redrive of that job (docs/operations.md) resumes it."""
    return run.state is RunState.FAILED and bool(run.errors) and run.errors[-1].code == "dead_lettered"


def fail_bulk_job(svc: BulkExportServices, job: BulkExportJob, reason: str) -> None:
    """The job failed its last delivery (it goes to the dead-letter queue): the run ends `failed` with the reason."""
    run = svc.runs.get(job.tenant_id, job.run_id)
    if run is None or run.state.finished:
        return
    _fail(svc, run, "dead_lettered", f"the export worker failed repeatedly ({reason}); the job was dead-lettered.")
