"""The adapters on AWS: the one DynamoDB table and the stores on it, the SQS queues, the EventBridge publisher, and
the webhook signing secret cache. Each is built once per container from `leadbridge.config.settings()`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadbridge.composition.cache import cached
from leadbridge.config import settings

# Adapters are imported inside their factories: importing a store pulls in botocore and the models it stores, which a
# function that never uses it should not pay for at cold start (tests/unit/test_cold_imports.py).
if TYPE_CHECKING:
    from leadbridge.inbound.webhook_intake import WebhookSecrets
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
        SyncLog,
        WebhookEventClaims,
    )
    from leadbridge.store.runs import DynamoRunStore, SqsDelayedQueue
    from leadbridge.store.table import Table
    from leadbridge.store.webhook_keys import RememberedWebhookKeys


@cached
def table() -> Table:
    from leadbridge.store.table import Table

    return Table(settings().table_name)


@cached
def sync_log() -> SyncLog:
    from leadbridge.store.log import DynamoSyncLog

    return DynamoSyncLog(table(), ttl_days=settings().sync_log_ttl_days)


@cached
def connection_store() -> ConnectionStore:
    from leadbridge.store.connections import ConnectionStore

    return ConnectionStore(table())


@cached
def settings_store() -> SettingsStore:
    from leadbridge.store.settings import DynamoSettingsStore

    return DynamoSettingsStore(table())


@cached
def link_store() -> LinkStore:
    from leadbridge.store.links import LinkStore

    return LinkStore(table())


@cached
def lead_leases() -> DynamoLeadLeases:
    """Per-lead leases: one export or lead event of a lead at a time."""
    from leadbridge.store.leases import DynamoLeadLeases

    return DynamoLeadLeases(table())


@cached
def outbound_store() -> OutboundStore:
    from leadbridge.store.outbound import OutboundStore

    return OutboundStore(table())


@cached
def processed_events() -> ProcessedEvents:
    from leadbridge.store.outbound import ProcessedEvents

    return ProcessedEvents(table())


@cached
def change_feed() -> ChangeFeed:
    from leadbridge.store.changes import DynamoChangeFeed

    return DynamoChangeFeed(table(), ttl_days=settings().change_feed_ttl_days)


@cached
def record_states() -> RecordStates:
    from leadbridge.store.records import DynamoRecordStates

    return DynamoRecordStates(table())


@cached
def webhook_event_claims() -> WebhookEventClaims:
    from leadbridge.store.webhook_events import DynamoWebhookEventClaims

    return DynamoWebhookEventClaims(table())


@cached
def run_store() -> DynamoRunStore:
    from leadbridge.store.runs import DynamoRunStore

    return DynamoRunStore(table())


@cached
def checkpoint_store() -> DynamoCheckpointStore:
    from leadbridge.store.checkpoints import DynamoCheckpointStore

    return DynamoCheckpointStore(table())


@cached
def due_index() -> DueConnectionIndex:
    from leadbridge.store.due import DueConnectionIndex

    return DueConnectionIndex(table())


# --- messaging -------------------------------------------------------------------------------------------------------


@cached
def event_publisher() -> EventPublisher:
    from leadbridge.store.events import EventBridgePublisher

    return EventBridgePublisher(settings().event_bus_name)


@cached
def webhook_queue() -> MessageQueue:
    from leadbridge.store.queue import SqsQueue

    return SqsQueue(settings().webhook_queue_url)


@cached
def sync_queue() -> MessageQueue:
    from leadbridge.store.queue import SqsQueue

    return SqsQueue(settings().sync_queue_url)


@cached
def sync_job_queue() -> SqsDelayedQueue:
    """The sync queue for single jobs with a delivery delay (manual runs, continuations after a CRM throttle)."""
    from leadbridge.store.runs import SqsDelayedQueue

    return SqsDelayedQueue(settings().sync_queue_url)


@cached
def webhook_connections() -> RememberedWebhookKeys:
    """The webhook intake's connection lookup: each key's owner remembered, the connection read every time."""
    from leadbridge.store.webhook_keys import RememberedWebhookKeys

    return RememberedWebhookKeys(connection_store())


@cached
def webhook_secrets() -> WebhookSecrets:
    """Per-container cache of webhook signing secrets (Powertools parameters, short max_age)."""
    from leadbridge.store.webhook_secrets import CachedWebhookSecrets

    return CachedWebhookSecrets()
