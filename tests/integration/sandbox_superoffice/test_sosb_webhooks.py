"""Webhook registration, signed delivery and the retry cycle of the SuperOffice sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac

from tests.support.waiting import GENEROUS_TIMEOUT

CTX = "Cust12345"


def superoffice_signature_ok(secret: str, raw_body: bytes, header_value: str) -> bool:
    """The documented receiver check (ref §11, SOD automation/webhook/dev/security.md), verbatim."""
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()).decode("ascii")
    return hmac.compare_digest(expected, header_value or "")


def register(tenant, receiver, events, secret="Something Super Secret"):  # type: ignore[no-untyped-def]
    response = tenant.api.post("/Webhook", json={"Name": "Tonys handler", "Events": events,
                                                 "TargetUrl": receiver.url, "Secret": secret, "State": "Active",
                                                 "Type": "webhook"})
    assert response.status_code == 200, response.text
    return response.json()


def test_registration_sends_a_test_post_and_fails_without_200(tenant, receiver) -> None:  # type: ignore[no-untyped-def]
    hook = register(tenant, receiver, ["contact.created"])
    assert hook["WebhookId"] > 0 and hook["State"] == "Active" and hook["_Links"]["Self"]
    headers, body = receiver.requests[0]
    assert headers["X-Hook-Test"] == "true"
    test_event = receiver.bodies()[0]
    assert (test_event["Event"], test_event["Entity"], test_event["PrimaryKey"],
            test_event["ContextIdentifier"]) == ("test", "test", 0, "Default")
    assert superoffice_signature_ok("Something Super Secret", body, headers["X-Superoffice-Signature"])

    receiver.statuses.append(500)
    refused = tenant.api.post("/Webhook", json={"Name": "x", "Events": ["contact.created"],
                                                "TargetUrl": receiver.url, "Secret": "s"})
    assert refused.status_code == 400 and "500" in refused.json()["ErrorMessage"]
    not_https = tenant.api.post("/Webhook", json={"Name": "x", "Events": ["contact.created"],
                                                  "TargetUrl": "http://example.com/hook"})
    assert not_https.status_code == 400 and "https" in not_https.json()["ErrorMessage"]
    listed = tenant.api.get("/Webhook").json()
    assert [h["WebhookId"] for h in listed] == [hook["WebhookId"]]
    result = tenant.api.post("/Webhook/Test", json={"Name": "t", "Events": ["contact.created"],
                                                    "TargetUrl": receiver.url}).json()
    assert result["Success"] is True


def test_events_are_signed_and_shaped_as_documented(tenant, receiver) -> None:  # type: ignore[no-untyped-def]
    register(tenant, receiver, ["contact.created", "contact.changed", "contact.deleted", "sale.sold",
                                "sale.changed"])
    cid = tenant.api.post("/Contact", json={"Name": "Hook ApS"}).json()["ContactId"]
    tenant.api.patch(f"/Contact/{cid}", json={"Name": "Hook A/S"})
    tenant.sb.update(CTX, "contact", cid, {"Department": "Admin made"}, as_associate=7)  # admin change fires too
    sale = tenant.api.post("/Sale", json={"Contact": {"ContactId": cid}, "Heading": "Deal"}).json()
    tenant.api.patch(f"/Sale/{sale['SaleId']}", json=[{"op": "replace", "path": "Status", "value": "Sold"}])
    tenant.api.delete(f"/Contact/{cid}")
    deliveries = tenant.sb.wait_for_deliveries(lambda d: len([x for x in d if not x.test]) >= 6, GENEROUS_TIMEOUT)
    events = [d for d in deliveries if not d.test]
    assert [d.event for d in events] == ["contact.created", "contact.changed", "contact.changed",
                                         "sale.changed", "sale.sold", "contact.deleted"]
    for d in events:
        assert d.status == 200
        assert superoffice_signature_ok("Something Super Secret", d.body, d.headers["X-SuperOffice-Signature"])
        assert d.headers["X-SuperOffice-Event"] == d.event and d.headers["X-SuperOffice-EventId"] == d.event_id
        assert d.headers["Content-Type"] == "application/json; charset=utf-8"
    created, changed, admin_changed = (e.json() for e in events[:3])
    assert created["ContextIdentifier"] == CTX and created["PrimaryKey"] == cid and created["Entity"] == "contact"
    assert created["ChangedByAssociateId"] == 5 and created["WebhookName"] == "Tonys handler"
    assert created["FieldValues"]["name"] == "Hook ApS" and created["FieldValues"]["DeletedDate"] == \
        "0001-01-01T00:00:00"
    assert "name" in changed["Changes"] and "updated" in changed["Changes"]
    assert admin_changed["ChangedByAssociateId"] == 7 and "department" in admin_changed["Changes"]
    deleted = events[-1].json()
    assert deleted["Changes"] == [] and deleted["Values"]["contact_id"] == cid
    assert events[4].json()["FieldValues"]["status"] == 2  # Sold
    assert len({d.event_id for d in events}) == 6


def test_retry_cycle_then_too_many_errors(tenant, receiver) -> None:  # type: ignore[no-untyped-def]
    hook = register(tenant, receiver, ["contact.created"])
    receiver.statuses.extend([503, 503, 200])  # first cycle: fails twice, third attempt succeeds
    tenant.sb.create(CTX, "contact", {"Name": "One"})
    first = tenant.sb.wait_for_deliveries(lambda d: any(x.status == 200 and not x.test for x in d), GENEROUS_TIMEOUT)
    cycle = [d for d in first if not d.test]
    assert [d.status for d in cycle] == [503, 503, 200]
    assert [d.headers.get("X-SuperOffice-Retry") for d in cycle] == [None, "1", "2"]
    assert len({d.event_id for d in cycle}) == 1  # stable within a cycle
    state = tenant.api.get(f"/Webhook/{hook['WebhookId']}").json()
    assert state["ConsecutiveErrors"] == 0 and state["TotalErrors"] == 2 and state["TotalCalls"] == 3

    receiver.statuses.extend([500] * 9)
    for i in range(3):
        tenant.sb.create(CTX, "contact", {"Name": f"Fail {i}"})
    tenant.sb.wait_for_deliveries(lambda d: len([x for x in d if not x.test]) >= 12, GENEROUS_TIMEOUT)
    state = tenant.api.get(f"/Webhook/{hook['WebhookId']}").json()
    assert state["State"] == "TooManyErrors" and state["ConsecutiveErrors"] == 3
    assert state["LastError"].startswith("HTTP 500")
    failed_cycles = [d for d in tenant.sb.deliveries if not d.test][3:]
    assert len({d.event_id for d in failed_cycles}) == 3  # each cycle has its own EventId

    before = len(tenant.sb.deliveries)
    tenant.sb.create(CTX, "contact", {"Name": "Not delivered"})
    assert tenant.api.get("/Webhook", params={"statusFilter": "TooManyErrors"}).json()[0]["State"] == \
        "TooManyErrors"
    reactivated = tenant.api.patch(f"/Webhook/{hook['WebhookId']}", json={"State": "Active"})
    assert reactivated.status_code == 200 and reactivated.json()["ConsecutiveErrors"] == 0
    tenant.sb.create(CTX, "contact", {"Name": "Delivered again"})
    after = tenant.sb.wait_for_deliveries(lambda d: any(x.json().get("PrimaryKey") and not x.test
                                                        and x.json()["FieldValues"]["name"] == "Delivered again"
                                                        for x in d), GENEROUS_TIMEOUT)
    names = [d.json()["FieldValues"]["name"] for d in after[before:] if not d.test]
    assert "Not delivered" not in names and "Delivered again" in names


def test_webhook_api_can_be_switched_off(tenant) -> None:  # type: ignore[no-untyped-def]
    tenant.sb.webhooks_enabled = False
    try:
        assert tenant.api.get("/Webhook").status_code == 403
    finally:
        tenant.sb.webhooks_enabled = True
