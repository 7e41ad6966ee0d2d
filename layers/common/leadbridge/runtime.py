"""The composition root: cached factories that build the real adapters from `leadbridge.config.settings()`.

Handlers call these (`runtime.sync_log()`), domain code receives what they return as arguments. Each factory is
built once per Lambda container. To add one, decorate a zero-argument function with `@cached`; `reset()` (used by
tests whose environment changes between cases) then forgets it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import _lru_cache_wrapper, lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from leadbridge.config import clear_settings_caches, settings, sync_worker_settings
from leadbridge.store.log import DynamoSyncLog
from leadbridge.store.ports import SyncLog
from leadbridge.store.table import Table

if TYPE_CHECKING:
    from leadbridge.connect import ConnectionServices
    from leadbridge.errors import NeedsReauth
    from leadbridge.export import ExportResult, ExportServices
    from leadbridge.inbound.jobs import WorkerConfig
    from leadbridge.inbound.ports import InboundServices, WorkerServices
    from leadbridge.inbound.runs import RunServices
    from leadbridge.inbound.webhook_intake import WebhookSecrets
    from leadbridge.inbound.webhook_processing import WebhookProcessingServices
    from leadbridge.lifecycle.events import LifecycleServices
    from leadbridge.models.connection import Connection
    from leadbridge.settings.service import SettingsServices
    from leadbridge.store.checkpoints import DynamoCheckpointStore
    from leadbridge.store.connections import ConnectionStore
    from leadbridge.store.due import DueConnectionIndex
    from leadbridge.store.leases import DynamoLeadLeases
    from leadbridge.store.links import LinkStore
    from leadbridge.store.outbound import OutboundStore, ProcessedEvents
    from leadbridge.store.ports import (
        ChangeFeed,
        EventPublisher,
        MessageQueue,
        RecordStates,
        SettingsStore,
        WebhookEventClaims,
    )
    from leadbridge.store.runs import DynamoRunStore, SqsDelayedQueue
    from leadbridge.store.vault import TokenVault

T = TypeVar("T")
_factories: list[_lru_cache_wrapper[Any]] = []


def cached(factory: Callable[[], T]) -> _lru_cache_wrapper[T]:
    wrapped = lru_cache(maxsize=1)(factory)
    _factories.append(wrapped)
    return wrapped


def reset() -> None:
    """Forget the settings and every adapter built so far."""
    clear_settings_caches()
    for factory in _factories:
        factory.cache_clear()


@cached
def table() -> Table:
    return Table(settings().table_name)


@cached
def sync_log() -> SyncLog:
    return DynamoSyncLog(table(), ttl_days=settings().sync_log_ttl_days)


# --- webhook intake (functions/webhook/intake.py) ---------------------------------------------------------------------
# Imported inside the factories so that functions which never receive webhooks do not load these modules.


@cached
def webhook_queue() -> MessageQueue:
    from leadbridge.store.queue import SqsQueue

    return SqsQueue(settings().webhook_queue_url)


@cached
def webhook_secrets() -> WebhookSecrets:
    """Per-container cache of webhook signing secrets (Powertools parameters, short max_age)."""
    from leadbridge.store.webhook_secrets import CachedWebhookSecrets

    return CachedWebhookSecrets()


# --- connections (issue 4): functions/oauth, and the token vault every CRM-calling function uses --------------------


@cached
def connection_store() -> ConnectionStore:
    from leadbridge.store.connections import ConnectionStore

    return ConnectionStore(table())


@cached
def event_publisher() -> EventPublisher:
    from leadbridge.store.events import EventBridgePublisher

    return EventBridgePublisher(settings().event_bus_name)


@cached
def token_vault() -> TokenVault:
    """The process's vault: one per container, so concurrent callers share its locks and cached grants."""
    from leadbridge.crm.base import provider
    from leadbridge.store.vault import DynamoDBLeaseStore, SecretsManagerStore, TokenVault

    return TokenVault(
        SecretsManagerStore(kms_key_id=settings().secrets_kms_key_id),
        DynamoDBLeaseStore(table()),
        lambda crm: provider(crm).oauth(),
        on_needs_reauth=_connection_needs_reauth,
    )


def _connection_needs_reauth(connection: Connection, error: NeedsReauth) -> None:
    from leadbridge.connect import mark_needs_reauth
    from leadbridge.observability import logger

    mark_needs_reauth(connection_services(), connection, error, correlation_id=logger.get_correlation_id())


@cached
def connection_services() -> ConnectionServices:
    from leadbridge.connect import ConnectionServices
    from leadbridge.crm.base import provider, supported

    config = settings()
    return ConnectionServices(
        store=connection_store(),
        vault=token_vault(),
        publisher=event_publisher(),
        sync_log=sync_log(),
        providers=provider,
        supported_crms=supported,
        public_api_url=config.public_api_url,
        secret_prefix=config.secret_prefix,
        allowed_return_urls=config.return_url_allow_list,
    )


# --- integration settings (issue 5): functions/settings ---------------------------------------------------------------


@cached
def settings_store() -> SettingsStore:
    from leadbridge.store.settings import DynamoSettingsStore

    return DynamoSettingsStore(table())


@cached
def settings_services() -> SettingsServices:
    from leadbridge.crm.base import provider, supported
    from leadbridge.settings.service import SettingsServices, connector_for, object_names

    def stored_objects(tenant: str, crm: str) -> dict[str, str] | None:
        doc = settings_store().current(tenant, crm)
        return object_names(doc) if doc else None

    return SettingsServices(
        store=settings_store(),
        metadata=lambda tenant, crm: connector_for(
            connection_store(), token_vault(), provider, tenant, crm, stored_objects(tenant, crm)
        ),
        metadata_for=lambda tenant, crm, objects: connector_for(
            connection_store(), token_vault(), provider, tenant, crm, objects
        ),
        scheduler=connection_store(),
        supported_crms=supported,
        sync_log=sync_log(),
    )


# --- scheduled sync (functions/scheduled_sync) ------------------------------------------------------------------------


@cached
def sync_queue() -> MessageQueue:
    from leadbridge.store.queue import SqsQueue

    return SqsQueue(settings().sync_queue_url)


@cached
def due_index() -> DueConnectionIndex:
    from leadbridge.store.due import DueConnectionIndex

    return DueConnectionIndex(table())


# --- single-lead export (issue 6): functions/export -------------------------------------------------------------------


@cached
def link_store() -> LinkStore:
    from leadbridge.store.links import LinkStore

    return LinkStore(table())


if TYPE_CHECKING:
    from leadbridge.crm.base import Connector
    from leadbridge.crm.metadata_cache import MetadataCache


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
    from leadbridge.settings.service import connector_for, get_settings, object_names

    # Per call, the connection and the settings are read once, however many steps ask (the tenant's CRM, the
    # connector, the export): a request must not see another request's reads, so never per container.
    def read_settings(tenant: str, crm: str) -> SettingsDocument:
        return get_settings(settings_services(), tenant, crm)

    connections = _ConnectionsReadOnce(connection_store()) if per_call else connection_store()
    settings = _read_once(read_settings) if per_call else read_settings
    return ExportServices(
        links=link_store(),
        sync_log=sync_log(),
        settings=settings,
        connector=lambda tenant, crm: _with_metadata_cache(
            connector_for(connections, token_vault(), provider, tenant, crm, object_names(settings(tenant, crm)))
        ),
        active_crm=lambda tenant: only_connected_crm(connections.list(tenant), tenant),
        leases=lead_leases(),
        for_call=None if per_call else lambda: _export_services(per_call=True),
    )


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


@cached
def lead_leases() -> DynamoLeadLeases:
    """Per-lead leases: one export or lead event of a lead at a time."""
    from leadbridge.store.leases import DynamoLeadLeases

    return DynamoLeadLeases(table())


# --- lead lifecycle events (issue 6): functions/export (route and EventBridge consumer), scheduled-sync retries -------


@cached
def outbound_store() -> OutboundStore:
    from leadbridge.store.outbound import OutboundStore

    return OutboundStore(table())


@cached
def processed_events() -> ProcessedEvents:
    from leadbridge.store.outbound import ProcessedEvents

    return ProcessedEvents(table())


@cached
def lifecycle_services() -> LifecycleServices:
    """What `handle_event` and `retry_pending_outbound` (the scheduled worker) take."""
    from leadbridge.lifecycle.events import LifecycleServices

    return LifecycleServices(export=export_services(), outbound=outbound_store(), processed=processed_events())


@dataclass(frozen=True)
class IdempotentExport:
    run: Callable[..., ExportResult]  # call as run(request=IdempotentExportRequest(...))
    config: Any  # the IdempotencyConfig, to register the Lambda context (in-progress expiry)


@cached
def idempotent_export() -> IdempotentExport:
    """`export_lead` behind Powertools idempotency on the one table (own persistence layer: one per config)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

    from leadbridge import export as domain
    from leadbridge.observability import logger

    persistence = DynamoDBPersistenceLayer(
        table_name=settings().table_name,
        key_attr="PK",
        sort_key_attr="SK",
        static_pk_value="IDEMPOTENCY#export",
        expiry_attr="expires_at",
        boto3_client=table().client,
    )
    config = IdempotencyConfig(
        # Keyed by tenant, CRM, lead and the client's key; a different body under the same key is refused.
        event_key_jmespath="[tenant, crm, lead_id, key]",
        payload_validation_jmespath="body_hash",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
    )

    def export(request: domain.IdempotentExportRequest) -> domain.ExportResult:
        return domain.export_lead(
            export_services(),
            request.tenant,
            request.body,
            crm=request.crm,
            correlation_id=logger.get_correlation_id(),
        )

    run: Callable[..., domain.ExportResult] = idempotent_function(
        data_keyword_argument="request",
        config=config,
        persistence_store=persistence,
        output_serializer=PydanticSerializer(model=domain.ExportResult),
    )(export)
    return IdempotentExport(run, config)


@cached
def change_feed() -> ChangeFeed:
    from leadbridge.store.changes import DynamoChangeFeed

    return DynamoChangeFeed(table(), ttl_days=settings().change_feed_ttl_days)


@cached
def record_states() -> RecordStates:
    from leadbridge.store.records import DynamoRecordStates

    return DynamoRecordStates(table())


@cached
def inbound_services() -> InboundServices:
    from leadbridge.inbound.ports import InboundServices

    return InboundServices(
        links=link_store(),
        states=record_states(),
        feed=change_feed(),
        publisher=event_publisher(),
        log=sync_log(),
    )


# --- webhook processing (issue 8): functions/webhook/processor.py ----------------------------------------------------


@cached
def webhook_event_claims() -> WebhookEventClaims:
    from leadbridge.store.webhook_events import DynamoWebhookEventClaims

    return DynamoWebhookEventClaims(table())


def webhook_processing_services() -> WebhookProcessingServices:
    """Fresh for each SQS batch (not cached): connectors and settings are built once per tenant within the batch,
    so a batch of one tenant's events reads the CRM's field metadata once, and the next batch sees new settings."""
    from leadbridge.crm.base import Connector, provider
    from leadbridge.inbound.webhook_processing import WebhookProcessingServices
    from leadbridge.models.settings import SettingsDocument
    from leadbridge.settings.service import get_settings, object_names

    connectors: dict[tuple[str, str, str, str], Connector] = {}
    documents: dict[tuple[str, str], SettingsDocument] = {}

    def connector(connection: Connection) -> Connector:
        key = (connection.tenant_id, connection.crm, connection.account_id, connection.api_base)
        if key not in connectors:
            objects = object_names(settings_of(connection.tenant_id, connection.crm))
            connectors[key] = provider(connection.crm).connector(
                connection.context(), token_vault().tokens(connection), objects
            )
        return connectors[key]

    def settings_of(tenant: str, crm: str) -> SettingsDocument:
        if (tenant, crm) not in documents:
            documents[(tenant, crm)] = get_settings(settings_services(), tenant, crm)
        return documents[(tenant, crm)]

    return WebhookProcessingServices(
        inbound=inbound_services(),
        connections=connection_store(),
        claims=webhook_event_claims(),
        settings=settings_of,
        connector=connector,
    )


# --- scheduled sync worker, runs and the change feed API (issue 7): functions/scheduled_sync/{worker,api}.py ---------


@cached
def run_store() -> DynamoRunStore:
    from leadbridge.store.runs import DynamoRunStore

    return DynamoRunStore(table())


@cached
def checkpoint_store() -> DynamoCheckpointStore:
    from leadbridge.store.checkpoints import DynamoCheckpointStore

    return DynamoCheckpointStore(table())


@cached
def sync_job_queue() -> SqsDelayedQueue:
    """The sync queue for single jobs with a delivery delay (manual runs, continuations after a CRM throttle)."""
    from leadbridge.store.runs import SqsDelayedQueue

    return SqsDelayedQueue(settings().sync_queue_url)


def worker_config() -> WorkerConfig:
    """The worker's tuning from its own variables (`leadbridge.config.SyncWorkerSettings`)."""
    from leadbridge.inbound.job_delivery import worker_config

    return worker_config(sync_worker_settings())


def worker_services() -> WorkerServices:
    """For one sync job: settings are read fresh, the connector is built for the job's connection."""
    import importlib

    from leadbridge.connect import ensure_webhook
    from leadbridge.crm.base import provider
    from leadbridge.inbound.ports import WorkerServices
    from leadbridge.lifecycle.events import retry_pending_outbound
    from leadbridge.settings.service import get_settings, object_names

    def outbound(tenant: str, crm: str, now: Any, budget: int) -> object:
        return retry_pending_outbound(lifecycle_services(), tenant, crm, now=now, budget=budget)

    # `webhook_health.check_registration(services, connection)` lists the CRM's webhooks and repairs ours; loaded by
    # name so the worker also runs where that module is absent.
    try:
        health = importlib.import_module("leadbridge.connect.webhook_health")
    except ImportError:
        health = None
    check = getattr(health, "check_registration", None)

    return WorkerServices(
        runs=run_store(),
        checkpoints=checkpoint_store(),
        inbound=inbound_services(),
        connections=connection_store(),
        settings=lambda tenant, crm: get_settings(settings_services(), tenant, crm),
        connector=lambda c: provider(c.crm).connector(
            c.context(), token_vault().tokens(c), object_names(get_settings(settings_services(), c.tenant_id, c.crm))
        ),
        publisher=event_publisher(),
        queue=sync_job_queue(),
        ensure_webhook=lambda c: ensure_webhook(connection_services(), c),
        check_webhook=(lambda c, _connector: check(connection_services(), c)) if check else None,
        outbound=outbound,
    )


@cached
def run_services() -> RunServices:
    from leadbridge.inbound.runs import RunServices

    return RunServices(runs=run_store(), connections=connection_store(), queue=sync_job_queue())


# --- app activities → CRM activities (issue 9): functions/export -----------------------------------------------------

if TYPE_CHECKING:
    from datetime import datetime

    from leadbridge.lifecycle.activities import ActivityServices


@cached
def activity_services() -> ActivityServices:
    from leadbridge.lifecycle.activities import ActivityServices

    def connected_at(tenant: str, crm: str) -> datetime | None:
        connection = connection_store().get(tenant, crm)
        return connection.connected_at if connection else None

    return ActivityServices(export=export_services(), connected_at=connected_at)
