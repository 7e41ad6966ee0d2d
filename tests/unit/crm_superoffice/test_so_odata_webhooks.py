"""OData filter building/escaping, webhook signature and event parsing, Retry-After and backoff."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest

from leadbridge.crm.base import WebhookRequest
from leadbridge.crm.http import RetryPolicy, backoff_delay, parse_retry_after
from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.webhooks import SuperOfficeWebhooks
from leadbridge.errors import WebhookRejected
from leadbridge.models.crm import CrmObject


def delivery(raw_body: bytes, headers: Mapping[str, str] | None = None) -> WebhookRequest:
    """A webhook delivery as the intake hands it to a verifier."""
    return WebhookRequest(url="https://api.test/webhooks", headers=dict(headers or {}), raw_body=raw_body)


# --- OData ---------------------------------------------------------------------------------------------------------


def test_quotes_in_values_are_doubled_so_names_cannot_break_the_filter() -> None:
    assert odata.eq("name", "O'Brien's Bar") == "name eq 'O''Brien''s Bar'"
    assert odata.begins("name", "' or 1 eq 1 or name eq '") == "name begins ''' or 1 eq 1 or name eq '''"
    assert odata.contains("email", "@acme.no") == "email contains '@acme.no'"
    assert odata.eq("contactId", 5) == "contactId eq 5"


def test_datetime_literals_are_utc_without_offset() -> None:
    cest = timezone(timedelta(hours=2))
    assert odata.after_time("updatedDate", datetime(2024, 6, 1, 12, 0, tzinfo=cest)) == (
        "updatedDate afterTime '2024-06-01T10:00:00'"
    )
    assert (
        odata.after_time("updatedDate", datetime(2024, 6, 1, 12, 0, 5)) == "updatedDate afterTime '2024-06-01T12:00:05'"
    )


def test_archive_params_use_the_spec_parameter_names() -> None:
    params = odata.archive_params(
        select=["contactId", "name"],
        filter=odata.all_of(odata.eq("orgnr", "1"), None, odata.greater_than("contactId", 10)),
        order_by="contactId",
        top=1000,
        skip=0,
    )
    assert params == {
        "$select": "contactId,name",
        "$filter": "orgnr eq '1' and contactId gt 10",
        "$orderBy": "contactId",
        "$top": "1000",
    }


# --- webhook signature ---------------------------------------------------------------------------------------------

# The documented delivery body (SOD webhook reference, as in superoffice-api.md §11) and the signature computed for it
# independently with `openssl dgst -sha256 -hmac 'Something Super Secret' -binary | base64`.
DOC_BODY = (
    b'{"EventId":"88f91933-edce-4c1a-8ded-ade8e2f72434","Timestamp":"2025-05-14T10:48:07.8912039Z",'
    b'"Changes":["contact_id","updated_associate_id","soundEx","updated","name"],"Event":"contact.changed",'
    b'"PrimaryKey":18,"Entity":"contact","ContextIdentifier":"Cust54321","ChangedByAssociateId":5,'
    b'"WebhookName":"Tonys Contact Handler","FieldValues":{"activeInterests":0,"associate_id":12,"business_idx":2,'
    b'"category_idx":4,"country_id":826,"deleted":0,"DeletedDate":"0001-01-01T00:00:00",'
    b'"registered":"2020-02-16T17:50:17","registered_associate_id":5,"source":0,'
    b'"updated":"2025-05-14T10:48:07.8912039+02:00","userdef2_id":0,"userdef_id":22}}'
)
DOC_SECRET = "Something Super Secret"
DOC_SIGNATURE = "Cusw23et7CVmulLiAzIr9Suq4FwU9XjRvSQM1DNZKbY="

hooks = SuperOfficeWebhooks()


def test_signature_matches_the_independently_computed_value_with_any_header_casing() -> None:
    for name in ("X-SuperOffice-Signature", "X-Superoffice-Signature", "x-superoffice-signature"):
        assert hooks.verify(delivery(DOC_BODY, {name: DOC_SIGNATURE}), DOC_SECRET)


@pytest.mark.parametrize(
    ("headers", "body", "secret"),
    [
        ({"X-SuperOffice-Signature": DOC_SIGNATURE}, DOC_BODY + b" ", DOC_SECRET),  # body changed by one byte
        ({"X-SuperOffice-Signature": DOC_SIGNATURE}, DOC_BODY, "another secret"),
        ({}, DOC_BODY, DOC_SECRET),  # no signature header
        ({"X-SuperOffice-Signature": DOC_SIGNATURE}, DOC_BODY, ""),  # no secret configured
        ({"X-SuperOffice-Signature": "not base64 ü"}, DOC_BODY, DOC_SECRET),
    ],
)
def test_signature_rejects_tampering_and_missing_parts(headers: dict[str, str], body: bytes, secret: str) -> None:
    assert not hooks.verify(delivery(body, headers), secret)


def test_signature_is_over_raw_bytes_not_reserialised_json() -> None:
    reserialised = json.dumps(json.loads(DOC_BODY)).encode()
    assert reserialised != DOC_BODY
    assert not hooks.verify(delivery(reserialised, {"X-SuperOffice-Signature": DOC_SIGNATURE}), DOC_SECRET)


# --- webhook parsing -----------------------------------------------------------------------------------------------


def test_parse_documented_changed_event() -> None:
    [event] = hooks.parse(delivery(DOC_BODY, {"X-SuperOffice-Event": "contact.changed"}))
    assert event.event_id == "88f91933-edce-4c1a-8ded-ade8e2f72434"
    assert (event.event, event.object, event.action, event.record_id) == (
        "contact.changed",
        CrmObject.COMPANY,
        "changed",
        "18",
    )
    assert event.account_id == "Cust54321"
    assert event.changed_by == "5"
    assert event.changed_fields == ["contact_id", "updated_associate_id", "soundEx", "updated", "name"]
    assert event.occurred_at == datetime(2025, 5, 14, 10, 48, 7, 891203, tzinfo=UTC)
    assert event.payload["category_idx"] == 4
    assert not event.is_test


@pytest.mark.parametrize(
    ("name", "entity", "obj", "action"),
    [
        ("sale.sold", "sale", CrmObject.DEAL, "won"),
        ("sale.lost", "sale", CrmObject.DEAL, "lost"),
        ("person.deleted", "person", CrmObject.PERSON, "deleted"),
        ("appointment.created", "appointment", CrmObject.ACTIVITY, "created"),
        ("project.changed", "project", None, "changed"),
    ],
)
def test_parse_maps_entities_and_actions(name: str, entity: str, obj: CrmObject | None, action: str) -> None:
    body = {
        "EventId": "e1",
        "Event": name,
        "Entity": entity,
        "PrimaryKey": 7,
        "ContextIdentifier": "Cust1",
        "Changes": [],
        "Values": {"contact_id": 5},
    }
    [event] = hooks.parse(delivery(json.dumps(body).encode()))
    assert (event.object, event.action, event.record_id) == (obj, action, "7")
    if name.endswith("deleted"):
        assert event.payload == {"contact_id": 5}  # deleted events carry Values instead of FieldValues


def test_parse_flags_test_events() -> None:
    body = {"EventId": "t1", "Event": "test", "Entity": "test", "PrimaryKey": 0, "ContextIdentifier": "Default"}
    [event] = hooks.parse(delivery(json.dumps(body).encode(), {"X-Hook-Test": "true"}))
    assert event.is_test and event.action == "test" and event.object is None and event.record_id is None
    assert hooks.test_response([event]) is None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"EventId": "x"}', "no Event"),
        (b'{"Event": "contact.created"}', "no EventId"),
        (b'{"EventId": "x", "Event": "contact.created", "Changes": "name"}', "Changes"),
        (b'{"EventId": "x", "Event": "contact.created", "PrimaryKey": {"a": 1}}', "PrimaryKey"),
    ],
)
def test_parse_rejects_malformed_bodies(raw: bytes, why: str) -> None:
    with pytest.raises(WebhookRejected) as exc:
        hooks.parse(delivery(raw))
    assert why in exc.value.message


# --- Retry-After and backoff ---------------------------------------------------------------------------------------


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert [backoff_delay(n, policy, rand=lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff_delay(3, policy, rand=lambda: 0.25) == 1.0
    assert backoff_delay(3, policy, rand=lambda: 0.0) == 0.0
