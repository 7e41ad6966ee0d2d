"""Connecting Salesforce as an admin would, through the local gateway (template routes, JWT authorizer, handlers) and
the Salesforce sandbox (login host with PKCE, instance REST API, revocation), with moto for DynamoDB, Secrets Manager,
SQS. Then Outbound Messages from the org to the connection's webhook URL: the intake answers the SOAP Ack Salesforce
waits for, queues the event, and refuses messages of any other org.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest

from local.sandbox.salesforce.outbound import Notification, envelope
from tests.support.salesforce_connect import ADMIN_EMAIL, TENANT, SfConnect
from tests.support.waiting import wait_until


def test_connect_round_trip(sfc: SfConnect) -> None:
    url = sfc.sign_in_url()
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["scope"] == ["api refresh_token"]
    assert query["redirect_uri"] == [f"{sfc.stack.gateway_url}/oauth/salesforce/callback"]

    assert sfc.connect() == {"status": "connected", "crm": "salesforce"}

    status = sfc.status()
    assert status["status"] == "connected" and status["account_id"] == sfc.org_id
    assert status["api_base"] == sfc.sandbox.instance_url  # instance_url, not the login host
    assert status["account_name"] == "Connect Test Inc"  # the org's name, from its Organization record
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

    def found() -> logging.LogRecord | None:
        for record in caplog.records:
            facts = record.__dict__
            if record.getMessage() == message and event_id in (facts.get("event_id"), *(facts.get("events") or [])):
                return record
        return None

    wait_until(found, what=f"a {message!r} log for {event_id}")
    record = found()
    assert record is not None
    return record


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


def test_disconnect_revokes_at_salesforce_and_says_what_to_remove_in_setup(sfc: SfConnect) -> None:
    sfc.connect()
    refresh = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=sfc.connection().secret_name)["SecretString"])["refresh_token"]
    url = sfc.webhook_url()
    response = sfc.http.delete("/connections/salesforce", headers=sfc.auth())
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["revoked_at_crm"] is True
    assert sfc.sandbox.refresh_grants[refresh].revoked
    assert sfc.status()["status"] == "disconnected"
    # Outbound Messages live in the org's Setup: nothing was removed, and the admin reads what to remove.
    assert result["webhook_removed"] is False
    remove, keep = result["webhook_manual_removal"]
    assert url in remove and "Account, Contact, Opportunity" in remove and "Outbound Message" in remove
    assert "same Salesforce org" in keep


def test_a_reauthorization_keeps_the_setup_step_the_url_and_the_first_connection(sfc: SfConnect) -> None:
    sfc.connect()
    admin = sfc.auth(TENANT, "admin")
    before = sfc.http.get("/connections/salesforce", headers=admin).json()

    assert sfc.connect() == {"status": "connected", "crm": "salesforce"}  # e.g. after needs_reauth, or to refresh

    after = sfc.http.get("/connections/salesforce", headers=admin).json()
    assert after["webhook_setup"] is not None and after["webhook_setup"] == before["webhook_setup"]
    assert after["webhook_setup"]["target_url"] == before["webhook_setup"]["target_url"] == sfc.webhook_url()
    assert after["connected_at"] > before["connected_at"]
    assert after["first_connected_at"] == before["first_connected_at"] == before["connected_at"]
    assert after["account_name"] == "Connect Test Inc"


@pytest.mark.parametrize(("signs_in_as", "landed"), [("other.admin@sf-connect.test", "error"), (ADMIN_EMAIL, "ok")])
def test_same_email_rule_against_the_salesforce_identity(sfc: SfConnect, signs_in_as: str, landed: str) -> None:
    # The tenant asks for the same e-mail in both systems; Salesforce tells the user's e-mail in its identity.
    sfc.sandbox.add_user(sfc.org_id, "other.admin@sf-connect.test", name="Other Admin", is_admin=True)
    token = sfc.stack.token(TENANT, "admin", sub=f"admin-of-{TENANT}", email=ADMIN_EMAIL)
    started = sfc.http.post(
        "/connections/salesforce/authorize",
        json={"return_url": sfc.return_url, "require_same_email": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert started.status_code == 200, started.text
    consent = sfc.http.get(f"{started.json()['authorization_url']}&{urlencode({'sandbox_login': signs_in_as})}")
    back = sfc.http.get(consent.headers["location"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["location"]).query).items()}

    if landed == "error":
        assert query == {"status": "error", "error": "email_mismatch", "crm": "salesforce"}
        assert sfc.status()["status"] == "disconnected"
        secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
        assert [s["Name"] for s in secrets if f"/tenants/{TENANT}/" in s["Name"]] == []
    else:
        assert query == {"status": "connected", "crm": "salesforce"}
        assert sfc.connection().crm_user_email == ADMIN_EMAIL
