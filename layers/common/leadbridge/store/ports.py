"""The ports the domain writes to and reads from the store: the Protocols that the adapters in `leadbridge.store`
(DynamoDB, SQS, EventBridge, Secrets Manager) implement. Domain code and its fakes depend on these; only
`leadbridge.runtime` names an adapter.

The values that cross a port (a `RecordState`, a `Checkpoint`, an `AppEvent`...) live beside their adapter and are
imported here for type checking only, so importing a port loads no AWS client.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from leadbridge.models.changes import ChangeEvent, ChangeFeedPage
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import SyncRun, SyncRunPage
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import Outcome, SyncLogEntry, SyncLogPage

if TYPE_CHECKING:
    from leadbridge.store.checkpoints import Checkpoint, SyncMarks
    from leadbridge.store.events import AppEvent
    from leadbridge.store.queue import QueueMessage
    from leadbridge.store.records import RecordState, StateKey
    from leadbridge.store.settings import SettingsChange
    from leadbridge.store.webhook_events import Claim


# --- reporting: the sync log, the bus, the change feed ----------------------------------------------------------------


class SyncLog(Protocol):
    """The per-record sync log (`store.log.DynamoSyncLog`)."""

    def write(self, entry: SyncLogEntry) -> None: ...

    def write_many(self, entries: Sequence[SyncLogEntry]) -> None: ...

    def query(
        self,
        tenant: str,
        *,
        status: Outcome | None = None,
        object: CrmObject | None = None,
        lead_id: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> SyncLogPage:
        """Entries of `tenant`, newest first, `since`/`until` inclusive. Raises InvalidInput for bad arguments and
        InvalidCursor for a cursor that was not issued for this tenant and query."""
        ...


class EventPublisher(Protocol):
    """Events to the app on the bus (`store.events.EventBridgePublisher`)."""

    def publish(self, events: Sequence[AppEvent]) -> None:
        """Deliver all events or raise `EventDeliveryError` naming the ones that were not delivered."""
        ...


class ChangeFeed(Protocol):
    """The pollable change feed (`store.changes.DynamoChangeFeed`)."""

    def append(self, events: Sequence[ChangeEvent], *, exclusive: bool = False) -> None: ...

    def read(self, tenant: str, *, cursor: str | None, limit: int = 100, now: datetime | None = None) -> ChangeFeedPage:
        """Changes after `cursor` (from the start of retention without one), oldest first. Raises InvalidCursor for
        a cursor not issued for this tenant."""
        ...


# --- inbound sync state -----------------------------------------------------------------------------------------------


class RecordStates(Protocol):
    """What the app was last told about each CRM record (`store.records.DynamoRecordStates`)."""

    def get(self, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> RecordState | None: ...

    def get_many(self, tenant: str, crm: str, keys: Sequence[StateKey]) -> dict[StateKey, RecordState]:
        """The stored states among `keys` (a page of records in a few calls)."""
        ...

    def save(self, state: RecordState) -> bool:
        """Store `state` unless the stored one has a newer CRM time (False: it was stale)."""
        ...

    def save_many(self, states: Sequence[RecordState], *, exclusive: bool = False) -> set[StateKey]:
        """`save` for many records (each key at most once), in as few calls as the store allows; returns the keys
        that were stale and not stored. `exclusive`: the caller holds the connection's run lease (batched writes)."""
        ...

    def delete(self, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> None: ...

    def live_ids(self, tenant: str, crm: str, obj: CrmObject) -> Iterator[str]:
        """Ids of records seen and not deleted, for reconciliation."""
        ...


class WrittenRecordStates(Protocol):
    """The record states of what leadbridge writes to the CRM (`store.records.DynamoRecordStates`), so the inbound
    kernel does not report leadbridge's own writes back to the app."""

    def get_many(self, tenant: str, crm: str, keys: Sequence[StateKey]) -> dict[StateKey, RecordState]: ...

    def remember(self, states: Sequence[RecordState]) -> None:
        """Store the states of records leadbridge has just written (unguarded, in as few calls as the store
        allows)."""
        ...


class CheckpointStore(Protocol):
    """Incremental-pull checkpoints and sync marks (`store.checkpoints.DynamoCheckpointStore`)."""

    def get(self, tenant: str, crm: str, obj: CrmObject) -> Checkpoint: ...

    def save(self, checkpoint: Checkpoint) -> None: ...

    def marks(self, tenant: str, crm: str) -> SyncMarks: ...

    def save_marks(self, marks: SyncMarks) -> None: ...


class RunStore(Protocol):
    """Sync runs and the one-run-per-connection lease (`store.runs.DynamoRunStore`)."""

    def create(self, run: SyncRun) -> bool: ...

    def get(self, tenant: str, run_id: str) -> SyncRun | None: ...

    def save(self, run: SyncRun) -> None: ...

    def list(self, tenant: str, crm: str, *, limit: int = 20, cursor: str | None = None) -> SyncRunPage: ...

    def acquire(self, tenant: str, crm: str, run_id: str, *, seconds: int) -> str | None:
        """Take or extend the connection's run lease for `run_id`; None on success, else the id of the run that
        holds it."""
        ...

    def release(self, tenant: str, crm: str, run_id: str) -> None: ...


class WebhookEventClaims(Protocol):
    """Which webhook events were taken on or finished (`store.webhook_events.DynamoWebhookEventClaims`)."""

    def claim(
        self, tenant: str, crm: str, event_id: str, *, token: str, lease_until: datetime, now: datetime
    ) -> Claim: ...

    def complete(self, tenant: str, crm: str, event_id: str, *, token: str, outcome: str, now: datetime) -> bool: ...

    def release(self, tenant: str, crm: str, event_id: str, *, token: str) -> None: ...


# --- queues -----------------------------------------------------------------------------------------------------------


class DelayedQueue(Protocol):
    """Continuation jobs, visible after a delay (`store.runs.SqsDelayedQueue`)."""

    def send(self, body: str, *, delay_seconds: int = 0, attributes: dict[str, str] | None = None) -> None:
        """Queue one message, visible after `delay_seconds` (0..900). Raises StoreUnavailable."""
        ...


class MessageQueue(Protocol):
    """All-or-nothing hand-off of messages (`store.queue.SqsQueue`)."""

    def send_all(self, messages: Sequence[QueueMessage]) -> None:
        """Deliver every message or raise `QueueUnavailable` (some may have been delivered already)."""
        ...


# --- settings ---------------------------------------------------------------------------------------------------------


class SettingsStore(Protocol):
    """Versioned settings documents (`store.settings.DynamoSettingsStore`)."""

    def current(self, tenant_id: str, crm: str) -> SettingsDocument | None: ...

    def save(self, tenant_id: str, document: SettingsDocument, change: SettingsChange) -> None:
        """Store `document` as `change.version`; raises PreconditionFailed unless the current version is
        `change.version - 1`."""
        ...

    def history(self, tenant_id: str, crm: str, *, limit: int = 50) -> list[SettingsChange]: ...

    def version(self, tenant_id: str, crm: str, version: int) -> SettingsDocument | None: ...


# --- the token vault's storage ----------------------------------------------------------------------------------------


class SecretStore(Protocol):
    """JSON secrets (`store.vault.SecretsManagerStore`)."""

    def get_json(self, name: str) -> dict[str, Any]:
        """Raises ConnectionMissing when the secret does not exist (or is scheduled for deletion)."""
        ...

    def put_json(self, name: str, value: dict[str, Any], *, restore: bool = False) -> None:
        """Creates the secret when missing, else stores a new version. `restore` first cancels a scheduled deletion
        (a reconnect within the recovery window of a disconnect)."""
        ...

    def delete(self, name: str, *, recovery_days: int) -> None:
        """Schedules deletion; a missing secret is fine."""
        ...


class LeaseStore(Protocol):
    """Short cross-process leases (`store.vault.DynamoDBLeaseStore`)."""

    def acquire(self, key: str, owner: str, seconds: float) -> bool: ...

    def release(self, key: str, owner: str) -> None: ...
