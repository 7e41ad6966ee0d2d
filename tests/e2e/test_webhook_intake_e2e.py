"""CRM webhooks over real HTTP: the SuperOffice sandbox registers a webhook pointing at the local gateway (its
registration test POST included), a CRM user changes contacts through the sandbox's REST API, the sandbox delivers
signed webhooks with its retry cycle, the gateway runs template.yaml's WebhookIntakeFunction, and the events are read
back from the WebhookQueue in moto.

The connection record and its webhook secret are stored through the connections code's own store and vault, as the
connect flow leaves them (the connect flow itself is covered by the connections tests)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from leadbridge.inbound.webhook_intake import QueuedWebhook
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.synclog import Outcome
from leadbridge.store.secret_names import webhook_secret_name
from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from local.sandbox.superoffice.webhooks import Delivery
from local.stack import LocalStack
from tests.support.waiting import GENEROUS_TIMEOUT, wait_while_progressing

CTX = "Cust54321"
TENANT = "tenant-e2e-webhooks"
GRANT_SECRET = f"leadbridge/local/tenants/{TENANT}/superoffice"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    # Retry delays (1 s, 4 s) scaled down so a rejected delivery's whole cycle takes milliseconds.
    with SuperOfficeSandbox(webhook_delay_factor=0.01, spec_check=False) as server:
        yield server


class Crm:
    """A SuperOffice admin user of customer CTX, calling the sandbox's REST API."""

    def __init__(self, sandbox: SuperOfficeSandbox) -> None:
        sandbox.reset()
        sandbox.add_customer(CTX, "Leadbridge Test AS")
        sandbox.add_user(CTX, "admin@cust54321.test", is_admin=True)
        app = sandbox.register_app(["http://127.0.0.1/callback"])
        token = sandbox.issue_tokens(CTX, "admin@cust54321.test", app.client_id)["access_token"]
        self.sandbox = sandbox
        self.http = httpx.Client(
            base_url=sandbox.webapi_url(CTX) + "v1/", headers={"Authorization": f"Bearer {token}"}, timeout=15
        )

    def register_webhook(self, url: str, secret: str, events: list[str]) -> dict[str, Any]:
        response = self.http.post(
            "Webhook", json={"Name": "leadbridge", "Events": events, "TargetUrl": url, "Secret": secret}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def create_contact(self, name: str) -> int:
        response = self.http.post("Contact", json={"Name": name})
        assert response.status_code in (200, 201), response.text
        return int(response.json()["ContactId"])

    def rename_contact(self, contact_id: int, name: str) -> None:
        contact = self.http.get(f"Contact/{contact_id}").json()
        contact["Name"] = name
        response = self.http.put(f"Contact/{contact_id}", json=contact)
        assert response.status_code == 200, response.text

    def wait_for(self, count: int) -> list[Delivery]:
        """Event deliveries (not registration tests) once `count` of them have been answered."""
        done = self.sandbox.wait_for_deliveries(
            lambda ds: len([d for d in ds if not d.test and d.status is not None]) >= count, timeout=GENEROUS_TIMEOUT
        )
        return [d for d in done if not d.test]

    def answered(self) -> int:
        return len([d for d in self.sandbox.deliveries if not d.test and d.status is not None])


@pytest.fixture
def crm(stack: LocalStack, sandbox: SuperOfficeSandbox) -> Iterator[Crm]:
    # These tests read WebhookQueue themselves: the queue pump must not feed it to WebhookProcessorFunction.
    stack.pump.stop()
    stack.reset_aws()
    runtime.reset()
    reset_providers()
    crm = Crm(sandbox)
    yield crm
    crm.http.close()
    runtime.reset()


def connect(key: str, secret: str) -> None:
    """What the connect flow leaves behind: the connection record and the webhook signing secret."""
    runtime.connection_store().save(
        Connection(
            tenant_id=TENANT,
            crm="superoffice",
            status=ConnectionStatus.CONNECTED,
            account_id=CTX,
            api_base="http://sandbox/api/",
            secret_name=GRANT_SECRET,
            connected_by="admin@tenant",
            connected_at=datetime.now(UTC),
            connection_key=key,
            webhook_secret_name=webhook_secret_name(GRANT_SECRET),
        )
    )
    runtime.token_vault().store_webhook_secret(webhook_secret_name(GRANT_SECRET), secret)


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


def target(stack: LocalStack, key: str) -> str:
    return f"{stack.gateway_url}/webhooks/superoffice/{key}"


def test_contact_change_in_the_crm_lands_in_the_webhook_queue(stack: LocalStack, crm: Crm) -> None:
    key, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)

    # As the connect flow does it: the connection record and the signing secret are stored before the webhook is
    # registered, so the sandbox's signed test POST verifies (issue #16: nothing is parsed before the signature)
    # and is answered 200, or SuperOffice refuses to save the webhook.
    connect(key, secret)
    hook = crm.register_webhook(target(stack, key), secret, ["contact.created", "contact.changed"])
    [test_post] = [d for d in crm.sandbox.deliveries if d.test]
    assert (test_post.status, test_post.headers["X-Hook-Test"]) == (200, "true")
    assert drain(stack) == []

    contact_id = crm.create_contact("Acme AS")
    crm.rename_contact(contact_id, "Acme Holding AS")

    deliveries = crm.wait_for(2)
    assert [(d.event, d.status) for d in deliveries] == [("contact.created", 200), ("contact.changed", 200)]
    queued = drain(stack)
    assert [(q.event.event, q.event.event_id) for q in queued] == [(d.event, d.event_id) for d in deliveries]
    for message in queued:
        assert (message.tenant_id, message.crm, message.account_id) == (TENANT, "superoffice", CTX)
        assert (message.event.object, message.event.record_id) == ("company", str(contact_id))
    assert queued[1].event.payload["name"] == "Acme Holding AS"
    assert "name" in queued[1].event.changed_fields
    assert hook["State"] in ("Active", 1)


def test_webhook_signed_with_another_secret_is_refused_at_registration(stack: LocalStack, crm: Crm) -> None:
    key, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    connect(key, secret)
    # Someone registers a second webhook at our URL with a secret of their own. Its test POST is signed with that
    # secret, so the intake refuses it (issue #16: test events are verified too) and SuperOffice does not save it.
    response = crm.http.post(
        "Webhook",
        json={"Name": "forged", "Events": ["contact.created"], "TargetUrl": target(stack, key),
              "Secret": "not-the-connection-secret"},
    )
    assert response.status_code == 400 and "401" in response.text, response.text
    [test_post] = [d for d in crm.sandbox.deliveries if d.test]
    assert test_post.status == 401

    crm.create_contact("Forged AS")

    assert [d for d in crm.sandbox.deliveries if not d.test] == []  # no webhook exists to deliver anything
    assert drain(stack) == []
    log = runtime.sync_log().query(TENANT).items
    assert [e.error.code for e in log if e.outcome is Outcome.FAILED] == ["webhook_signature_invalid"]


def test_burst_of_changes_is_queued_without_loss(stack: LocalStack, crm: Crm) -> None:
    key, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    connect(key, secret)
    crm.register_webhook(target(stack, key), secret, ["contact.created"])

    created = {crm.create_contact(f"Burst {i:03d} AS") for i in range(60)}

    # However long the burst takes on a busy machine: only deliveries that stop coming fail the test.
    wait_while_progressing(crm.answered, lambda answered: answered >= 60, what="the burst's webhook deliveries")
    deliveries = crm.wait_for(60)
    assert all(d.status == 200 for d in deliveries)
    queued = drain(stack)
    assert {q.event.record_id for q in queued} == {str(i) for i in created}
    assert sorted(q.event.event_id for q in queued) == sorted(d.event_id for d in deliveries)
