"""The ports lead lifecycle events work through: pending outbound items (events waiting for the CRM), the outcomes of
events already applied (replays), and the services bundle (`LifecycleServices`) the composition root hands over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from leadbridge.export import ExportServices
from leadbridge.store.outbound import PendingOutbound


class Outbound(Protocol):
    def add(self, item: PendingOutbound) -> None: ...

    def save(self, item: PendingOutbound) -> None: ...

    def remove(self, item: PendingOutbound) -> None: ...

    def pending(self, tenant: str, crm: str, *, limit: int | None = None) -> list[PendingOutbound]: ...


class Processed(Protocol):
    def get(self, tenant: str, crm: str, lead_id: str, event_id: str) -> str | None: ...

    def remember(self, tenant: str, crm: str, lead_id: str, event_id: str, result_json: str) -> str: ...


@dataclass
class LifecycleServices:
    export: ExportServices
    outbound: Outbound
    processed: Processed
