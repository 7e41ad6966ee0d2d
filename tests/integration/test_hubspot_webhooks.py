"""HubSpot's app-level webhooks over real HTTP: the HubSpot sandbox signs (v3, the app's client secret) and POSTs
batched events to the local gateway's `POST /webhooks/hubspot`; template.yaml's WebhookIntakeFunction verifies them
and queues each event for the connection(s) of its portal in moto's WebhookQueue, read back here (the queue pump is
stopped, so nothing consumes them). Connections are saved through the connection store, as a connect leaves them:
the intake needs no connector. Records change as a portal user through the sandbox's admin API (`CRM_UI`) and as
the app through the CRM API with the installed portal's token (`INTEGRATION` + our app id)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from leadbridge import runtime
from leadbridge.inbound.webhook_intake import QueuedWebhook
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.synclog import Outcome
from local.sandbox.hubspot import HubSpotSandbox
from local.sandbox.hubspot.webhooks import WebhookAttempt
from local.stack import LocalStack
from scripts.hubspot_hsmeta import main as hsmeta_command
from tests.support.hubspot_connect import ADMIN_EMAIL, TENANT, HsConnect, hsc

__all__ = ["hsc"]  # the fixture, imported for pytest

OTHER_TENANT = "globex-hs"


@pytest.fixture(scope="module")
def hs_sandbox() -> Iterator[HubSpotSandbox]:
    # A refused delivery is retried on the very next tick (HubSpot waits minutes; the order is what matters here).
    with HubSpotSandbox(webhook_retry_delays=(0.0, 0.0, 0.0)) as server:
        yield server


class Portal:
    """The test's view: the sandbox portal with the app installed and subscribed, leadbridge's queue behind it."""

    def __init__(self, hsc: HsConnect) -> None:
        self.hsc = hsc
        self.sb = hsc.sandbox
        self.hub_id = hsc.hub_id
        self.client_id = next(cid for cid, app in self.sb.apps.items() if app.app_id == hsc.app_id)
        for event_type, prop in [("company.creation", None), ("company.propertyChange", "name"),
                                 ("company.deletion", None)]:
            self.sb.subscribe(self.client_id, event_type, prop)
        # Installing the app (a live grant) is what makes the portal's events go to it.
        token = self.sb.tokens_for(ADMIN_EMAIL, self.client_id)["access_token"]
        self.api = httpx.Client(base_url=self.sb.api_base, headers={"Authorization": f"Bearer {token}"}, timeout=15)
        self.sb.tick_webhooks()  # nothing written yet: nothing sent

    def app_creates_company(self, name: str) -> str:
        response = self.api.post("/crm/v3/objects/companies", json={"properties": {"name": name}})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def user_renames(self, company_id: str, name: str, hub_id: int | None = None) -> None:
        self.sb.update_record(hub_id or self.hub_id, "companies", company_id, {"name": name})

    def deliver(self) -> list[WebhookAttempt]:
        attempts = self.sb.tick_webhooks()
        assert attempts, "the sandbox had nothing to deliver"
        return attempts


def connect(tenant: str, account_id: str, status: ConnectionStatus = ConnectionStatus.CONNECTED) -> None:
    runtime.connection_store().save(
        Connection(
            tenant_id=tenant,
            crm="hubspot",
            status=status,
            account_id=account_id,
            api_base="http://hubspot-sandbox/",
            secret_name=f"leadbridge/local/tenants/{tenant}/hubspot",
            connected_by=f"admin@{tenant}",
            connected_at=datetime.now(UTC),
            connection_key=secrets.token_urlsafe(24),
        )
    )


def drain(stack: LocalStack) -> list[QueuedWebhook]:
    sqs = boto3.client("sqs")
    url = stack.resources.webhook_queue_url
    found: list[QueuedWebhook] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not got.get("Messages"):
            return found
        for message in got["Messages"]:
            found.append(QueuedWebhook.model_validate_json(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def portal(hsc: HsConnect) -> Iterator[Portal]:
    hsc.stack.pump.stop()  # the queue is read by the test, not by WebhookProcessorFunction
    view = Portal(hsc)
    connect(TENANT, str(hsc.hub_id))
    yield view
    view.api.close()


def changes(queued: list[QueuedWebhook]) -> list[tuple[str, str, str | None, str | None]]:
    return sorted((q.tenant_id, q.event.event, q.event.record_id, q.event.payload.get("propertyValue"))
                  for q in queued)


def test_a_users_change_is_queued_for_the_tenant_and_the_apps_own_write_is_not(portal: Portal) -> None:
    company_id = portal.app_creates_company("Acme ApS")
    [own] = portal.deliver()
    # HubSpot reported our write (as ours) and leadbridge acknowledged it ...
    assert own.status == 200
    assert {(e["subscriptionType"], e["changeSource"], e["sourceId"]) for e in own.events} == {
        ("company.creation", "INTEGRATION", str(portal.hsc.app_id)),
        ("company.propertyChange", "INTEGRATION", str(portal.hsc.app_id)),
    }
    # ... without queuing it: the app must not hear of its own export.
    assert drain(portal.hsc.stack) == []

    portal.user_renames(company_id, "Acme Holding ApS")
    [user] = portal.deliver()
    assert user.status == 200
    [queued] = drain(portal.hsc.stack)
    [sent] = user.events
    assert (queued.tenant_id, queued.crm, queued.account_id) == (TENANT, "hubspot", str(portal.hub_id))
    assert (queued.event.event, queued.event.object, queued.event.record_id, queued.event.action) == (
        "company.propertyChange", "company", company_id, "changed")
    assert queued.event.changed_fields == ["name"]
    assert queued.event.payload["changeSource"] == "CRM_UI"
    assert queued.event.changed_by == sent["sourceId"].removeprefix("userId:")
    assert queued.event.event_id == (
        f"{sent['portalId']}:{sent['subscriptionId']}:{sent['eventId']}:{sent['occurredAt']}")
    assert queued.connection_key == portal.hsc.connection().connection_key


def test_a_portal_connected_by_two_tenants_reaches_both(portal: Portal) -> None:
    connect(OTHER_TENANT, str(portal.hub_id))
    record = portal.sb.add_records(portal.hub_id, "companies", [{"name": "Shared A/S"}])[0]
    portal.deliver()
    queued = drain(portal.hsc.stack)
    assert changes(queued) == sorted(
        (tenant, event, record.id, value)
        for tenant in (TENANT, OTHER_TENANT)
        for event, value in (("company.creation", None), ("company.propertyChange", "Shared A/S"))
    )


def test_a_bad_signature_is_refused_with_401_and_the_retry_is_queued(portal: Portal) -> None:
    record = portal.sb.add_records(portal.hub_id, "companies", [{"name": "Retry ApS"}])[0]
    portal.sb.add_webhook_fault("bad_signature")
    [refused] = portal.deliver()
    assert refused.status == 401
    assert drain(portal.hsc.stack) == []

    [retried] = portal.deliver()  # HubSpot retries any 4xx
    assert retried.status == 200
    assert [e["eventId"] for e in retried.events] == [e["eventId"] for e in refused.events]
    assert {e["attemptNumber"] for e in retried.events} == {1}
    queued = drain(portal.hsc.stack)
    assert changes(queued) == [(TENANT, "company.creation", record.id, None),
                               (TENANT, "company.propertyChange", record.id, "Retry ApS")]
    # attemptNumber stays out of the event id, so a retry that was queued before is de-duplicated downstream.
    assert {q.event.event_id for q in queued} == {
        f"{e['portalId']}:{e['subscriptionId']}:{e['eventId']}:{e['occurredAt']}" for e in refused.events}


def test_a_stale_timestamp_is_refused(portal: Portal) -> None:
    portal.sb.add_records(portal.hub_id, "companies", [{"name": "Stale ApS"}])
    portal.sb.add_webhook_fault("stale_timestamp")  # correctly signed, 301 s old: a replay
    [stale] = portal.deliver()
    assert stale.status == 401
    assert drain(portal.hsc.stack) == []


def test_an_unknown_portal_is_acknowledged_and_dropped(portal: Portal) -> None:
    stranger = portal.sb.add_portal("Stranger ApS")
    user = portal.sb.add_user(stranger.hub_id, "someone@stranger.test")
    portal.sb.tokens_for("someone@stranger.test", portal.client_id)  # installed there, never connected to leadbridge
    record = portal.sb.add_records(stranger.hub_id, "companies", [{"name": "Nobody's"}], user_id=user.user_id)[0]
    portal.user_renames(record.id, "Still nobody's", hub_id=stranger.hub_id)
    attempts = portal.deliver()
    # 200, or HubSpot would re-send it for a day.
    assert [a.status for a in attempts] == [200] * len(attempts) and attempts[0].hub_id == stranger.hub_id
    assert drain(portal.hsc.stack) == []
    assert portal.sb.pending_webhook_events() == []


def test_a_disconnected_tenant_is_acknowledged_and_told_in_its_sync_log(portal: Portal) -> None:
    connect(TENANT, str(portal.hub_id), ConnectionStatus.DISCONNECTED)
    portal.sb.add_records(portal.hub_id, "companies", [{"name": "Late ApS"}])
    [late] = portal.deliver()
    assert late.status == 200
    assert drain(portal.hsc.stack) == []
    entries = runtime.sync_log().query(TENANT).items
    assert [(e.outcome, e.error.code if e.error else None) for e in entries] == [
        (Outcome.SKIPPED, "connection_disconnected")]


def test_a_duplicated_event_is_queued_once(portal: Portal) -> None:
    portal.sb.add_records(portal.hub_id, "companies", [{"name": "Twice ApS"}])
    portal.sb.add_webhook_fault("duplicate_event")
    [delivery] = portal.deliver()
    assert delivery.status == 200
    assert len(delivery.events) == 3  # creation, propertyChange, and the creation again with the same eventId
    assert len({e["eventId"] for e in delivery.events}) == 2
    queued = drain(portal.hsc.stack)
    assert sorted(q.event.event for q in queued) == ["company.creation", "company.propertyChange"]


@pytest.mark.parametrize(("crm", "status"), [("superoffice", 404), ("nosuchcrm", 404)])
def test_the_app_level_route_refuses_crms_without_app_webhooks(portal: Portal, crm: str, status: int) -> None:
    response = httpx.post(f"{portal.hsc.stack.gateway_url}/webhooks/{crm}", content=b"[]",
                          headers={"content-type": "application/json"})
    body: dict[str, Any] = response.json()
    assert (response.status_code, body["error"]["code"]) == (status, "unsupported_crm"), body


def test_the_generated_hsmeta_configures_the_app_that_delivers_to_the_gateway(
    portal: Portal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_API_URL", portal.hsc.stack.gateway_url)
    monkeypatch.delenv("HUBSPOT_WEBHOOK_URL")
    out = tmp_path / "webhooks" / "webhooks-hsmeta.json"
    assert hsmeta_command(["--defaults", "--out", str(out)]) == 0
    meta = json.loads(out.read_text())
    assert meta["config"]["settings"]["targetUrl"] == f"{portal.hsc.stack.gateway_url}/webhooks/hubspot"
    portal.sb.configure_webhooks(portal.client_id, meta)  # what `hs project upload` does with the file

    [company] = portal.sb.add_records(portal.hub_id, "companies", [{"name": "Meta ApS"}])
    portal.deliver()
    portal.sb.update_record(portal.hub_id, "companies", company.id, {"industry": "ACCOUNTING"})  # not mapped
    assert portal.sb.tick_webhooks() == []
    portal.sb.update_record(portal.hub_id, "companies", company.id, {"numberofemployees": "12"})
    [mapped] = portal.deliver()
    assert mapped.status == 200
    assert [(q.event.event, q.event.changed_fields) for q in drain(portal.hsc.stack)] == [
        ("object.creation", []), ("object.propertyChange", ["name"]), ("object.propertyChange", ["numberofemployees"])]
