"""CRM changes in to the app: the inbound kernel's services, webhook processing (functions/webhook/processor.py), the
sync worker's config and services and the sync runs API (functions/scheduled_sync)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leadbridge.composition.cache import cached
from leadbridge.composition.connect import connection_services, token_vault
from leadbridge.composition.lifecycle import lifecycle_services
from leadbridge.composition.settings import settings_services
from leadbridge.composition.stores import (
    change_feed,
    checkpoint_store,
    connection_store,
    event_publisher,
    link_store,
    record_states,
    run_store,
    sync_job_queue,
    sync_log,
    table,
    webhook_event_claims,
)
from leadbridge.config import settings as runtime_settings
from leadbridge.config import sync_worker_settings

if TYPE_CHECKING:
    from leadbridge.inbound.change_relay import ChangeRelayServices
    from leadbridge.inbound.jobs import WorkerConfig
    from leadbridge.inbound.ports import HeldChildren, InboundServices, WorkerServices
    from leadbridge.inbound.runs import RunServices
    from leadbridge.inbound.webhook_processing import WebhookProcessingServices
    from leadbridge.models.connection import Connection


@cached
def inbound_services() -> InboundServices:
    from leadbridge.inbound.ports import InboundServices

    return InboundServices(
        links=link_store(),
        states=record_states(),
        feed=change_feed(),
        log=sync_log(),
        held=held_children(),
    )


@cached
def change_relay_services() -> ChangeRelayServices:
    """ChangeEventsRelayFunction's: the bus, the sync log for what it could not deliver, and what to put on the bus
    (template parameter `ChangeEvents`)."""
    from leadbridge.inbound.change_relay import ChangeRelayServices
    from leadbridge.inbound.ports import ChangeEvents

    return ChangeRelayServices(
        publisher=event_publisher(), log=sync_log(), mode=ChangeEvents(runtime_settings().change_events),
        runs=run_store(),
    )


@cached
def held_children() -> HeldChildren:
    from leadbridge.store.held_children import DynamoHeldChildren

    return DynamoHeldChildren(table())


def webhook_processing_services() -> WebhookProcessingServices:
    """Fresh for each SQS batch (not cached): connectors and settings are built once per tenant within the batch,
    so a batch of one tenant's events reads the CRM's field metadata once, and the next batch sees new settings."""
    from leadbridge.crm.base import Connector, provider
    from leadbridge.inbound.webhook_processing import WebhookProcessingServices
    from leadbridge.models.settings import SettingsDocument
    from leadbridge.settings import get_settings, object_names

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


def worker_config() -> WorkerConfig:
    """The worker's tuning from its own variables (`leadbridge.config.SyncWorkerSettings`)."""
    from leadbridge.inbound.job_delivery import worker_config

    return worker_config(sync_worker_settings())


def worker_services() -> WorkerServices:
    """For one sync job: settings are read fresh, the connector is built for the job's connection."""
    from leadbridge.connect import ensure_webhook
    from leadbridge.connect.webhook_health import check_registration
    from leadbridge.crm.base import provider
    from leadbridge.inbound.ports import WorkerServices
    from leadbridge.lifecycle import retry_pending_outbound
    from leadbridge.settings import get_settings, object_names

    def outbound(tenant: str, crm: str, now: Any, budget: int) -> object:
        return retry_pending_outbound(lifecycle_services(), tenant, crm, now=now, budget=budget)

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
        # Lists the CRM's webhooks and repairs ours; its log entries carry the run's trigger.
        check_webhook=lambda c, _connector, trigger: check_registration(connection_services(), c, trigger=trigger),
        outbound=outbound,
    )


@cached
def run_services() -> RunServices:
    from leadbridge.inbound.runs import RunServices

    return RunServices(runs=run_store(), connections=connection_store(), queue=sync_job_queue())
