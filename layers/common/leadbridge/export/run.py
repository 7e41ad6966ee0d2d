"""One export's run record: what it has done so far (its result and log entries are made from it), the CRM calls it
used, and the fields the CRM ignored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadbridge.crm.base import Connector
from leadbridge.crm.together import NewRecord
from leadbridge.errors import CrmError
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
class DeferredCreate:
    """Bulk export: a lead's new records held back, to be created with other leads' in one request
    (`SupportsCreateTogether.create_batches_together`); then its export runs again with `created` (or `error`), and
    the match it had decided (no second search)."""

    records: list[NewRecord]
    match: MatchResult | None
    match_log: dict[str, Any] | None
    created: dict[str, CrmRecord] | None = None
    error: CrmError | None = None


class CreateDeferred(Exception):
    """Raised by an export run with `defer_create` where it would create: the records to create, nothing written."""

    def __init__(self, deferred: DeferredCreate) -> None:
        super().__init__("create deferred to a batch")
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
    defer_create: bool = False  # bulk export: hold the new records back (`CreateDeferred`) instead of creating them
    prepared: DeferredCreate | None = None  # bulk export: the held-back records as created (or refused) in a batch
    candidates: list[CrmRecord] | None = None  # bulk export: the CRM's companies for this lead, searched already

    def calls(self) -> int:
        return crm_calls(self.connector) - self.calls_before


def crm_calls(connector: Connector) -> int:
    """The CRM calls the connector has made so far."""
    return connector.request_count()


def connector_skips(connector: Connector) -> list[str]:
    """A warning for each field the CRM ignored since the last ask (each is reported once)."""
    skipped = connector.take_skipped_fields()  # cleared by the call: each skip is reported once
    return [f"the CRM ignored {name!r}: not available in this account" for name in skipped]
