"""CRM webhook intake: verify the CRM's signature, find the connection, queue every valid event durably, answer fast.

`accept_webhook` is the whole intake. It talks only to its ports (connections, webhook secrets, the queue, the sync
log) and to the CRM's `WebhookVerifier`; it makes no CRM call. Processing (de-duplication by event id, ordering,
mapping, publishing) happens later, from the queue, and reads `QueuedWebhook`.

Answers, in the order they are decided:
- unsupported CRM in the path → 404.
- unknown key, key of another CRM, no webhook secret, bad signature, account mismatch → 401 with one generic body,
  so a caller cannot tell which check failed or whether the connection exists. The reason is logged internally.
  Nothing of the body is parsed before the signature is verified, test events included.
- malformed body (correctly signed) → 400 naming the problem; the CRM's parser reads JSON through the bounded
  `leadbridge.json_body.parse_json_body`, so no body (deep nesting, huge numbers) can raise anything else.
- a correctly signed CRM *test* event (SuperOffice `"Event":"test"`) → 200, nothing queued or logged. The CRM
  test-POSTs while the webhook is being registered; by then the connection record (with its key) is saved and the
  signing secret is stored under the connection's derived secret name (`connect.webhook_registration`), so the
  test event verifies like any other.
- disconnected connection → 200 (Salesforce: the SOAP Ack), nothing queued, one sync-log entry per delivery
  `outcome=skipped`, code `connection_disconnected`, saying what to do (reconnect the same account, which keeps the
  key and so the URL, or remove the webhook in the CRM). Acknowledged so the CRM stops retrying: Salesforce would
  re-send an Outbound Message for 24 hours.
- valid events → one SQS message per event; 200 only after SQS accepted all of them. Queue or store failures raise
  `StoreUnavailable` (HTTP 503) so the CRM retries; duplicates from a partial send are removed by the processor.

`accept_app_webhook` is the intake of a CRM whose webhooks belong to its *app* (HubSpot: one target URL,
`/webhooks/{crm}`, for every installed account; the CRM's verifier is an `AppWebhookVerifier`). It differs in:
- the secret is the app's (`app_secret()`, HubSpot's client secret), not a connection's; a CRM that is not app-level
  → 404 `unsupported_crm` (its webhooks have a per-connection URL). Bad signature (or stale timestamp) → 401.
- after verifying and parsing, events that report leadbridge's own writes (`is_own_write`) are dropped and counted
  (`own_writes`), and a delivery's repeated event ids are queued once (`duplicates`);
- each event goes to every connection of its `account_id` (`AccountConnections.by_account`; a portal connected by
  two tenants reaches both). An account no connection has (an uninstalled or unknown portal) → acknowledged 200 and
  counted (`unrouted`), since the CRM would retry any other answer for a day; a disconnected connection of it →
  acknowledged with the disconnected sync-log entry, as above.
- the raw body is not copied into the queue messages (`raw_body_omitted`): a delivery holds up to 100 events of
  which each message carries its own parsed event.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.crm.base import AppWebhookVerifier, WebhookRequest, WebhookVerifier
from leadbridge.errors import LeadbridgeError, WebhookRejected
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import WebhookEvent
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger
from leadbridge.store.queue import SEND_BATCH_MAX_BYTES, QueueMessage

if TYPE_CHECKING:  # store.ports loads every stored model (settings, runs, changes): not the intake's cold start
    from leadbridge.store.ports import MessageQueue

QUEUED_WEBHOOK_VERSION = 1
# Connection keys are generated URL-safe tokens; anything else is answered without a table read.
_CONNECTION_KEY = re.compile(r"^[A-Za-z0-9_\-]{16,128}$")
_CRM_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,31}$")
# Headers never copied into the queue: credentials and the gateway's own routing headers.
_DROPPED_HEADERS = ("authorization", "cookie", "proxy-authorization", "x-forwarded-", "x-amzn-", "x-amz-", "forwarded")
_MAX_HEADER_VALUE = 1024
# Room left in a message for everything but the raw body copy (envelope, parsed event, headers).
_MESSAGE_HEADROOM = 8 * 1024


class IntakeOutcome(StrEnum):
    ACCEPTED = "accepted"
    TEST = "test"
    SKIPPED = "skipped"
    REJECTED = "rejected"


class RejectReason(StrEnum):
    """Internal reasons (logged, never sent to the caller except `malformed_body` and `unsupported_crm`)."""

    UNSUPPORTED_CRM = "unsupported_crm"
    UNKNOWN_CONNECTION = "unknown_connection"
    NO_WEBHOOK_SECRET = "no_webhook_secret"
    SIGNATURE_INVALID = "signature_invalid"
    MALFORMED_BODY = "malformed_body"
    ACCOUNT_MISMATCH = "account_mismatch"


# Error codes of the sync-log entries the intake writes.
LOG_CODES: dict[RejectReason, str] = {
    RejectReason.NO_WEBHOOK_SECRET: "webhook_secret_missing",
    RejectReason.SIGNATURE_INVALID: "webhook_signature_invalid",
    RejectReason.MALFORMED_BODY: "webhook_malformed",
    RejectReason.ACCOUNT_MISMATCH: "webhook_account_mismatch",
}
SKIPPED_DISCONNECTED = "connection_disconnected"
# What the sync log tells an admin about a delivery to a disconnected connection. A reconnect of the same CRM account
# keeps the connection key, so the URL works again then (connect.authorization).
DISCONNECTED_MESSAGE = (
    "The connection is disconnected: the delivery was acknowledged and dropped. Reconnect the same CRM account to "
    "receive changes again (the webhook URL stays valid), or remove the webhook set up in the CRM to stop them."
)

UNAUTHORIZED_MESSAGE = "Webhook rejected: the connection or the signature is not valid."


class IntakeResult(BaseModel):
    """What to answer the CRM, plus facts for the handler's log line (`reason`, `detail`: internal only)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    status: int
    outcome: IntakeOutcome
    public_code: str = "ok"
    public_message: str = ""
    public_details: dict[str, Any] = Field(default_factory=dict)
    reason: RejectReason | str | None = None
    detail: str | None = None
    tenant_id: str | None = None
    received: int = 0
    enqueued: int = 0
    event_ids: list[str] = Field(default_factory=list)
    # A body the CRM expects verbatim (e.g. a SOAP Ack): (status, content type, body).
    reply: tuple[int, str, str] | None = None
    # App-level deliveries (`accept_app_webhook`): every tenant reached, and what was not queued.
    tenants: list[str] = Field(default_factory=list)
    own_writes: int = 0  # echoes of leadbridge's own writes, dropped
    duplicates: int = 0  # repeated event ids within the delivery, queued once
    unrouted: int = 0  # events of an account no connection has, acknowledged and dropped


class QueuedWebhook(BaseModel):
    """The body of one WebhookQueue message: one verified CRM event and where it came from.

    `raw_body_b64` and `headers` let the processor (or a person debugging) re-verify the original delivery; the raw
    body is left out (`raw_body_omitted`) when it would not fit the SQS size limit.
    """

    model_config = ConfigDict(defer_build=True)

    version: int = QUEUED_WEBHOOK_VERSION
    tenant_id: str
    crm: str
    connection_key: str
    account_id: str
    event: WebhookEvent
    received_at: datetime
    events_in_delivery: int = 1
    raw_body_b64: str | None = None
    raw_body_omitted: bool = False
    payload_omitted: bool = False
    headers: dict[str, str] = Field(default_factory=dict)

    def message(self) -> QueueMessage:
        return QueueMessage(
            body=self.model_dump_json(),
            attributes={"tenant": self.tenant_id, "crm": self.crm, "event": self.event.event},
        )


# --- ports -----------------------------------------------------------------------------------------------------------


class ConnectionFinder(Protocol):
    def by_webhook_key(self, connection_key: str) -> Connection | None:
        """The connection whose webhook URL carries `connection_key`, or None. Raises StoreUnavailable."""
        ...


class WebhookSecrets(Protocol):
    def secret_for(self, connection: Connection, *, fresh: bool = False) -> str | None:
        """The connection's webhook signing secret (None when none is stored). May be cached briefly; `fresh`
        bypasses the cache. Raises StoreUnavailable."""
        ...


class SyncLogWriter(Protocol):
    """The write half of `leadbridge.store.log.SyncLog`."""

    def write(self, entry: SyncLogEntry) -> None: ...


class AccountConnections(Protocol):
    def by_account(self, crm: str, account_id: str) -> list[Connection]:
        """Every connection of `crm` (any status) whose CRM account is `account_id`. Raises StoreUnavailable."""
        ...


VerifierLookup = Callable[[str], WebhookVerifier]  # raises KeyError for a CRM leadbridge does not support


# --- the intake ------------------------------------------------------------------------------------------------------


def accept_webhook(
    crm: str,
    connection_key: str,
    request: WebhookRequest,
    *,
    verifiers: VerifierLookup,
    connections: ConnectionFinder,
    secrets: WebhookSecrets,
    queue: MessageQueue,
    log: SyncLogWriter,
    correlation_id: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IntakeResult:
    """Verify and queue one CRM webhook delivery. Raises only `StoreUnavailable` (answer 503, the CRM retries)."""
    lowered, raw_body = request.headers, request.raw_body
    verifier = _verifier(verifiers, crm)
    if verifier is None:
        return IntakeResult(
            status=404,
            outcome=IntakeOutcome.REJECTED,
            public_code="unsupported_crm",
            public_message=f"leadbridge has no webhook intake for CRM '{crm[:32]}'.",
            public_details={"loc": ["path", "crm"]},
            reason=RejectReason.UNSUPPORTED_CRM,
        )

    if not _CONNECTION_KEY.fullmatch(connection_key):
        return _unauthorized(RejectReason.UNKNOWN_CONNECTION, "connection key has an impossible format")
    connection = connections.by_webhook_key(connection_key)
    if connection is None or connection.crm != crm:
        detail = "no connection has this key" if connection is None else f"key belongs to a {connection.crm} connection"
        return _unauthorized(RejectReason.UNKNOWN_CONNECTION, detail)

    def reject(reason: RejectReason, detail: str, events: Sequence[WebhookEvent] = ()) -> IntakeResult:
        _write_log(log, connection, Outcome.FAILED, LOG_CODES[reason], detail, events, now(), correlation_id)
        return _unauthorized(reason, detail, tenant_id=connection.tenant_id)

    disconnected = connection.status is ConnectionStatus.DISCONNECTED
    secret = secrets.secret_for(connection)
    if secret is None:
        if disconnected:
            # Its secret went with the disconnect; acknowledge so the CRM stops retrying a connection we dropped.
            detail = "signature not checked: its secret went with the disconnect"
            skipped = _skip(log, connection, detail, [], now(), correlation_id)
            return skipped.model_copy(update={"reply": verifier.test_response([])})
        return reject(RejectReason.NO_WEBHOOK_SECRET, "no webhook secret is stored for this connection")
    if not verifier.verify(request, secret):
        # The cached secret may be stale (re-registered webhook, rotated secret): look once more before rejecting.
        fresh = secrets.secret_for(connection, fresh=True)
        if fresh is None or fresh == secret or not verifier.verify(request, fresh):
            return reject(RejectReason.SIGNATURE_INVALID, "signature does not match the raw body")

    try:
        events = verifier.parse(request)
        if not events:
            raise WebhookRejected("the body contains no events")
    except WebhookRejected as exc:
        code = LOG_CODES[RejectReason.MALFORMED_BODY]
        _write_log(log, connection, Outcome.FAILED, code, exc.message, [], now(), correlation_id)
        return _malformed(exc, tenant_id=connection.tenant_id)

    if all(e.is_test for e in events):
        return IntakeResult(
            status=200,
            outcome=IntakeOutcome.TEST,
            tenant_id=connection.tenant_id,
            received=len(events),
            event_ids=[e.event_id for e in events],
            reply=verifier.test_response(events),
        )

    # A CRM that wants a verbatim answer to every delivery (Salesforce's SOAP Ack) gets it for accepted and skipped
    # deliveries too; otherwise it re-sends them.
    reply = verifier.test_response(events)
    if disconnected:
        skipped = _skip(log, connection, "events not queued", events, now(), correlation_id)
        return skipped.model_copy(update={"reply": reply})

    # An event without an account id cannot be checked; the signature already ties it to this connection's secret.
    foreign = sorted({a for a in (e.account_id for e in events) if a is not None and a != connection.account_id})
    if foreign:
        return reject(
            RejectReason.ACCOUNT_MISMATCH,
            f"event account {', '.join(foreign)[:100]} is not the connected account {connection.account_id}",
            events,
        )

    real = [e for e in events if not e.is_test]
    received_at = now()
    messages = [
        _queued(connection, connection_key, event, len(real), lowered, raw_body, received_at).message()
        for event in real
    ]
    queue.send_all(messages)
    return IntakeResult(
        status=200,
        outcome=IntakeOutcome.ACCEPTED,
        tenant_id=connection.tenant_id,
        received=len(events),
        enqueued=len(messages),
        event_ids=[e.event_id for e in real],
        reply=reply,
    )


def accept_app_webhook(
    crm: str,
    request: WebhookRequest,
    *,
    verifiers: VerifierLookup,
    accounts: AccountConnections,
    queue: MessageQueue,
    log: SyncLogWriter,
    correlation_id: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IntakeResult:
    """Verify one delivery of a CRM app's webhooks and queue its events for the connections of their accounts
    (module docstring). Raises only `StoreUnavailable` (answer 503, the CRM retries)."""
    verifier = _verifier(verifiers, crm)
    if not isinstance(verifier, AppWebhookVerifier):
        where = f" (its webhooks go to /webhooks/{crm}/{{connection_key}})" if verifier is not None else ""
        return IntakeResult(
            status=404,
            outcome=IntakeOutcome.REJECTED,
            public_code="unsupported_crm",
            public_message=f"leadbridge has no app-level webhook intake for CRM '{crm[:32]}'{where}.",
            public_details={"loc": ["path", "crm"]},
            reason=RejectReason.UNSUPPORTED_CRM,
        )
    secret = verifier.app_secret()
    if not secret:
        return _unauthorized(RejectReason.NO_WEBHOOK_SECRET, f"the deployment has no {crm} app secret")
    if not verifier.verify(request, secret):
        return _unauthorized(RejectReason.SIGNATURE_INVALID, "signature, timestamp or URL does not match the request")
    try:
        parsed = verifier.parse(request)
        if not parsed:
            raise WebhookRejected("the body contains no events")
    except WebhookRejected as exc:
        # Correctly signed by the app, so no tenant to log for yet: the handler's log line carries it.
        return _malformed(exc)

    unique = list({e.event_id: e for e in parsed if not e.is_test}.values())
    wanted = [e for e in unique if not verifier.is_own_write(e)]
    by_account: dict[str, list[WebhookEvent]] = {}
    unrouted = 0
    for event in wanted:
        if event.account_id is None:
            unrouted += 1
        else:
            by_account.setdefault(event.account_id, []).append(event)

    received_at = now()
    messages: list[QueueMessage] = []
    tenants: list[str] = []
    for account_id, events in by_account.items():
        connections = accounts.by_account(crm, account_id)
        if not connections:
            unrouted += len(events)  # an uninstalled or unknown account: answered 200 so the CRM stops retrying
        for connection in connections:
            tenants.append(connection.tenant_id)
            if connection.status is ConnectionStatus.DISCONNECTED:
                _skip(log, connection, "events not queued", events, received_at, correlation_id)
                continue
            messages += [
                _queued(
                    connection, connection.connection_key, e, len(events), request.headers, None, received_at
                ).message()
                for e in events
            ]
    if messages:
        queue.send_all(messages)
    return IntakeResult(
        status=200,
        outcome=IntakeOutcome.ACCEPTED if messages else IntakeOutcome.SKIPPED,
        reason=None if messages else _nothing_queued(bool(tenants), len(unique) - len(wanted), unrouted),
        tenant_id=tenants[0] if len(tenants) == 1 else None,
        tenants=tenants,
        received=len(parsed),
        enqueued=len(messages),
        event_ids=[e.event_id for e in wanted],
        own_writes=len(unique) - len(wanted),
        duplicates=len(parsed) - len(unique),
        unrouted=unrouted,
        reply=verifier.test_response(parsed),
    )


def key_ref(connection_key: str) -> str:
    """A short, non-reversible reference to a connection key for logs (the key itself is a capability)."""
    return hashlib.sha256(connection_key.encode()).hexdigest()[:12]


# --- helpers ---------------------------------------------------------------------------------------------------------


def _verifier(verifiers: VerifierLookup, crm: str) -> WebhookVerifier | None:
    if not _CRM_NAME.fullmatch(crm):
        return None
    try:
        return verifiers(crm)
    except KeyError:
        return None


def _nothing_queued(disconnected: bool, own_writes: int, unrouted: int) -> str:
    """Why an app-level delivery queued nothing (the handler's log line)."""
    if disconnected:
        return SKIPPED_DISCONNECTED
    if unrouted:
        return "unknown_account"
    return "own_writes" if own_writes else "test"


def _malformed(exc: WebhookRejected, *, tenant_id: str | None = None) -> IntakeResult:
    """400 naming what is wrong with a correctly signed body."""
    return IntakeResult(
        status=400,
        outcome=IntakeOutcome.REJECTED,
        public_code="webhook_malformed",
        public_message=f"Malformed webhook body: {exc.message}",
        public_details={"loc": ["body"], **exc.details},
        reason=RejectReason.MALFORMED_BODY,
        detail=exc.message,
        tenant_id=tenant_id,
    )


def _unauthorized(reason: RejectReason, detail: str, *, tenant_id: str | None = None) -> IntakeResult:
    return IntakeResult(
        status=401,
        outcome=IntakeOutcome.REJECTED,
        public_code="unauthorized",
        public_message=UNAUTHORIZED_MESSAGE,
        reason=reason,
        detail=detail,
        tenant_id=tenant_id,
    )


def _skip(
    log: SyncLogWriter,
    connection: Connection,
    detail: str,
    events: Sequence[WebhookEvent],
    at: datetime,
    correlation_id: str | None,
) -> IntakeResult:
    message = f"{DISCONNECTED_MESSAGE} ({detail})"
    _write_log(log, connection, Outcome.SKIPPED, SKIPPED_DISCONNECTED, message, events, at, correlation_id)
    return IntakeResult(
        status=200,
        outcome=IntakeOutcome.SKIPPED,
        reason=SKIPPED_DISCONNECTED,
        detail=detail,
        tenant_id=connection.tenant_id,
        received=len(events),
        event_ids=[e.event_id for e in events],
    )


def _write_log(
    log: SyncLogWriter,
    connection: Connection,
    outcome: Outcome,
    code: str,
    message: str,
    events: Sequence[WebhookEvent],
    at: datetime,
    correlation_id: str | None,
) -> None:
    """One small entry per delivery. Nothing from an unverified body goes in (only parsed, verified events do)."""
    first = events[0] if events else None
    cause = ", ".join(f"{e.event} {e.event_id}" for e in events[:5])[:300] or None
    entry = SyncLogEntry(
        time=at,
        tenant=connection.tenant_id,
        crm=connection.crm,
        direction=Direction.FROM_CRM,
        trigger=Trigger.WEBHOOK,
        action=Action.SKIP if outcome is Outcome.SKIPPED else Action.READ,
        outcome=outcome,
        object=first.object if first else None,
        crm_id=first.record_id if first else None,
        error=LogError(code=code, message=message[:300], cause=cause),
        correlation_id=correlation_id,
    )
    # The answer to the CRM does not depend on the log; the handler's log line still carries the reason.
    with contextlib.suppress(LeadbridgeError):
        log.write(entry)


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v[:_MAX_HEADER_VALUE]
        for k, v in headers.items()
        if not any(k == d or (d.endswith("-") and k.startswith(d)) for d in _DROPPED_HEADERS)
    }


def _queued(
    connection: Connection,
    connection_key: str,
    event: WebhookEvent,
    count: int,
    headers: Mapping[str, str],
    raw_body: bytes | None,
    received_at: datetime,
) -> QueuedWebhook:
    """`raw_body` None: not copied (app-level deliveries)."""
    queued = QueuedWebhook(
        tenant_id=connection.tenant_id,
        crm=connection.crm,
        connection_key=connection_key,
        account_id=connection.account_id,
        event=event,
        received_at=received_at,
        events_in_delivery=count,
        headers=_kept_headers(headers),
    )
    budget = SEND_BATCH_MAX_BYTES - _MESSAGE_HEADROOM
    if raw_body is not None and len(queued.model_dump_json()) + (len(raw_body) * 4) // 3 + 4 <= budget:
        return queued.model_copy(update={"raw_body_b64": base64.b64encode(raw_body).decode("ascii")})
    queued = queued.model_copy(update={"raw_body_omitted": True})
    if len(queued.model_dump_json()) > budget:
        # A huge event payload: the processor fetches the current record from the CRM instead (thin event).
        thin = event.model_copy(update={"payload": {}})
        queued = queued.model_copy(update={"event": thin, "payload_omitted": True})
    return queued
