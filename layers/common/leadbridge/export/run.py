"""One export's run record: what it has done so far (its result and log entries are made from it), the CRM calls it
used, and the fields the CRM ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from leadbridge.crm.base import Connector
from leadbridge.crm.read_many import SupportsPersonsOfMany, SupportsReadMany
from leadbridge.crm.together import NewRecord, RecordUpdate, RecordWrite, SupportsWriteBatches
from leadbridge.errors import CrmError, CrmNotFound
from leadbridge.export.contracts import CompanyResult
from leadbridge.export.matching import MatchResult
from leadbridge.models.crm import CrmObject, CrmRecord, FieldInfo
from leadbridge.models.lead import Lead
from leadbridge.models.synclog import Trigger


@dataclass
class DealWithCompany:
    """A lead event's new deal. When the export creates the company, the deal is created in the same all-or-none
    request where the CRM can (`created` is then set), so a refused deal leaves no company behind."""

    fields: Mapping[str, Any]
    created: CrmRecord | None = None


@dataclass
class DeferredWrites:
    """Bulk export: a lead's writes held back, to be written with other leads' in one request
    (`SupportsWriteBatches.write_batches_together`, each lead's all or none where the CRM can); then its export runs
    again with `written` and `error` and what it had decided and read (the match, the company, the CRM's persons), so
    the second run neither searches nor reads again. Both set: the CRM wrote part of the lead (HubSpot); the second
    run takes what was written, in the order a single export writes, up to the first record refused."""

    records: list[RecordWrite]
    match: MatchResult | None
    match_log: dict[str, Any] | None
    target: str | None = None  # the CRM company decided on (None: the records create it)
    reads: dict[tuple[str, ...], Any] = field(default_factory=dict)  # what the first run read, by what it asked
    written: dict[str, CrmRecord] | None = None  # by `ref`, once written
    error: CrmError | None = None  # the refusal: nothing of the lead's writes was made, or only `written`
    skipped: list[str] = field(default_factory=list)  # fields the CRM no longer has, left out of the writes
    reads_wanted: list[tuple[str, str]] = field(default_factory=list)  # what to read for it first, then run again
    crm_calls: int = 0  # the requests the run that deferred made (reads: its outcome counts only the last run's)

    @property
    def creates_company(self) -> bool:
        return any(isinstance(r, NewRecord) and r.obj is CrmObject.COMPANY for r in self.records)


class WritesDeferred(Exception):
    """Raised by an export run with `defer_writes` once it has planned its writes: nothing written."""

    def __init__(self, deferred: DeferredWrites) -> None:
        super().__init__("writes deferred to a batch")
        self.deferred = deferred


@dataclass
class ExportRun:
    """What one export has done so far; becomes the result and the log entries."""

    tenant: str
    crm: str
    lead: Lead
    connector: Connector
    correlation_id: str | None
    calls_before: int
    warnings: list[str]
    match: MatchResult | None = None
    match_log: dict[str, Any] | None = None
    company: CompanyResult | None = None
    company_written: list[str] | None = None
    trigger: Trigger = Trigger.EXPORT
    run_id: str | None = None  # the bulk export run this export is part of (its log entries name it)
    metadata: dict[CrmObject, Iterable[FieldInfo]] = field(default_factory=dict)  # the CRM fields it planned with
    deal: DealWithCompany | None = None  # a lead event's new deal, to create with a new company
    persons_waiting: list[str] = field(default_factory=list)  # contacts a CRM lead cannot hold until converted
    defer_writes: bool = False  # bulk export: hold the writes back (`WritesDeferred`) instead of making them
    deferred: list[RecordWrite] = field(default_factory=list)  # the writes held back so far
    prepared: DeferredWrites | None = None  # bulk export: the held-back writes as written (or refused) in a batch
    candidates: list[CrmRecord] | None = None  # bulk export: the CRM's companies for this lead, searched already
    reads: dict[tuple[str, ...], Any] = field(default_factory=dict)  # what a deferring run read (`remembered`)
    batch_skipped: list[str] = field(default_factory=list)  # fields left out of the last write a batch made
    reads_wanted: list[tuple[str, str]] = field(default_factory=list)  # reads a deferring run left to its window

    def calls(self) -> int:
        return crm_calls(self.connector) - self.calls_before

    def deferral(self, target: str | None) -> WritesDeferred:
        """The writes held back so far, with what this run decided and read, to raise."""
        return WritesDeferred(DeferredWrites(list(self.deferred), self.match, self.match_log, target, self.reads,
                                             reads_wanted=list(self.reads_wanted), crm_calls=self.calls()))


T = TypeVar("T")


def remembered(run: ExportRun, key: tuple[str, ...], read: Callable[[], T]) -> T:
    """A CRM read of a bulk export's lead made once: its second run (after the batch) gets what the first read."""
    known = run.prepared.reads if run.prepared is not None else {}
    value = cast(T, known[key]) if key in known else read()
    run.reads[key] = value
    return value


def company_persons(run: ExportRun, company_id: str) -> list[CrmRecord]:
    """The company's CRM persons, to match the lead's unlinked contacts among. A deferring run where the connector
    reads many companies' persons at once gets none: the window reads them with its other leads' and runs it again
    (`DeferredWrites.reads_wanted`)."""
    key = (PERSONS_READ, company_id)
    if _read_by_window(run, key) and isinstance(run.connector, SupportsPersonsOfMany):
        run.reads_wanted.append(key)
        return []
    return remembered(run, key, lambda: run.connector.list_persons(company_id))


def company_record(run: ExportRun, company_id: str) -> CrmRecord:
    """The CRM company as it is now. A deferring run where the connector reads many records at once stops here
    (nothing written): the window reads the company with its other leads' and runs it again."""
    key = (COMPANY_READ, company_id)
    if _read_by_window(run, key) and isinstance(run.connector, SupportsReadMany):
        run.reads_wanted.append(key)
        raise run.deferral(company_id)
    record = remembered(run, key, lambda: run.connector.get(CrmObject.COMPANY, company_id))
    if record is None:  # the window's read did not find it
        raise CrmNotFound(f"The CRM has no company {company_id!r}.", details={"crm_id": company_id})
    return record


COMPANY_READ, PERSONS_READ = "company", "persons"  # what `DeferredWrites.reads_wanted` names


def _read_by_window(run: ExportRun, key: tuple[str, str]) -> bool:
    return _deferring(run) and (run.prepared is None or key not in run.prepared.reads)


def write_update(run: ExportRun, update: RecordUpdate) -> CrmRecord | None:
    """Change an existing record: the CRM's answer, or None when the write is held back for a batch."""
    return _write(run, update, lambda: run.connector.update(update.obj, update.crm_id, update.fields))


def write_create(run: ExportRun, record: NewRecord) -> CrmRecord | None:
    """Create a record under an existing parent: the CRM's answer, or None when it is held back for a batch."""
    return _write(run, record, lambda: run.connector.create(record.obj, record.fields, parent_id=record.parent_id))


def _write(run: ExportRun, record: RecordWrite, send: Callable[[], CrmRecord]) -> CrmRecord | None:
    """What the window's batch wrote of `record`; else held back (None) in a deferring run; else sent now."""
    if (answer := _from_batch(run, record)) is not None:
        return answer
    if _deferring(run):
        run.deferred.append(record)
        return None
    return send()


def _deferring(run: ExportRun) -> bool:
    return run.defer_writes and isinstance(run.connector, SupportsWriteBatches)


def _from_batch(run: ExportRun, record: RecordWrite) -> CrmRecord | None:
    written = batch_written(run, [record])
    return written[record.ref] if written else None


def batch_written(
    run: ExportRun, records: Sequence[RecordWrite], *, in_part: bool = False
) -> dict[str, CrmRecord] | None:
    """What a bulk export's batch wrote of `records`, by `ref`; None when the batch did not take them (the export
    writes them itself). Raises the batch's refusal when it wrote none of them, or not all of them unless `in_part`
    (the caller then meets the refusal at the first record missing, as a single export would). The fields the batch
    left out of them are reported by the next `write_skips`."""
    prepared = run.prepared
    if prepared is None:
        return None
    taken = [r for r in records if r.ref in (prepared.written or {})]
    if prepared.error is not None and (not taken or (len(taken) < len(records) and not in_part)):
        raise prepared.error
    if not taken:
        return None
    run.batch_skipped = [name for name in prepared.skipped if any(name in r.fields for r in taken)]
    return {r.ref: (prepared.written or {})[r.ref] for r in taken}


def crm_calls(connector: Connector) -> int:
    """The CRM calls the connector has made so far."""
    return connector.request_count()


def write_skips(run: ExportRun) -> list[str]:
    """The fields the CRM ignored in the last write (each reported once): the connector's, or the batch's."""
    skipped = run.connector.take_skipped_fields()  # cleared by the call: each skip is reported once
    skipped += [name for name in run.batch_skipped if name not in skipped]
    run.batch_skipped = []
    return skipped


def skip_warnings(skipped: Iterable[str]) -> list[str]:
    return [f"the CRM ignored {name!r}: not available in this account" for name in skipped]
