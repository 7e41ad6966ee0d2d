"""`leadbridge.inbound.webhook_processing` with in-memory ports: the paths that are hard to reach over HTTP (a bug in
the middle of processing, the claim store failing, message versions). The CRM paths are covered against the
sandbox in tests/integration/test_webhook_processor.py and tests/e2e/test_webhooks_superoffice_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.errors import StoreUnavailable
from leadbridge.inbound.ports import InboundServices
from leadbridge.inbound.webhook_intake import QueuedWebhook
from leadbridge.inbound.webhook_processing import (
    Delivery,
    EventOutcome,
    RetryLater,
    UnreadableMessage,
    WebhookProcessingServices,
    log_unreadable,
    process_event,
    read_message,
)
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import WebhookEvent
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import SyncLogEntry
from leadbridge.store.webhook_events import Claim, ClaimStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Claims:
    """In-memory claims with the same rules as the table: done stays done, a live lease blocks."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: bool = False

    def claim(self, tenant: str, crm: str, event_id: str, *, token: str, lease_until: datetime, now: datetime) -> Claim:
        if self.fail:
            raise StoreUnavailable("table throttled")
        item = self.items.get(event_id)
        if item and item["status"] == "done":
            return Claim(ClaimStatus.DONE, outcome=item["outcome"])
        if item and item["lease_until"] > now:
            return Claim(ClaimStatus.BUSY)
        self.items[event_id] = {"status": "in_progress", "token": token, "lease_until": lease_until}
        return Claim(ClaimStatus.CLAIMED)

    def complete(self, tenant: str, crm: str, event_id: str, *, token: str, outcome: str, now: datetime) -> bool:
        self.items[event_id] = {"status": "done", "outcome": outcome}
        return True

    def release(self, tenant: str, crm: str, event_id: str, *, token: str) -> None:
        if self.items.get(event_id, {}).get("token") == token:
            self.items[event_id]["lease_until"] = datetime.min.replace(tzinfo=UTC)


@dataclass
class Log:
    entries: list[SyncLogEntry] = field(default_factory=list)

    def write(self, entry: SyncLogEntry) -> None:
        self.entries.append(entry)

    def write_many(self, entries: Sequence[SyncLogEntry]) -> None:
        self.entries += entries


class BrokenConnector:
    crm = "superoffice"

    def get(self, obj: Any, record_id: str) -> Any:
        raise ValueError("a bug in the connector")


def connection(**changes: Any) -> Connection:
    base = Connection(
        tenant_id="t1",
        crm="superoffice",
        status=ConnectionStatus.CONNECTED,
        account_id="Cust1",
        api_base="https://sod.example/Cust1/api/",
        secret_name="s",
        connected_by="u",
        connected_at=NOW,
        connection_key="k" * 20,
    )
    return base.model_copy(update=changes)


def services(claims: Claims, log: Log, conn: Connection | None = None) -> WebhookProcessingServices:
    inbound = InboundServices(links=None, states=None, feed=None, log=log)  # type: ignore[arg-type]
    document = default_settings("superoffice").model_dump(mode="json")
    document["objects"]["company"]["direction"] = "both"
    settings = SettingsDocument.model_validate(document)
    return WebhookProcessingServices(
        inbound=inbound,
        connections=type("Store", (), {"get": lambda self, t, c: conn or connection()})(),
        claims=claims,
        settings=lambda tenant, crm: settings,
        connector=lambda c: BrokenConnector(),  # type: ignore[arg-type,return-value]
        clock=lambda: NOW,
    )


def message(**event: Any) -> QueuedWebhook:
    data: dict[str, Any] = {
        "event_id": "e-1",
        "event": "contact.changed",
        "object": "company",
        "record_id": "7",
        "account_id": "Cust1",
        "action": "changed",
    }
    return QueuedWebhook(
        tenant_id="t1",
        crm="superoffice",
        connection_key="k" * 20,
        account_id="Cust1",
        event=WebhookEvent(**{**data, **event}),
        received_at=NOW,
    )


def test_a_bug_mid_way_releases_the_claim_logs_the_attempt_and_propagates() -> None:
    claims, log = Claims(), Log()

    with pytest.raises(ValueError, match="a bug in the connector"):
        process_event(services(claims, log), message(), Delivery(attempt=5, max_attempts=5))

    # Released: the redelivery can take it at once (no waiting for the lease).
    retry = claims.claim("t1", "superoffice", "e-1", token="next", lease_until=NOW, now=NOW)
    assert retry.status is ClaimStatus.CLAIMED
    [entry] = log.entries
    assert (entry.outcome, entry.error and entry.error.code) == ("failed", "internal_error")
    assert entry.details == {"attempt": 5, "max_attempts": 5, "dead_lettered": True}
    assert entry.error is not None and "dead-letter queue" in entry.error.message
    assert entry.correlation_id == "e-1"


def test_a_failing_claim_store_is_retried_without_touching_anything() -> None:
    log = Log()

    with pytest.raises(RetryLater) as raised:
        process_event(services(Claims(fail=True), log), message(), Delivery())

    assert raised.value.code == "store_unavailable" and log.entries == []


def test_a_live_claim_makes_the_message_wait_and_a_done_one_is_a_duplicate() -> None:
    claims, log = Claims(), Log()
    claims.items["e-1"] = {"status": "in_progress", "token": "other", "lease_until": NOW + timedelta(seconds=30)}
    with pytest.raises(RetryLater) as busy:
        process_event(services(claims, log), message(), Delivery())
    assert busy.value.code == "event_in_progress"

    claims.items["e-1"] = {"status": "done", "outcome": "updated"}
    result = process_event(services(claims, log), message(), Delivery())

    assert (result.outcome, result.reason) == (EventOutcome.DUPLICATE, "already processed (updated)")
    assert log.entries == []


@pytest.mark.parametrize(
    ("body", "reason", "tenant"),
    [
        ("{not json", "not JSON", None),
        ("[1, 2]", "not a JSON object", None),
        (json.dumps({"version": 2, "tenant_id": "t1", "crm": "superoffice"}), "version 2 is not 1", "t1"),
        (json.dumps({"version": 1, "tenant_id": "t1", "crm": "superoffice"}), "invalid at connection_key", "t1"),
    ],
)
def test_unreadable_messages_say_why_and_whose(body: str, reason: str, tenant: str | None) -> None:
    with pytest.raises(UnreadableMessage) as raised:
        read_message(body)

    assert reason in raised.value.message and raised.value.tenant == tenant
    log = Log()
    log_unreadable(log, raised.value, Delivery(attempt=1))
    assert len(log.entries) == (1 if tenant else 0)


def test_a_queued_message_reads_back_as_it_was_queued() -> None:
    queued = message(event="sale.sold", object="deal", action="won")

    assert read_message(queued.model_dump_json()) == queued
