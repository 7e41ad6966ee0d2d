"""Single-lead export (functions/export, and the lead events and activities built on it): the export services, per
container and per call, and the CRM field metadata cache the exports share; and the bulk export's services
(`POST /exports` and BulkExportFunction)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from leadbridge.composition.cache import cached
from leadbridge.composition.connect import token_vault
from leadbridge.composition.settings import settings_services
from leadbridge.composition.stores import connection_store, lead_leases, link_store, run_store, sync_log, table
from leadbridge.config import settings as runtime_settings

if TYPE_CHECKING:
    from leadbridge.crm.base import Connector
    from leadbridge.crm.metadata_cache import MetadataCache
    from leadbridge.export import ExportServices
    from leadbridge.export.bulk import BulkExportServices
    from leadbridge.models.connection import Connection
    from leadbridge.store.connections import ConnectionStore
    from leadbridge.store.ports import WrittenRecordStates

T = TypeVar("T")


@cached
def crm_metadata_cache() -> MetadataCache:
    """CRM field metadata for exports, per container with a short TTL (the settings screen reads it live)."""
    from leadbridge.crm.metadata_cache import MetadataCache

    return MetadataCache()


def _with_metadata_cache(connector: Connector) -> Connector:
    from leadbridge.crm.base import provider
    from leadbridge.crm.metadata_cache import share_metadata

    # The CRM's provider says whether its connectors share field metadata across exports, and for how long.
    return share_metadata(connector, provider(connector.crm).metadata_cache, crm_metadata_cache())


@cached
def export_services() -> ExportServices:
    """The container's export services; `for_call()` gives the copy one export or lead event works with."""
    return _export_services(per_call=False)


def _export_services(*, per_call: bool) -> ExportServices:
    from leadbridge.crm.base import provider
    from leadbridge.export import ExportServices, only_connected_crm
    from leadbridge.models.settings import SettingsDocument
    from leadbridge.settings import connector_for, get_settings, object_names

    # Per call, the connection and the settings are read once, however many steps ask (the tenant's CRM, the
    # connector, the export): a request must not see another request's reads, so never per container.
    def read_settings(tenant: str, crm: str) -> SettingsDocument:
        return get_settings(settings_services(), tenant, crm)

    connections = _ConnectionsReadOnce(connection_store()) if per_call else connection_store()
    settings = _read_once(read_settings) if per_call else read_settings

    def connector(tenant: str, crm: str) -> Connector:
        names = object_names(settings(tenant, crm))
        return _with_metadata_cache(connector_for(connections, token_vault(), provider, tenant, crm, names))

    # Per call one connector: a bulk export's slice writes its leads with one (its describes and token read once).
    return ExportServices(
        links=link_store(),
        sync_log=sync_log(),
        settings=settings,
        connector=_read_once(connector) if per_call else connector,
        active_crm=lambda tenant: only_connected_crm(connections.list(tenant), tenant),
        leases=lead_leases(),
        states=written_record_states(),
        for_call=None if per_call else lambda: _export_services(per_call=True),
    )


@cached
def bulk_export_services() -> BulkExportServices:
    """`POST /exports` and BulkExportFunction: the export services, the run store, the leads of each run and the
    export queue (EXPORT_QUEUE_URL)."""
    from leadbridge.export.bulk import BulkExportServices
    from leadbridge.store.bulk_exports import DynamoBulkExportLeads
    from leadbridge.store.runs import SqsDelayedQueue

    return BulkExportServices(
        export=export_services(),
        runs=run_store(),
        leads=DynamoBulkExportLeads(table()),
        queue=SqsDelayedQueue(runtime_settings().export_queue_url),
    )


@cached
def written_record_states() -> WrittenRecordStates:
    """Where exports and lead events remember what they wrote (the record states the inbound kernel reads)."""
    from leadbridge.store.records import DynamoRecordStates

    return DynamoRecordStates(table())


def _read_once(read: Callable[[str, str], T]) -> Callable[[str, str], T]:
    memo: dict[tuple[str, str], T] = {}

    def once(tenant: str, crm: str) -> T:
        if (tenant, crm) not in memo:
            memo[(tenant, crm)] = read(tenant, crm)
        return memo[(tenant, crm)]

    return once


class _ConnectionsReadOnce:
    """The tenant's connections as first read in this call: `list` answers later `get`s of the same tenant."""

    def __init__(self, store: ConnectionStore) -> None:
        self._store = store
        self._listed: dict[str, list[Connection]] = {}
        self._got: dict[tuple[str, str], Connection | None] = {}

    def list(self, tenant_id: str) -> list[Connection]:
        if tenant_id not in self._listed:
            self._listed[tenant_id] = self._store.list(tenant_id)
            for connection in self._listed[tenant_id]:
                self._got[(tenant_id, connection.crm)] = connection
        return self._listed[tenant_id]

    def get(self, tenant_id: str, crm: str) -> Connection | None:
        if (tenant_id, crm) not in self._got:
            self._got[(tenant_id, crm)] = self._store.get(tenant_id, crm)
        return self._got[(tenant_id, crm)]
