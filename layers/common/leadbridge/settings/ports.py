"""The ports the settings work through: the settings store, the live CRM metadata, the scheduler that takes the next
run time, the sync log, the connections and the vault that lead to a connector, and the services bundle
(`SettingsServices`) every settings function takes first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from leadbridge.crm.base import TokenSource
from leadbridge.errors import NotFound
from leadbridge.mapping import MetadataSource
from leadbridge.models.connection import Connection
from leadbridge.models.synclog import SyncLogEntry
from leadbridge.store.ports import SettingsStore


class SyncLogWriter(Protocol):
    def write(self, entry: SyncLogEntry) -> None: ...


class Scheduler(Protocol):
    """Where the next run time goes for the dispatcher (the connections store)."""

    def set_next_run(self, tenant_id: str, crm: str, next_run_at: datetime | None) -> None: ...


@dataclass
class SettingsServices:
    store: SettingsStore
    metadata: Callable[[str, str], MetadataSource]  # (tenant, crm) → the connector; raises ConnectionMissing
    scheduler: Scheduler
    supported_crms: Callable[[], list[str]]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sync_log: SyncLogWriter | None = None  # every saved change is also a `settings_changed` sync log entry
    # (tenant, crm, objects) → the connector for a document's object choice (Salesforce: Account or Lead); when
    # None, `metadata` serves every document.
    metadata_for: Callable[[str, str, Mapping[str, str]], MetadataSource] | None = None


class Connections(Protocol):
    def get(self, tenant_id: str, crm: str) -> Connection | None: ...


class Vault(Protocol):
    def tokens(self, connection: Connection) -> TokenSource: ...


def require_supported(svc: SettingsServices, crm: str) -> None:
    if crm not in svc.supported_crms():
        raise NotFound(
            f"CRM {crm!r} is not supported; supported: {', '.join(svc.supported_crms())}", details={"crm": crm}
        )
