"""Webhook intake domain (`accept_webhook`) over in-memory fakes of its ports (connections, secrets, queue, log)
and the real, stateless SuperOffice verifier; signatures are computed here independently, from SuperOffice's
documented scheme (base64 HMAC-SHA256 of the raw body). The integration tests run the same cases through the handler
and moto.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from leadbridge.crm.base import WebhookRequest
from leadbridge.crm.superoffice.webhooks import SuperOfficeWebhooks
from leadbridge.errors import StoreUnavailable
from leadbridge.inbound.webhook_intake import (
    UNAUTHORIZED_MESSAGE,
    IntakeOutcome,
    IntakeResult,
    QueuedWebhook,
    RejectReason,
    accept_webhook,
)
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.synclog import Outcome, SyncLogEntry, Trigger
from leadbridge.store.queue import SEND_BATCH_MAX_BYTES, QueueMessage, QueueUnavailable

KEY = "k" * 10 + "A1b2C3d4E5f6G7h8J9k0Lm"
SECRET = "signing-secret-1"
ACCOUNT = "Cust12345"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- fakes -------------------------------------------------------------------------------------------------------


class Connections:
    def __init__(self, *connections: Connection) -> None:
        self.by_key = {c.connection_key: c for c in connections}
        self.lookups: list[str] = []

    def by_webhook_key(self, connection_key: str) -> Connection | None:
        self.lookups.append(connection_key)
        return self.by_key.get(connection_key)


class Secrets:
    """Behaves like a per-container cache: `fresh=True` reads the store, otherwise the cached copy is returned."""

    def __init__(self, stored: str | None = SECRET, cached: str | None = None) -> None:
        self.stored = stored
        self.cached = cached if cached is not None else stored
        self.fresh_reads = 0

    def secret_for(self, connection: Connection, *, fresh: bool = False) -> str | None:
        if fresh:
            self.fresh_reads += 1
            self.cached = self.stored
        return self.cached


class Queue:
    def __init__(self, fail: bool = False) -> None:
        self.messages: list[QueueMessage] = []
        self.fail = fail

    def send_all(self, messages: Sequence[QueueMessage]) -> None:
        if self.fail:
            raise QueueUnavailable("queue down")
        self.messages.extend(messages)


class Log:
    def __init__(self) -> None:
        self.entries: list[SyncLogEntry] = []

    def write(self, entry: SyncLogEntry) -> None:
        self.entries.append(entry)


def connection(status: ConnectionStatus = ConnectionStatus.CONNECTED, crm: str = "superoffice") -> Connection:
    return Connection(
        tenant_id="tenant-a",
        crm=crm,
        status=status,
        account_id=ACCOUNT,
        api_base="https://sod.superoffice.com/Cust12345/api",
        secret_name="leadbridge/test/tenants/tenant-a/superoffice",
        connected_by="admin",
        connected_at=NOW,
        connection_key=KEY,
    )


def body(event: str = "contact.changed", *, event_id: str = "e-1", account: str = ACCOUNT, pk: int = 18) -> bytes:
    return json.dumps(
        {
            "EventId": event_id,
            "Timestamp": "2026-03-01T11:59:58Z",
            "Changes": ["name", "updated"],
            "Event": event,
            "PrimaryKey": pk,
            "Entity": event.split(".")[0],
            "ContextIdentifier": account,
            "ChangedByAssociateId": 5,
            "FieldValues": {"name": "Acme AS"},
        }
    ).encode()


def signed(raw: bytes, secret: str = SECRET, **extra: str) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-SuperOffice-Signature": signature, **extra}


class Intake:
    def __init__(self, *conns: Connection, secrets: Secrets | None = None, queue: Queue | None = None) -> None:
        self.connections = Connections(*(conns or (connection(),)))
        self.secrets = secrets or Secrets()
        self.queue = queue or Queue()
        self.log = Log()

    def __call__(
        self, raw: bytes, headers: Mapping[str, str], *, crm: str = "superoffice", key: str = KEY
    ) -> IntakeResult:
        return accept_webhook(
            crm,
            key,
            WebhookRequest(url=f"https://api.test/webhooks/{crm}/{key}", headers=dict(headers), raw_body=raw),
            verifiers=lambda name: {"superoffice": SuperOfficeWebhooks()}[name],
            connections=self.connections,
            secrets=self.secrets,
            queue=self.queue,
            log=self.log,
            correlation_id="corr-1",
            now=lambda: NOW,
        )

    def queued(self) -> list[QueuedWebhook]:
        return [QueuedWebhook.model_validate_json(m.body) for m in self.queue.messages]


# --- accepted --------------------------------------------------------------------------------------------------------


def test_valid_event_is_queued_with_what_processing_needs() -> None:
    intake = Intake()
    raw = body(event_id="88f91933")
    result = intake(raw, signed(raw, **{"X-SuperOffice-Event": "contact.changed", "Authorization": "Bearer x"}))

    assert (result.status, result.outcome, result.enqueued) == (200, IntakeOutcome.ACCEPTED, 1)
    [message] = intake.queue.messages
    assert message.attributes == {"tenant": "tenant-a", "crm": "superoffice", "event": "contact.changed"}
    [queued] = intake.queued()
    assert (queued.tenant_id, queued.crm, queued.connection_key, queued.account_id) == (
        "tenant-a",
        "superoffice",
        KEY,
        ACCOUNT,
    )
    assert queued.event.event_id == "88f91933"
    assert queued.event.record_id == "18"
    assert queued.event.payload == {"name": "Acme AS"}
    assert queued.received_at == NOW
    # The original delivery can be re-verified from the message alone.
    assert base64.b64decode(queued.raw_body_b64 or "") == raw
    request = WebhookRequest(url="https://api.test/", headers=queued.headers, raw_body=raw)
    assert SuperOfficeWebhooks().verify(request, SECRET)
    assert "authorization" not in queued.headers
    assert intake.log.entries == []


def test_connection_needing_reauth_still_queues_its_events() -> None:
    # Nothing valid is dropped: the processor catches up once an admin has reconnected.
    intake = Intake(connection(ConnectionStatus.NEEDS_REAUTH))
    raw = body()
    assert intake(raw, signed(raw)).enqueued == 1


def test_rotated_secret_verifies_after_one_fresh_read() -> None:
    secrets = Secrets(stored="new-secret", cached="old-secret")
    intake = Intake(secrets=secrets)
    raw = body()

    result = intake(raw, signed(raw, secret="new-secret"))

    assert result.outcome is IntakeOutcome.ACCEPTED
    assert secrets.fresh_reads == 1
    # Now cached: the next delivery needs no extra read.
    intake(raw, signed(raw, secret="new-secret"))
    assert secrets.fresh_reads == 1


def test_huge_body_is_queued_without_its_raw_copy() -> None:
    intake = Intake()
    payload = json.loads(body())
    payload["FieldValues"] = {"notes": "x" * (SEND_BATCH_MAX_BYTES // 2)}
    raw = json.dumps(payload).encode()

    intake(raw, signed(raw))

    [queued] = intake.queued()
    assert queued.raw_body_omitted and queued.raw_body_b64 is None
    assert queued.event.payload["notes"].startswith("xxx")
    assert intake.queue.messages[0].size() <= SEND_BATCH_MAX_BYTES


# --- test events -----------------------------------------------------------------------------------------------------


TEST_BODY = json.dumps(
    {"EventId": "t-1", "Event": "test", "Entity": "test", "PrimaryKey": 0, "ContextIdentifier": "Default"}
).encode()


def test_signed_test_event_answers_200_with_nothing_queued_or_logged() -> None:
    intake = Intake()
    result = intake(TEST_BODY, signed(TEST_BODY, **{"X-Hook-Test": "true"}))

    assert (result.status, result.outcome) == (200, IntakeOutcome.TEST)
    assert result.event_ids == ["t-1"]
    assert intake.queue.messages == []
    assert intake.log.entries == []


@pytest.mark.parametrize("key", [KEY, "unknown-but-wellformed-key-0000"])
def test_unsigned_test_event_is_the_generic_401_for_any_key(key: str) -> None:
    # Issue #16: the signature is verified before anything of the body is parsed, test events included.
    intake = Intake()
    result = intake(TEST_BODY, {"X-Hook-Test": "true", "Content-Type": "application/json"}, key=key)

    _assert_generic_401(result)
    assert intake.queue.messages == []


def test_test_header_on_a_real_looking_event_never_queues_anything() -> None:
    # SuperOffice marks test deliveries with X-Hook-Test; such an event is acknowledged and dropped, never processed.
    intake = Intake()
    forged = intake(body(), {"X-Hook-Test": "true", "X-SuperOffice-Signature": "forged"})
    assert (forged.status, forged.reason) == (401, RejectReason.SIGNATURE_INVALID)
    raw = body()
    result = intake(raw, signed(raw, **{"X-Hook-Test": "true"}))
    assert (result.status, result.outcome) == (200, IntakeOutcome.TEST)
    assert intake.queue.messages == []


def test_oversized_test_event_takes_the_signature_path() -> None:
    intake = Intake()
    payload = json.loads(TEST_BODY)
    payload["Padding"] = "x" * 5000
    result = intake(json.dumps(payload).encode(), {"X-Hook-Test": "true", "X-SuperOffice-Signature": "forged"})
    assert (result.status, result.reason) == (401, RejectReason.SIGNATURE_INVALID)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 1000 + b"]" * 1000, b'{"EventId": "e", "Event": "test", "n": ' + b"9" * 5000 + b"}"],
    ids=["nested-1000", "int-5000-digits"],
)
def test_hostile_body_is_401_unsigned_and_400_signed(raw: bytes) -> None:
    intake = Intake()
    _assert_generic_401(intake(raw, {"Content-Type": "application/json"}))
    result = intake(raw, signed(raw))
    assert (result.status, result.public_code) == (400, "webhook_malformed")


# --- rejected --------------------------------------------------------------------------------------------------------


def _assert_generic_401(result: IntakeResult) -> None:
    assert result.status == 401
    assert result.public_code == "unauthorized"
    assert result.public_message == UNAUTHORIZED_MESSAGE
    assert result.public_details == {}


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("forged", lambda raw: (raw, {"X-SuperOffice-Signature": base64.b64encode(b"x" * 32).decode()})),
        ("other secret", lambda raw: (raw, signed(raw, secret="someone-elses-secret"))),
        ("truncated", lambda raw: (raw[:-10], signed(raw))),
        ("tampered", lambda raw: (raw.replace(b"Acme", b"Evil"), signed(raw))),
        ("missing", lambda raw: (raw, {"Content-Type": "application/json"})),
    ],
)
def test_bad_signature_is_rejected_and_logged(case: str, make: Any) -> None:
    secrets = Secrets()
    intake = Intake(secrets=secrets)
    raw, headers = make(body())

    result = intake(raw, headers)

    _assert_generic_401(result)
    assert result.reason is RejectReason.SIGNATURE_INVALID
    assert intake.queue.messages == []
    assert secrets.fresh_reads == 1  # looked once more in case the cached secret was stale
    [entry] = intake.log.entries
    assert (entry.tenant, entry.trigger, entry.outcome) == ("tenant-a", Trigger.WEBHOOK, Outcome.FAILED)
    assert entry.error is not None and entry.error.code == "webhook_signature_invalid"
    assert entry.correlation_id == "corr-1"
    # Nothing from an unverified body is written to the log.
    assert "Acme" not in entry.model_dump_json() and "Evil" not in entry.model_dump_json()


def test_unknown_key_looks_exactly_like_a_bad_signature() -> None:
    intake = Intake()
    raw = body()
    unknown = intake(raw, signed(raw), key="Zz" * 16)
    bad_signature = intake(raw, signed(raw, secret="wrong"))

    _assert_generic_401(unknown)
    assert unknown.reason is RejectReason.UNKNOWN_CONNECTION
    assert unknown.model_dump(include={"status", "public_code", "public_message", "public_details"}) == (
        bad_signature.model_dump(include={"status", "public_code", "public_message", "public_details"})
    )
    assert intake.queue.messages == []
    # Only the bad signature (known tenant) produced a sync-log entry.
    assert len(intake.log.entries) == 1


def test_impossible_key_is_rejected_without_a_table_read() -> None:
    intake = Intake()
    raw = body()
    result = intake(raw, signed(raw), key="short#key")
    _assert_generic_401(result)
    assert intake.connections.lookups == []


def test_key_of_another_crms_connection_is_unknown() -> None:
    intake = Intake(connection(crm="hubspot"))
    raw = body()
    result = intake(raw, signed(raw))
    _assert_generic_401(result)
    assert result.reason is RejectReason.UNKNOWN_CONNECTION


def test_account_mismatch_is_rejected_and_logged() -> None:
    intake = Intake()
    raw = body(account="Cust99999")

    result = intake(raw, signed(raw))

    _assert_generic_401(result)
    assert result.reason is RejectReason.ACCOUNT_MISMATCH
    assert intake.queue.messages == []
    [entry] = intake.log.entries
    assert entry.error is not None and entry.error.code == "webhook_account_mismatch"
    assert "Cust99999" in entry.error.message


def test_connection_without_a_stored_secret_cannot_accept_events() -> None:
    intake = Intake(secrets=Secrets(stored=None))
    raw = body()
    result = intake(raw, signed(raw))
    _assert_generic_401(result)
    assert result.reason is RejectReason.NO_WEBHOOK_SECRET
    assert intake.log.entries[0].error is not None
    assert intake.log.entries[0].error.code == "webhook_secret_missing"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", "SuperOffice webhook body is not JSON"),
        (b"", "SuperOffice webhook body is not JSON"),
        (b"[]", "the body contains no events"),
        (json.dumps({"Event": "contact.changed"}).encode(), "SuperOffice webhook body has no EventId"),
        (json.dumps({"EventId": "e", "Event": "contact.changed", "Changes": "name"}).encode(), "Changes"),
    ],
    ids=["not-json", "empty", "no-events", "no-event-id", "changes-not-list"],
)
def test_correctly_signed_malformed_body_is_400_naming_the_problem(raw: bytes, problem: str) -> None:
    intake = Intake()

    result = intake(raw, signed(raw))

    assert (result.status, result.public_code) == (400, "webhook_malformed")
    assert result.public_message.startswith("Malformed webhook body: ")
    assert problem in result.public_message
    assert result.public_details["loc"] == ["body"]
    assert intake.queue.messages == []
    [entry] = intake.log.entries
    assert entry.error is not None and entry.error.code == "webhook_malformed"


def test_unsupported_crm_is_404() -> None:
    intake = Intake()
    raw = body()
    result = intake(raw, signed(raw), crm="pipedrive")
    assert (result.status, result.public_code) == (404, "unsupported_crm")
    assert result.public_details == {"loc": ["path", "crm"]}
    assert intake.connections.lookups == []


# --- disconnected ----------------------------------------------------------------------------------------------------


def test_disconnected_connection_is_acknowledged_skipped_and_logged() -> None:
    intake = Intake(connection(ConnectionStatus.DISCONNECTED))
    raw = body(event_id="late-1")

    result = intake(raw, signed(raw))

    assert (result.status, result.outcome, result.enqueued) == (200, IntakeOutcome.SKIPPED, 0)
    assert intake.queue.messages == []
    [entry] = intake.log.entries
    assert (entry.outcome, entry.trigger, entry.crm_id) == (Outcome.SKIPPED, Trigger.WEBHOOK, "18")
    assert entry.error is not None and entry.error.code == "connection_disconnected"
    assert entry.error.cause is not None and "late-1" in entry.error.cause


def test_disconnected_connection_with_its_secret_deleted_is_still_acknowledged() -> None:
    intake = Intake(connection(ConnectionStatus.DISCONNECTED), secrets=Secrets(stored=None))
    raw = body()
    result = intake(raw, signed(raw))
    assert (result.status, result.outcome) == (200, IntakeOutcome.SKIPPED)
    assert intake.queue.messages == []
    assert intake.log.entries[0].outcome is Outcome.SKIPPED


def test_disconnected_connection_still_rejects_forged_deliveries() -> None:
    intake = Intake(connection(ConnectionStatus.DISCONNECTED))
    result = intake(body(), signed(body(), secret="forger"))
    _assert_generic_401(result)


# --- store failures --------------------------------------------------------------------------------------------------


def test_queue_failure_raises_so_the_crm_retries() -> None:
    intake = Intake(queue=Queue(fail=True))
    raw = body()
    with pytest.raises(StoreUnavailable):
        intake(raw, signed(raw))


def test_sync_log_failure_does_not_change_the_answer() -> None:
    class BrokenLog:
        def write(self, entry: SyncLogEntry) -> None:
            raise StoreUnavailable("table throttled")

    result = accept_webhook(
        "superoffice",
        KEY,
        WebhookRequest(url="https://api.test/", headers=signed(body(), secret="wrong"), raw_body=body()),
        verifiers=lambda name: SuperOfficeWebhooks(),
        connections=Connections(connection()),
        secrets=Secrets(),
        queue=Queue(),
        log=BrokenLog(),
    )
    assert result.status == 401
