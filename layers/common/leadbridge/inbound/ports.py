"""What inbound sync needs from the outside, as ports: the kernel's services (links, record states, change feed, sync
log) and the worker's (runs, checkpoints, connections, settings, connector, bus, queue, webhook and outbound hooks).

Adapters live in `leadbridge.store` and `leadbridge.crm`; `leadbridge.runtime` wires them to these ports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from leadbridge.crm.base import Connector
from leadbridge.models.connection import Connection
from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import SyncLogEntry, Trigger
from leadbridge.store.held_children import HeldChild
from leadbridge.store.links import RecordLink
from leadbridge.store.ports import ChangeFeed, CheckpointStore, DelayedQueue, EventPublisher, RecordStates, RunStore

# --- the inbound kernel ----------------------------------------------------------------------------------------------


class Links(Protocol):
    def by_crm_id(self, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> RecordLink | None: ...

    def by_crm_ids(self, tenant: str, crm: str, obj: CrmObject, crm_ids: Sequence[str]) -> dict[str, RecordLink]: ...

    def delete(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> None: ...

    def get(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> RecordLink | None: ...

    def save_many(self, links: Sequence[RecordLink]) -> None: ...


class LogWriter(Protocol):
    def write(self, entry: SyncLogEntry) -> None: ...

    def write_many(self, entries: Sequence[SyncLogEntry]) -> None: ...


class HeldChildren(Protocol):
    """Children (person, deal, activity) the inbound filter held back while their company is not in the app."""

    def hold_many(self, children: Sequence[HeldChild]) -> None: ...

    def all(self, tenant: str, crm: str) -> Iterator[HeldChild]: ...

    def release(self, child: HeldChild) -> None: ...


class ChangeEvents(StrEnum):
    """What the bus carries of the changes the feed holds (template parameter `ChangeEvents`,
    `inbound.change_relay`); the change feed (`GET /changes`) holds every change either way. docs/events.md."""

    RECORD = "record"  # an event per change (`CompanyChanged`, ...) with the change as its detail
    SUMMARY = "summary"  # a `ChangesReported` event per report with the changes' ids: apps read them from the feed


@dataclass(frozen=True)
class InboundServices:
    links: Links
    states: RecordStates
    feed: ChangeFeed  # also the outbox of the app's bus (`inbound.change_relay`)
    log: LogWriter
    held: HeldChildren | None = None  # None: held-back children are not remembered (they come with their next change)


# --- the scheduled-sync worker ---------------------------------------------------------------------------------------


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
    # (connection, its connector, the run's trigger): repairs are logged under the run's trigger
    check_webhook: Callable[[Connection, Connector, Trigger], Any] | None = None
    outbound: OutboundRetry | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
