"""One lead event being applied: its context (`EventContext`: the tenant, CRM, settings, the one connector of the
event) with the builders of its sync log entries and results, and the small helpers the deal writes and the
deferred-outbound path share (CRM call counts, an error's cause, writing a failure's log entry without hiding it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadbridge.crm.base import Connector
from leadbridge.export import ExportServices
from leadbridge.lifecycle.contracts import LeadEvent, LeadEventOutcome, LeadEventResult
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import Lead
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import Action, Direction, Outcome, SkippedField, SyncLogEntry, Trigger

log = logging.getLogger(__name__)


@dataclass
class EventContext:
    svc: ExportServices
    tenant: str
    crm: str
    event: LeadEvent
    lead: Lead
    occurred_at: datetime
    settings: SettingsDocument
    connector: Callable[[], Connector]
    correlation_id: str | None
    attempt: int

    def result(self, outcome: LeadEventOutcome, **kw: Any) -> LeadEventResult:
        return LeadEventResult(
            outcome=outcome, event_type=self.event.type, event_id=self.event.event_id, lead_id=self.lead.id,
            crm=self.crm, **kw,
        )  # fmt: skip

    def entry(self, **kw: Any) -> SyncLogEntry:
        match = {
            "event": self.event.type.value,
            "event_id": self.event.event_id,
            "occurred_at": self.occurred_at.isoformat(),
            **({"attempt": self.attempt} if self.attempt else {}),
            **kw.pop("match", {}),
        }
        return SyncLogEntry(
            tenant=self.tenant,
            crm=self.crm,
            direction=Direction.TO_CRM,
            trigger=Trigger.LEAD_EVENT,
            app_id=self.lead.id,
            correlation_id=self.correlation_id,
            match=match,
            **kw,
        )

    def skip(self, reason: str, obj: CrmObject | None = CrmObject.DEAL, crm_id: str | None = None) -> LeadEventResult:
        entry = self.entry(
            action=Action.SKIP,
            outcome=Outcome.SKIPPED,
            object=obj,
            crm_id=crm_id,
            fields_skipped=[SkippedField(field="*", reason=reason)],
        )
        self.svc.sync_log.write(entry)
        return self.result(LeadEventOutcome.SKIPPED, reason=reason, log_entry_id=entry.id)


def crm_calls(connectors: list[Connector]) -> int:
    return sum(connector.request_count() for connector in connectors)


def write_log_quietly(svc: ExportServices, entry: SyncLogEntry) -> None:
    try:
        svc.sync_log.write(entry)
    except Exception:  # the CRM error is what the caller must see; a log outage must not hide it
        log.warning("could not write the sync log entry of a failed lead event", exc_info=True)
