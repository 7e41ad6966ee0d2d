"""Pure pieces of the Salesforce connector: token signature and identity URL, issued_at units, SOQL literals,
error translation, describe checks, and Outbound Message parsing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from leadbridge.crm.base import WebhookRequest
from leadbridge.crm.salesforce.client import translate
from leadbridge.crm.salesforce.describe import Describe, check_write, encode
from leadbridge.crm.salesforce.oauth import (
    SalesforceOAuth,
    ids_from_identity_url,
    issued_at_seconds,
    login_base_for,
    token_signature,
)
from leadbridge.crm.salesforce.soql import soql_like, soql_string
from leadbridge.crm.salesforce.webhooks import ACK, SalesforceWebhooks, id18
from leadbridge.errors import CrmConflict, CrmNotFound, CrmRejected, NeedsReauth, RateLimited, WebhookRejected
from leadbridge.models.crm import CrmObject


def delivery(raw_body: bytes, headers: Mapping[str, str] | None = None) -> WebhookRequest:
    """A webhook delivery as the intake hands it to a verifier."""
    return WebhookRequest(url="https://api.test/webhooks", headers=dict(headers or {}), raw_body=raw_body)


IDENTITY = "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"
# The documented real-org fixture (reference §8).
FIXTURE = (
    b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    b' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    b'<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>00D7F00000107XsUAI'
    b"</OrganizationId><ActionId>04k7F0000008V3hQAE</ActionId><SessionId xsi:nil=\"true\"/><EnterpriseUrl>"
    b"https://ap5.salesforce.com/services/Soap/c/47.0/00D7F00000107Xs</EnterpriseUrl><PartnerUrl>"
    b"https://ap5.salesforce.com/services/Soap/u/47.0/00D7F00000107Xs</PartnerUrl><Notification><Id>"
    b'04l7F000008aeAyQAI</Id><sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
    b"<sf:Id>0067F000003pmdWQAQ</sf:Id><sf:AccountId>0017F000007ydJmQAI</sf:AccountId><sf:Amount>120000.0</sf:Amount>"
    b"<sf:CloseDate>2017-04-03</sf:CloseDate><sf:LeadSource>Phone Inquiry</sf:LeadSource><sf:Name>Express Logistics "
    b"SLA</sf:Name><sf:StageName>Perception Analysis</sf:StageName></sObject></Notification></notifications>"
    b"</soapenv:Body></soapenv:Envelope>"
)


def test_signature_and_identity() -> None:
    oauth = SalesforceOAuth(client_id="c", client_secret="s3cret", login_base="https://login.salesforce.com")
    token = {"id": IDENTITY, "issued_at": "1708058728442", "access_token": "a", "instance_url": "https://x"}
    oauth._check_signature({**token, "signature": token_signature("s3cret", IDENTITY, "1708058728442")})
    with pytest.raises(NeedsReauth):
        oauth._check_signature({**token, "signature": token_signature("other", IDENTITY, "1708058728442")})
    with pytest.raises(NeedsReauth):
        oauth._check_signature(token)
    assert ids_from_identity_url(IDENTITY) == ("00Dxx0000001gPLEAY", "005xx000001SwiUAAS")
    with pytest.raises(NeedsReauth):
        ids_from_identity_url("https://login.salesforce.com/services/oauth2/userinfo")
    assert issued_at_seconds("1708058728442") == pytest.approx(1708058728.442)
    assert issued_at_seconds("1708058728") == 1708058728
    assert login_base_for("sandbox") == "https://test.salesforce.com"
    assert login_base_for("acme") == "https://acme.my.salesforce.com"
    assert login_base_for("") == "https://login.salesforce.com"


def test_soql_literals_escape_quotes_and_wildcards() -> None:
    assert soql_string("O'Brien \\ co") == "'O\\'Brien \\\\ co'"
    assert soql_like("50%_off") == "50\\%\\_off"


@pytest.mark.parametrize(("status", "body", "kind"), [
    (404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], CrmNotFound),
    (400, [{"message": "dup", "errorCode": "DUPLICATE_VALUE", "fields": ["CVR__c"]}], CrmConflict),
    (300, ["/services/data/v62.0/sobjects/Account/001"], CrmConflict),
    (403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], RateLimited),
    (401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], NeedsReauth),
    (400, [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
            "fields": ["LastName"]}], CrmRejected),
])
def test_translate(status: int, body: object, kind: type) -> None:
    error = translate("op", status, body)
    assert isinstance(error, kind)
    if isinstance(error, CrmRejected):
        assert error.fields == ["LastName"] and "REQUIRED_FIELD_MISSING: Required fields" in error.reason


def test_check_write_encodes_and_names_problems() -> None:
    describe = Describe.of({"name": "Task", "fields": [
        {"name": "Subject", "type": "combobox", "length": 255, "nillable": True, "createable": True,
         "updateable": True},
        {"name": "Status", "type": "picklist", "length": 255, "nillable": False, "createable": True,
         "updateable": True, "defaultedOnCreate": True, "restrictedPicklist": True,
         "picklistValues": [{"value": "Not Started", "active": True}, {"value": "Completed", "active": True},
                            {"value": "Retired", "active": False}]},
        {"name": "ActivityDate", "type": "date", "nillable": True, "createable": True, "updateable": True},
        {"name": "Hours__c", "type": "double", "nillable": True, "createable": True, "updateable": True},
    ]})
    body = check_write(describe, {"Subject": 42, "ActivityDate": date(2030, 1, 2), "Hours__c": Decimal("1.5")},
                       creating=True)
    assert body == {"Subject": "42", "ActivityDate": "2030-01-02", "Hours__c": 1.5}
    with pytest.raises(CrmRejected) as refused:
        check_write(describe, {"Status": "Retired", "Nope": 1}, creating=False)
    assert refused.value.fields == ["Status", "Nope"]
    with pytest.raises(CrmRejected) as cleared:
        check_write(describe, {"Status": None}, creating=False)
    assert cleared.value.fields == ["Status"]
    assert encode(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2030-01-02T03:04:05.000Z"


def test_outbound_message_fixture_parses_and_is_acked() -> None:
    hooks = SalesforceWebhooks()
    events = hooks.parse(delivery(FIXTURE))
    assert len(events) == 1
    event = events[0]
    assert event.event_id == "04l7F000008aeAyQAI" and event.object is CrmObject.DEAL
    assert event.record_id == "0067F000003pmdWQAQ" and event.account_id == "00D7F00000107XsUAI"
    assert event.payload["StageName"] == "Perception Analysis" and event.payload["action_id"] == "04k7F0000008V3hQAE"
    assert hooks.test_response(events) == (200, "text/xml", ACK)
    assert "<Ack>true</Ack>" in ACK
    assert hooks.verify(delivery(FIXTURE), "key-secret") and not hooks.verify(delivery(FIXTURE), "")
    assert id18("00D7F00000107Xs") == "00D7F00000107XsUAI"


@pytest.mark.parametrize("body", [
    b"not xml",
    b"<a/>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
    FIXTURE.replace(b"<OrganizationId>00D7F00000107XsUAI</OrganizationId>", b""),
    FIXTURE.replace(b"<Id>04l7F000008aeAyQAI</Id>", b""),
])
def test_malformed_outbound_messages_are_rejected(body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        SalesforceWebhooks().parse(delivery(body))
