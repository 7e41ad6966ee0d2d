"""Connecting Salesforce as an admin would, through the local gateway (template routes, JWT authorizer, handlers) and
the Salesforce sandbox (login host with PKCE, instance REST API, revocation), with moto for DynamoDB, Secrets Manager,
SQS. Then Outbound Messages from the org to the connection's webhook URL: the intake answers the SOAP Ack Salesforce
waits for, queues the event, and refuses messages of any other org.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from leadbridge.models.connection import Connection
from local.sandbox.salesforce import SalesforceSandbox
from local.sandbox.salesforce.outbound import Notification, envelope
from local.stack import LocalStack

ADMIN_EMAIL = "admin@sf-connect.test"
TENANT = "acme-sf"


@pytest.fixture(scope="module")
def sf_sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(outbound_background=False) as server:
        yield server


class SfConnect:
    def __init__(self, stack: LocalStack, sandbox: SalesforceSandbox, http: httpx.Client, org_id: str) -> None:
        self.stack = stack
        self.sandbox = sandbox
        self.http = http
        self.org_id = org_id
        self.return_url = f"{stack.gateway_url}/swagger"

    def auth(self, tenant: str = TENANT, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token(tenant, role, sub=f'{role}-of-{tenant}')}"}

    def sign_in_url(self, tenant: str = TENANT) -> str:
        """Ask leadbridge to connect; follow any leadbridge hop to the Salesforce authorize page."""
        response = self.http.post("/connections/salesforce/authorize", json={"return_url": self.return_url},
                                  headers=self.auth(tenant))
        assert response.status_code == 200, response.text
        url = str(response.json()["authorization_url"])
        while url.startswith(self.stack.gateway_url):
            hop = self.http.get(url)
            assert hop.status_code == 302, hop.text
            url = hop.headers["location"]
        assert url.startswith(f"{self.sandbox.login_base}/services/oauth2/authorize?")
        return url

    def connect(self, tenant: str = TENANT, email: str = ADMIN_EMAIL) -> dict[str, str]:
        consent = self.http.get(f"{self.sign_in_url(tenant)}&{urlencode({'sandbox_login': email})}")
        assert consent.status_code == 302, consent.text
        callback = consent.headers["location"]
        assert callback.startswith(f"{self.stack.gateway_url}/oauth/salesforce/callback?")
        landed = self.http.get(callback)
        assert landed.status_code == 302, landed.text
        location = landed.headers["location"]
        assert location.startswith(self.return_url + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def status(self, tenant: str = TENANT) -> dict[str, Any]:
        response = self.http.get("/connections/salesforce", headers=self.auth(tenant, "member"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def connection(self, tenant: str = TENANT) -> Connection:
        found = runtime.connection_store().get(tenant, "salesforce")
        assert found is not None
        return found

    def webhook_url(self, tenant: str = TENANT) -> str:
        return f"{self.stack.gateway_url}/webhooks/salesforce/{self.connection(tenant).connection_key}"


@pytest.fixture
def sfc(stack: LocalStack, sf_sandbox: SalesforceSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[SfConnect]:
    stack.reset_aws()
    sf_sandbox.reset()
    org = sf_sandbox.add_org("Connect Test Inc")
    sf_sandbox.add_user(org.org_id, ADMIN_EMAIL, name="Sam Admin", is_admin=True)
    app = sf_sandbox.register_app([f"{stack.gateway_url}/oauth/salesforce/callback"], client_secret="sf-app-secret")
    monkeypatch.setenv("SALESFORCE_LOGIN_BASE", sf_sandbox.login_base)
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", app.client_id)
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", app.client_secret)
    monkeypatch.delenv("SALESFORCE_CLIENT_SECRET_NAME", raising=False)
    runtime.reset()
    reset_providers()
    with httpx.Client(base_url=stack.gateway_url, timeout=15, follow_redirects=False) as http:
        yield SfConnect(stack, sf_sandbox, http, org.org_id)
    runtime.reset()
    reset_providers()


def test_connect_round_trip(sfc: SfConnect) -> None:
    url = sfc.sign_in_url()
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["api refresh_token"]
    assert query["redirect_uri"] == [f"{sfc.stack.gateway_url}/oauth/salesforce/callback"]

    assert sfc.connect() == {"status": "connected", "crm": "salesforce"}

    status = sfc.status()
    assert status["status"] == "connected" and status["account_id"] == sfc.org_id
    assert status["api_base"] == sfc.sandbox.instance_url  # instance_url, not the login host
    # Outbound Messages are set up in Salesforce Setup; the registration records that and the secret URL key.
    assert status["webhook_status"] == "registered"
    grant = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=sfc.connection().secret_name)["SecretString"])
    assert grant["account_id"] == sfc.org_id and grant["refresh_token"] and grant["expires_at"]
    assert grant["user_email"] == ADMIN_EMAIL


def test_outbound_message_is_acked_queued_and_processed(sfc: SfConnect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="leadbridge")
    sfc.connect()
    sfc.sandbox.add_outbound_message(sfc.org_id, "Account", sfc.webhook_url(), ["Id", "Name", "Website"])
    account = sfc.sandbox.create(sfc.org_id, "Account", {"Name": "Pushed A/S", "Website": "pushed.dk"})

    attempts = sfc.sandbox.tick_outbound()

    assert len(attempts) == 1 and attempts[0].status == 200
    assert attempts[0].acked, "Salesforce would re-send: the answer was not the SOAP Ack"
    note_id = attempts[0].notification_ids[0]
    accepted = _log_record(caplog, "webhook accepted", note_id)
    assert accepted.__dict__["queued"] == 1 and accepted.__dict__["tenant_id"] == TENANT
    # The local pump hands the queued event to the processor (which, with the default to-CRM settings, skips it).
    processed = _log_record(caplog, "webhook event processed", note_id)
    assert processed.__dict__["event"] == "account.changed" and processed.__dict__["tenant_id"] == TENANT
    assert account.startswith("001")
    assert sfc.sandbox.tick_outbound(force=True) == []  # acknowledged: nothing left to re-send


def _log_record(caplog: pytest.LogCaptureFixture, message: str, event_id: str) -> logging.LogRecord:
    """The log record of `message` about `event_id`, waiting for the background pump when needed."""
    deadline = time.monotonic() + 15
    while True:
        for record in caplog.records:
            facts = record.__dict__
            if record.getMessage() == message and event_id in (facts.get("event_id"), *(facts.get("events") or [])):
                return record
        assert time.monotonic() < deadline, f"no {message!r} log for {event_id}"
        time.sleep(0.05)


def test_messages_of_another_org_or_key_are_refused(sfc: SfConnect) -> None:
    sfc.connect()
    foreign = Notification("04l000000000001AAA", "04k000000000001AAA", "00D000000000999AAA", "Account",
                           "001000000000001AAA", 0.0)
    body = envelope("00D000000000999AAA", foreign.action_id, "https://x", "62.0",
                    [(foreign, {"Id": "001000000000001AAA", "Name": "Forged"})])
    wrong_org = sfc.http.post(sfc.webhook_url(), content=body, headers={"Content-Type": "text/xml"})
    assert wrong_org.status_code == 401 and "Ack" not in wrong_org.text
    unknown_key = sfc.http.post("/webhooks/salesforce/" + "x" * 32, content=body,
                                headers={"Content-Type": "text/xml"})
    assert unknown_key.status_code == 401


def test_disconnect_revokes_at_salesforce(sfc: SfConnect) -> None:
    sfc.connect()
    refresh = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=sfc.connection().secret_name)["SecretString"])["refresh_token"]
    response = sfc.http.delete("/connections/salesforce", headers=sfc.auth())
    assert response.status_code == 200, response.text
    assert response.json()["revoked_at_crm"] is True
    assert sfc.sandbox.refresh_grants[refresh].revoked
    assert sfc.status()["status"] == "disconnected"
