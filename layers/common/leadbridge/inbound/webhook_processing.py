"""Processing CRM webhook events from the webhook queue: one `QueuedWebhook` message at a time.

For each event: claim its id (a redelivered, retried or replayed event applies once), find the connection it belongs
to and its settings, skip what must not sync (CRM account not connected or connected to another account, connection
waiting for re-authorization, object not synced from the CRM, event about something leadbridge does not sync), read
the record as the CRM has it *now* (webhook payloads are thin: SuperOffice sends ids and database columns; reading
the current record also makes the order of events irrelevant, since an old event can only bring the newest state),
and hand it to the inbound kernel (`leadbridge.inbound.kernel`), which maps it, applies the conflict policy, reports it
on the change feed, whose relay puts it on the bus (with `LeadWon`/`LeadLost`/`RecordDeleted`), updates links and
writes the sync log.

Every event leaves at least one sync-log entry whose `correlation_id` is the CRM's event id: the kernel's entry when
it changed something, a `skipped` entry otherwise (why: unchanged, stale, not connected, ...), and a `failed` entry
per failed attempt. A duplicate leaves none (its first processing did).

One SQS batch, one read per record: the events of a batch are ordered (`order_batch`: by `occurred_at` per record,
a creation before the other events of its record) and the records they name are read through one `BatchReads`,
which asks the CRM once per distinct (connection, object, record id), with one `get_many` per object where the
connector can read many (`leadbridge.crm.read_many.SupportsReadMany`, HubSpot's batch read). A HubSpot creation
brings a `creation` and a `propertyChange` per value set: one read; the later events of the record then find it
unchanged (`unchanged`/`stale`). A batch read that fails is not an error of its own: each event then reads its
record alone, and fails or retries as it would have.

Errors: the CRM throttling or failing, or our own store failing, raise `RetryLater` (the message returns to the
queue and is retried; after the queue's last attempt it goes to the dead-letter queue). The CRM refusing the read for
good (permissions, bad id) is logged as failed and not retried: the scheduled sync reads the record again later.
Anything unexpected propagates (retried, then dead-lettered) after it is logged.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadbridge.crm.base import Connector
from leadbridge.crm.read_many import SupportsReadMany
from leadbridge.errors import (
    ConnectionMissing,
    CrmError,
    CrmNotFound,
    CrmUnavailable,
    LeadbridgeError,
    NeedsReauth,
    RateLimited,
    StoreUnavailable,
)
from leadbridge.inbound.kernel import (
    Applied,
    InboundContext,
    InboundResult,
    apply_deletion,
    apply_record,
    syncs_from_crm,
)
from leadbridge.inbound.ports import InboundServices
from leadbridge.inbound.webhook_intake import QUEUED_WEBHOOK_VERSION, SKIPPED_DISCONNECTED, QueuedWebhook
from leadbridge.models.changes import ChangeSource
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger
from leadbridge.store.ports import WebhookEventClaims
from leadbridge.store.webhook_events import ClaimStatus

# Event actions that say the record is gone (SuperOffice `softdeleted` moves it to the recycle bin: GET answers 404).
DELETE_ACTIONS = frozenset({"deleted", "softdeleted"})
DEFAULT_MAX_ATTEMPTS = 5  # the webhook queue's maxReceiveCount (template.yaml)


class EventOutcome(StrEnum):
    APPLIED = "applied"  # the app was told (created, updated or deleted)
    UNCHANGED = "unchanged"  # nothing the app does not already have
    STALE = "stale"  # older than what the app already has
    SKIPPED = "skipped"  # must not sync (see the reason)
    DUPLICATE = "duplicate"  # this event id was processed before
    FAILED = "failed"  # the CRM refused the read for good; logged, not retried


class ProcessedEvent(BaseModel):
    """What became of one queued event (the processor's log line and metrics)."""

    model_config = ConfigDict(defer_build=True)

    tenant: str
    crm: str
    event_id: str
    event: str
    object: CrmObject | None = None
    record_id: str | None = None
    outcome: EventOutcome
    applied: Applied | None = None
    reason: str | None = None
    published: list[str] = Field(default_factory=list)  # detail types sent to the app


class RetryLater(Exception):
    """The event could not be processed now; the queue must deliver it again."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnreadableMessage(Exception):
    """The queue message is not a `QueuedWebhook` this code understands (a poison message)."""

    def __init__(self, message: str, *, tenant: str | None = None, crm: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tenant = tenant
        self.crm = crm


# --- ports -----------------------------------------------------------------------------------------------------------


class ConnectionReader(Protocol):
    def get(self, tenant_id: str, crm: str) -> Connection | None: ...


class LogWriter(Protocol):
    def write(self, entry: SyncLogEntry) -> None: ...


@dataclass(frozen=True)
class WebhookProcessingServices:
    inbound: InboundServices
    connections: ConnectionReader
    claims: WebhookEventClaims
    settings: Callable[[str, str], SettingsDocument]  # (tenant, crm) -> the stored document or the CRM's defaults
    connector: Callable[[Connection], Connector]  # raises NeedsReauth / ConnectionMissing
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @property
    def log(self) -> LogWriter:
        return self.inbound.log


@dataclass(frozen=True)
class Delivery:
    """Where a message is in its queue life: `attempt` is SQS's receive count (1 on the first delivery)."""

    attempt: int = 1
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    lease: timedelta = timedelta(seconds=60)  # how long this processor may take (the Lambda's remaining time)

    @property
    def last(self) -> bool:
        return self.attempt >= self.max_attempts


class BatchReads:
    """The CRM records one batch's events need, each read at most once (module docstring). One per SQS batch: a
    record read here is the CRM's state when the batch started, which is what every event of the batch may show."""

    def __init__(self, svc: WebhookProcessingServices) -> None:
        self._svc = svc
        # (tenant, crm, account, object, record id) -> the record, or None when the CRM has it no more
        self._records: dict[tuple[str, str, str, CrmObject, str], CrmRecord | None] = {}
        self.reads = 0  # CRM read calls made (get or get_many)

    def prefetch(self, messages: Sequence[QueuedWebhook]) -> None:
        """Read the records of `messages` that will need reading, one `get_many` per connection and object where
        the connector has it. Best effort: anything that fails here is read again, per event, by `get`."""
        wanted: dict[tuple[str, str, CrmObject], list[str]] = {}
        for message in messages:
            event = message.event
            if event.object is None or event.record_id is None or event.action in DELETE_ACTIONS:
                continue
            ids = wanted.setdefault((message.tenant_id, message.crm, event.object), [])
            if event.record_id not in ids:
                ids.append(event.record_id)
        for (tenant, crm, obj), ids in wanted.items():
            with contextlib.suppress(LeadbridgeError):
                connection = self._svc.connections.get(tenant, crm)
                if connection is None or connection.status is not ConnectionStatus.CONNECTED:
                    continue
                connector = self._svc.connector(connection)
                if not isinstance(connector, SupportsReadMany) or len(ids) < 2:
                    continue  # one id: `get` is as cheap, and keeps the CRM's own not-found answer
                self.reads += 1
                found = connector.get_many(obj, ids)
                for record_id in ids:
                    self._records[(tenant, crm, connection.account_id, obj, record_id)] = found.get(record_id)

    def get(self, connection: Connection, obj: CrmObject, record_id: str) -> CrmRecord:
        """The record as the CRM has it; raises `CrmNotFound` when it is gone, and the CRM errors of `get`."""
        key = (connection.tenant_id, connection.crm, connection.account_id, obj, record_id)
        if key not in self._records:
            self.reads += 1
            try:
                self._records[key] = self._svc.connector(connection).get(obj, record_id)
            except CrmNotFound:
                self._records[key] = None
        record = self._records[key]
        if record is None:
            raise CrmNotFound(f"{obj.value} {record_id} was not found in the CRM")
        return record


def order_batch(messages: Sequence[QueuedWebhook]) -> list[int]:
    """The positions of `messages` in the order to process them: by `occurred_at` within each record (events
    without one keep their place), a creation before the other events of its record. Events of different records
    keep their relative order."""
    by_record: dict[tuple[str, str, str, str], list[int]] = {}
    for index, message in enumerate(messages):
        event = message.event
        record = event.record_id or f"#{index}"
        by_record.setdefault((message.tenant_id, message.crm, str(event.object), record), []).append(index)
    order = list(range(len(messages)))
    for positions in by_record.values():
        if len(positions) < 2:
            continue

        def when(index: int) -> tuple[int, float, int]:
            event = messages[index].event
            at = event.occurred_at.timestamp() if event.occurred_at is not None else float("inf")
            return (0 if event.action == "created" else 1, at, index)

        for slot, index in zip(positions, sorted(positions, key=when), strict=True):
            order[slot] = index
    return order


# --- entry points ----------------------------------------------------------------------------------------------------


def prepare_batch(bodies: Sequence[str], reads: BatchReads) -> tuple[list[int], list[QueuedWebhook | None]]:
    """A batch's message bodies read once: the positions in processing order (`order_batch`; an unreadable message
    keeps its place, to be reported when it is handled), each body's message (None: unreadable), and their records
    read ahead into `reads`."""
    parsed: list[QueuedWebhook | None] = []
    for body in bodies:
        try:
            parsed.append(read_message(body))
        except UnreadableMessage:
            parsed.append(None)
    readable = [i for i, message in enumerate(parsed) if message is not None]
    messages = [m for m in parsed if m is not None]
    reads.prefetch(messages)
    order = list(range(len(bodies)))
    for slot, position in zip(readable, order_batch(messages), strict=True):
        order[slot] = readable[position]
    return order, parsed


def read_message(body: str) -> QueuedWebhook:
    """The queued event in a message body; raises `UnreadableMessage` (naming tenant and CRM when it can)."""
    try:
        raw = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise UnreadableMessage("the message body is not JSON") from exc
    if not isinstance(raw, dict):
        raise UnreadableMessage("the message body is not a JSON object")
    tenant, crm = raw.get("tenant_id"), raw.get("crm")
    known = {"tenant": tenant if isinstance(tenant, str) else None, "crm": crm if isinstance(crm, str) else None}
    if raw.get("version") != QUEUED_WEBHOOK_VERSION:
        raise UnreadableMessage(
            f"queued webhook version {str(raw.get('version'))[:20]} is not {QUEUED_WEBHOOK_VERSION}", **known
        )
    try:
        return QueuedWebhook.model_validate(raw)
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:3])
        raise UnreadableMessage(f"the queued webhook is invalid at {where}", **known) from exc


def process_event(
    svc: WebhookProcessingServices, message: QueuedWebhook, delivery: Delivery, reads: BatchReads | None = None
) -> ProcessedEvent:
    """Apply one queued CRM event once. Raises `RetryLater` for failures a later attempt may not have; anything
    unexpected propagates (after a sync-log entry) so the queue retries and finally dead-letters it. `reads`: the
    batch's record reads (module docstring); None reads the record for this event alone."""
    event = message.event
    now = svc.clock()
    token = uuid.uuid4().hex
    try:
        claim = svc.claims.claim(
            message.tenant_id, message.crm, event.event_id, token=token, lease_until=now + delivery.lease, now=now
        )
    except StoreUnavailable as exc:
        raise RetryLater(exc.code, exc.message) from exc
    if claim.status is ClaimStatus.DONE:
        return _result(message, EventOutcome.DUPLICATE, reason=f"already processed ({claim.outcome or 'done'})")
    if claim.status is ClaimStatus.BUSY:
        # Another processor has it now; by the next delivery it has finished (duplicate) or died (lease over).
        raise RetryLater("event_in_progress", "another processor is working on this event")

    try:
        result = _process(svc, message, reads or BatchReads(svc))
    except RetryLater as exc:
        _give_up_claim(svc, message, token)
        _log_failed_attempt(svc, message, delivery, exc.code, exc.message)
        raise
    except Exception as exc:
        _give_up_claim(svc, message, token)
        detail = exc.message if isinstance(exc, LeadbridgeError) else type(exc).__name__
        _log_failed_attempt(svc, message, delivery, "internal_error", f"processing failed: {detail}")
        raise
    with contextlib.suppress(StoreUnavailable):
        # Done is only bookkeeping for redeliveries: had it failed, a redelivery would apply an unchanged record.
        svc.claims.complete(
            message.tenant_id, message.crm, event.event_id, token=token, outcome=_outcome_text(result), now=svc.clock()
        )
    return result


def log_unreadable(log: LogWriter, error: UnreadableMessage, delivery: Delivery) -> None:
    """A poison message: logged (for its tenant, when the message names one) at each attempt, until the queue moves
    it to the dead-letter queue."""
    if not error.tenant or not error.crm:
        return
    fate = " It goes to the dead-letter queue." if delivery.last else " It will be retried."
    entry = SyncLogEntry(
        tenant=error.tenant,
        crm=error.crm,
        direction=Direction.FROM_CRM,
        trigger=Trigger.WEBHOOK,
        action=Action.READ,
        outcome=Outcome.FAILED,
        error=LogError(code="webhook_unreadable", message=(error.message + fate)[:300]),
        details={"attempt": delivery.attempt, "max_attempts": delivery.max_attempts, "dead_lettered": delivery.last},
    )
    with contextlib.suppress(StoreUnavailable):
        log.write(entry)


# --- steps -----------------------------------------------------------------------------------------------------------


def _process(svc: WebhookProcessingServices, message: QueuedWebhook, reads: BatchReads) -> ProcessedEvent:
    event = message.event
    try:
        connection = svc.connections.get(message.tenant_id, message.crm)
        skip = _route(message, connection)
        if skip is not None:
            code, reason = skip
            return _skip(svc, message, code, reason)
        assert connection is not None and event.object is not None and event.record_id is not None
        settings = svc.settings(message.tenant_id, message.crm)
        ctx = InboundContext(
            tenant=message.tenant_id,
            crm=message.crm,
            settings=settings,
            source=ChangeSource.WEBHOOK,
            correlation_id=event.event_id,
        )
        if not syncs_from_crm(settings, event.object):
            reason = f"{event.object.value} does not sync from the CRM (direction setting)"
            return _skip(svc, message, "skipped", reason)
        if event.action in DELETE_ACTIONS:
            return _applied(svc, message, apply_deletion(svc.inbound, ctx, event.object, event.record_id))
        try:
            record = reads.get(connection, event.object, event.record_id)
        except CrmNotFound:
            # Changed, then deleted before we read it (or moved to the recycle bin).
            return _applied(svc, message, apply_deletion(svc.inbound, ctx, event.object, event.record_id))
        return _applied(svc, message, apply_record(svc.inbound, ctx, record))
    except (NeedsReauth, ConnectionMissing) as exc:
        # The token vault has marked the connection (and told the app); an admin must connect again.
        return _skip(svc, message, exc.code, f"the connection cannot call the CRM: {exc.message}")
    except (RateLimited, CrmUnavailable, StoreUnavailable) as exc:
        raise RetryLater(exc.code, exc.message) from exc
    except CrmError as exc:
        _write(svc, message, Action.READ, Outcome.FAILED, exc.code, f"the CRM refused to return the record: {exc}")
        return _result(message, EventOutcome.FAILED, reason=exc.message)


def _route(message: QueuedWebhook, connection: Connection | None) -> tuple[str, str] | None:
    """(code, reason) when the event must be acknowledged without syncing."""
    event = message.event
    if connection is None:
        return "not_connected", f"no {message.crm} account is connected for this tenant"
    if connection.status is ConnectionStatus.DISCONNECTED:
        # The code the intake gives when it already knows (a container may still hold the connection it saw last).
        return SKIPPED_DISCONNECTED, f"the {message.crm} connection was disconnected; the CRM's event is not synced"
    if connection.account_id != message.account_id:
        return "account_mismatch", (
            f"the event is from {message.crm} account {message.account_id}; the connected account is "
            f"{connection.account_id}"
        )
    if connection.status is ConnectionStatus.NEEDS_REAUTH:
        return "needs_reauth", "the connection must be re-authorised by an admin before CRM changes sync"
    if event.object is None or event.record_id is None:
        return "not_synced", f"leadbridge does not sync {event.event} events"
    return None


def _applied(svc: WebhookProcessingServices, message: QueuedWebhook, result: InboundResult) -> ProcessedEvent:
    published = [e.type.value for e in result.events]
    if result.outcome in (Applied.CREATED, Applied.UPDATED, Applied.DELETED):
        return _result(message, EventOutcome.APPLIED, applied=result.outcome, published=published)
    if result.outcome is Applied.SKIPPED:  # the kernel logged why
        return _result(message, EventOutcome.SKIPPED, applied=result.outcome, reason=result.reason)
    outcome = EventOutcome.STALE if result.outcome is Applied.STALE else EventOutcome.UNCHANGED
    reason = result.reason or outcome.value
    _write(svc, message, Action.SKIP, Outcome.SKIPPED, outcome.value, reason)
    return _result(message, outcome, applied=result.outcome, reason=reason)


def _skip(svc: WebhookProcessingServices, message: QueuedWebhook, code: str, reason: str) -> ProcessedEvent:
    _write(svc, message, Action.SKIP, Outcome.SKIPPED, code, reason)
    return _result(message, EventOutcome.SKIPPED, reason=reason)


def _log_failed_attempt(
    svc: WebhookProcessingServices, message: QueuedWebhook, delivery: Delivery, code: str, reason: str
) -> None:
    fate = " Moved to the dead-letter queue." if delivery.last else " It will be retried."
    details = {"attempt": delivery.attempt, "max_attempts": delivery.max_attempts, "dead_lettered": delivery.last}
    with contextlib.suppress(LeadbridgeError):  # the log may be what is failing; the retry is what matters
        _write(svc, message, Action.READ, Outcome.FAILED, code, reason + fate, details=details)


def _give_up_claim(svc: WebhookProcessingServices, message: QueuedWebhook, token: str) -> None:
    with contextlib.suppress(StoreUnavailable):  # else the lease runs out by itself
        svc.claims.release(message.tenant_id, message.crm, message.event.event_id, token=token)


def _write(
    svc: WebhookProcessingServices,
    message: QueuedWebhook,
    action: Action,
    outcome: Outcome,
    code: str,
    reason: str,
    *,
    details: dict[str, Any] | None = None,
) -> None:
    event = message.event
    svc.log.write(
        SyncLogEntry(
            tenant=message.tenant_id,
            crm=message.crm,
            direction=Direction.FROM_CRM,
            trigger=Trigger.WEBHOOK,
            action=action,
            outcome=outcome,
            object=event.object,
            crm_id=event.record_id,
            error=LogError(code=code, message=reason[:300], cause=event.event[:100]),
            correlation_id=event.event_id,
            details=details,
        )
    )


def _result(
    message: QueuedWebhook,
    outcome: EventOutcome,
    *,
    applied: Applied | None = None,
    reason: str | None = None,
    published: list[str] | None = None,
) -> ProcessedEvent:
    event = message.event
    return ProcessedEvent(
        tenant=message.tenant_id,
        crm=message.crm,
        event_id=event.event_id,
        event=event.event,
        object=event.object,
        record_id=event.record_id,
        outcome=outcome,
        applied=applied,
        reason=reason,
        published=published or [],
    )


def _outcome_text(result: ProcessedEvent) -> str:
    return result.applied.value if result.applied is not None else result.outcome.value
