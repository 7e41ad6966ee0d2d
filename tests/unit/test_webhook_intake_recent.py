"""The webhook intake's remembered connections (`RecentConnections`): a burst to one key costs one lookup, and a
remembered connection is trusted only to accept; every other answer is decided on a fresh read.

`accept_webhook` runs over in-memory stand-ins of its ports that keep state like the real adapters (the connection
store by key, a per-container secret cache that `fresh=True` refreshes, the queue, the log) and the real SuperOffice
verifier; the clock is a counter the test moves. The integration tests run the intake through the handler and moto.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from leadbridge.crm.superoffice.webhooks import SuperOfficeWebhooks
from leadbridge.inbound.webhook_intake import IntakeOutcome, IntakeResult, RecentConnections, accept_webhook
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.synclog import Outcome, SyncLogEntry
from leadbridge.store.queue import QueueMessage

KEY = "Qm9vLWtleS1mb3ItdGVzdHMtMDAx"
OTHER_KEY = "T3RoZXIta2V5LWZvci10ZXN0cy0w"
ACCOUNT = "Cust12345"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TTL = 15.0


class Store:
    """The connection store by webhook key; counts reads."""

    def __init__(self) -> None:
        self.by_key: dict[str, Connection] = {}
        self.reads = 0

    def by_webhook_key(self, connection_key: str) -> Connection | None:
        self.reads += 1
        return self.by_key.get(connection_key)


class Secrets:
    """A per-container cache over a secret store: `fresh=True` reads the store (and caches what it found)."""

    def __init__(self, stored: str | None) -> None:
        self.stored = stored
        self.cached = stored
        self.fresh_reads = 0

    def secret_for(self, connection: Connection, *, fresh: bool = False) -> str | None:
        if fresh:
            self.fresh_reads += 1
            self.cached = self.stored
        return self.cached


class Queue:
    def __init__(self) -> None:
        self.messages: list[QueueMessage] = []

    def send_all(self, messages: Sequence[QueueMessage]) -> None:
        self.messages.extend(messages)


class Log:
    def __init__(self) -> None:
        self.entries: list[SyncLogEntry] = []

    def write(self, entry: SyncLogEntry) -> None:
        self.entries.append(entry)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connection(status: ConnectionStatus = ConnectionStatus.CONNECTED, *, account: str = ACCOUNT,
               key: str = KEY) -> Connection:
    return Connection(
        tenant_id="tenant-a",
        crm="superoffice",
        status=status,
        account_id=account,
        api_base="https://sod.superoffice.com/Cust12345/api",
        secret_name="leadbridge/test/tenants/tenant-a/superoffice",
        connected_by="admin",
        connected_at=NOW,
        connection_key=key,
    )


def body(event_id: str = "e-1", *, account: str = ACCOUNT) -> bytes:
    return json.dumps({
        "EventId": event_id, "Event": "contact.changed", "PrimaryKey": 18, "Entity": "contact",
        "ContextIdentifier": account, "Changes": ["name"], "Timestamp": "2026-03-01T11:59:58Z",
    }).encode()


def signed(raw: bytes, secret: str) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-SuperOffice-Signature": signature}


class Intake:
    def __init__(self, *, secret: str | None = "s1", max_entries: int = 1024) -> None:
        self.store = Store()
        self.store.by_key[KEY] = connection()
        self.clock = Clock()
        self.connections = RecentConnections(self.store, ttl_seconds=TTL, max_entries=max_entries, clock=self.clock)
        self.secrets = Secrets(secret)
        self.queue = Queue()
        self.log = Log()

    def deliver(self, raw: bytes, secret: str, *, key: str = KEY) -> IntakeResult:
        return accept_webhook(
            "superoffice", key, signed(raw, secret), raw,
            verifiers=lambda name: {"superoffice": SuperOfficeWebhooks()}[name],
            connections=self.connections, secrets=self.secrets, queue=self.queue, log=self.log,
            now=lambda: NOW,
        )


def test_a_burst_to_one_key_reads_the_connection_once() -> None:
    intake = Intake()
    results = [intake.deliver(body(f"e-{n}"), "s1") for n in range(5)]
    assert [r.outcome for r in results] == [IntakeOutcome.ACCEPTED] * 5
    assert (intake.store.reads, len(intake.queue.messages)) == (1, 5)


def test_the_connection_is_read_again_once_its_time_is_up() -> None:
    intake = Intake()
    intake.deliver(body("e-1"), "s1")
    intake.clock.now += TTL - 0.1
    intake.deliver(body("e-2"), "s1")
    assert intake.store.reads == 1
    intake.clock.now += 0.1
    intake.deliver(body("e-3"), "s1")
    assert intake.store.reads == 2


def test_an_unknown_key_is_never_remembered() -> None:
    intake = Intake()
    for _ in range(3):
        assert intake.deliver(body(), "s1", key=OTHER_KEY).status == 401
    assert intake.store.reads == 3


def test_a_disconnected_connection_is_never_remembered_and_always_skipped() -> None:
    intake = Intake()
    intake.store.by_key[KEY] = connection(ConnectionStatus.DISCONNECTED)
    results = [intake.deliver(body(f"late-{n}"), "s1") for n in range(2)]
    assert [r.outcome for r in results] == [IntakeOutcome.SKIPPED] * 2
    assert (intake.store.reads, intake.queue.messages) == (2, [])
    assert [e.outcome for e in intake.log.entries] == [Outcome.SKIPPED] * 2


def test_a_rotated_secret_is_honoured_while_the_connection_is_remembered() -> None:
    intake = Intake()
    intake.deliver(body("e-1"), "s1")
    intake.secrets.stored = "s2"  # re-registered webhook: the CRM signs with the new secret at once

    result = intake.deliver(body("e-2"), "s2")

    assert result.outcome is IntakeOutcome.ACCEPTED
    assert intake.secrets.fresh_reads == 1
    assert intake.store.reads == 1  # the connection itself did not change


def test_a_disconnect_seen_on_the_fresh_read_decides_a_delivery_the_memory_cannot_accept() -> None:
    intake = Intake()
    intake.deliver(body("e-1"), "s1")
    # Disconnected elsewhere: the record says so and the secret is gone (this container's cache is refreshed by the
    # mismatch below). A delivery the remembered connection cannot verify is decided on a fresh read: skipped, as
    # before there was any memory.
    intake.store.by_key[KEY] = connection(ConnectionStatus.DISCONNECTED)
    intake.secrets.stored = None
    intake.secrets.cached = None

    result = intake.deliver(body("late-1"), "s1")

    assert (result.status, result.outcome) == (200, IntakeOutcome.SKIPPED)
    assert intake.store.reads == 2
    [entry] = intake.log.entries  # written once, by the fresh decision
    assert entry.outcome is Outcome.SKIPPED
    assert len(intake.queue.messages) == 1  # only e-1


def test_within_the_window_a_correctly_signed_delivery_after_a_disconnect_is_still_queued() -> None:
    # The documented trade-off: the processor reads the connection again and skips it (see webhook_processing).
    intake = Intake()
    intake.deliver(body("e-1"), "s1")
    intake.store.by_key[KEY] = connection(ConnectionStatus.DISCONNECTED)

    assert intake.deliver(body("e-2"), "s1").outcome is IntakeOutcome.ACCEPTED
    intake.clock.now += TTL
    assert intake.deliver(body("e-3"), "s1").outcome is IntakeOutcome.SKIPPED


@pytest.mark.parametrize("case", ["forged", "foreign account"])
def test_a_rejection_is_decided_and_logged_once_on_a_fresh_read(case: str) -> None:
    intake = Intake()
    intake.deliver(body("e-1"), "s1")
    raw = body("e-2", account="Cust99999") if case == "foreign account" else body("e-2")

    result = intake.deliver(raw, "forger" if case == "forged" else "s1")

    assert (result.status, result.outcome) == (401, IntakeOutcome.REJECTED)
    assert intake.store.reads == 2
    assert len(intake.log.entries) == 1
    # The fresh read found the connection connected, so it is remembered again for the deliveries that follow.
    intake.deliver(body("e-3"), "s1")
    intake.deliver(body("e-4"), "s1")
    assert intake.store.reads == 2


def test_memory_is_bounded() -> None:
    intake = Intake(max_entries=2)
    keys = [f"{n}" * 20 for n in range(1, 4)]
    for key in keys:
        intake.store.by_key[key] = connection(key=key)
        intake.deliver(body(key), "s1", key=key)
    assert intake.connections.remembered(keys[0]) is None  # the oldest went first
    assert [intake.connections.remembered(k) is not None for k in keys[1:]] == [True, True]
