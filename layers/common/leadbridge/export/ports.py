"""The ports export works through: record links, the lead's lease, and the services bundle (`ExportServices`) the
composition root hands to export, match, sync status and the lead events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from leadbridge.crm.base import Connector
from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.links import RecordLink
from leadbridge.store.ports import SyncLog, WrittenRecordStates


class Links(Protocol):
    def get(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> RecordLink | None: ...

    def get_many(self, tenant: str, crm: str, obj: CrmObject, app_ids: Sequence[str]) -> dict[str, RecordLink]: ...

    def persons_of(self, tenant: str, crm: str, lead_id: str) -> list[RecordLink]: ...

    def save(self, link: RecordLink) -> None: ...

    def save_many(self, links: Sequence[RecordLink]) -> None: ...


class LeadLeases(Protocol):
    """A short exclusive lease per (tenant, CRM, lead), so two concurrent exports cannot both create the company."""

    def acquire(self, tenant: str, crm: str, lead_id: str, owner: str, seconds: float) -> float | None:
        """None when `owner` now holds the lease; else the seconds left on the current holder's lease."""
        ...

    def release(self, tenant: str, crm: str, lead_id: str, owner: str) -> None: ...


@dataclass
class ExportServices:
    links: Links
    sync_log: SyncLog
    settings: Callable[[str, str], SettingsDocument]  # (tenant, crm) → the current settings (or the defaults)
    connector: Callable[[str, str], Connector]  # (tenant, crm) → live connector; ConnectionMissing / NeedsReauth
    active_crm: Callable[[str], str]  # tenant → the CRM of its connection; ConnectionMissing when none
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    leases: LeadLeases | None = None  # None: no cross-request lock (single-threaded callers, unit tests)
    # What each write leaves in the CRM, as the app sees it, for the inbound kernel (no echo of our own writes);
    # None: not remembered (unit tests).
    states: WrittenRecordStates | None = None
    # A copy for one export or lead event that reads the settings and the connection once however often its steps
    # ask (the composition root's); None: use these services as they are.
    for_call: Callable[[], ExportServices] | None = None


def one_call(svc: ExportServices) -> ExportServices:
    """The services one export, match or lead event works with (see `ExportServices.for_call`)."""
    return svc.for_call() if svc.for_call is not None else svc
