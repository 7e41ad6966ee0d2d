"""Webhooks v3 of the HubSpot sandbox (reference §6): subscriptions, events on CRM writes with their source, signed
batches of ≤ 100 to the app's target URL, retries on non-2xx and the drop after the last one. Deliveries happen on
`tick_webhooks()` (or `POST /__admin/webhooks/tick`), retries after moving the sandbox's clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from local.sandbox.common import LoopbackServer
from local.sandbox.hubspot import HubSpotSandbox
from local.sandbox.hubspot.webhooks import RETRY_DELAYS, signature_v1, signature_v2, signature_v3
from tests.integration.sandbox_hubspot.hub_env import ADMIN, REDIRECT_URI, SCOPES, HubEnv

# the reference's verifier (§6.4), kept independent of the sandbox's signer
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def hubspot_v3_ok(secret: str, method: str, uri: str, raw_body: bytes, ts_ms: str, sig: str, now_ms: int) -> bool:
    if abs(now_ms - int(ts_ms)) > 300_000:
        return False
    for enc, dec in _DECODE.items():
        uri = uri.replace(enc, dec).replace(enc.lower(), dec)
    msg = method.encode() + uri.encode() + raw_body + ts_ms.encode()
    expected = base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, sig or "")


@dataclass
class Receiver:
    url: str
    replies: list[int] = field(default_factory=list)  # statuses to answer in turn; 200 once empty
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Barrier | None = None  # when set, a POST is answered only once as many are in flight
    arrived: threading.Event = field(default_factory=threading.Event)  # set on every POST

    def events(self, index: int = -1) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = json.loads(self.posts[index][1])
        return batch


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        rec = box["r"]
        if rec.gate is not None:
            try:
                rec.gate.wait()
            except threading.BrokenBarrierError:
                start_response("503 X", [("Content-Type", "text/plain")])
                return [b"not concurrent"]
        with rec.lock:
            rec.posts.append((headers, body))
            rec.arrived.set()
            status = rec.replies.pop(0) if rec.replies else 200
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b""]

    server = LoopbackServer(app)
    server.start()
    box["r"] = Receiver(url=f"{server.url}/webhooks/hubspot?tenant=acme%3A1")
    try:
        yield box["r"]
    finally:
        server.stop()


def _subscribed(hub: HubEnv, receiver: Receiver, *subs: tuple[str, str | None]) -> None:
    hub.sb.set_webhook_target("cid", receiver.url)
    for event_type, prop in subs:
        hub.sb.subscribe("cid", event_type, prop)


def test_signatures_match_the_reference_test_vectors() -> None:
    body = (b'[{"eventId":531833541,"subscriptionId":3923621,"portalId":48807704,"appId":16111050,'
            b'"occurredAt":1752613920733,"subscriptionType":"contact.creation","attemptNumber":0,'
            b'"objectId":138017612137,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:76023669"}]')
    assert signature_v3("cfc68c0b-4b4e-4ef8-b764-95350e4ea479", "POST",
                        "https://webhook.site/335453f5-94b3-49d9-b684-a55354d4b8df", body, "1752613922216") \
        == "gbj1XPRvUt0noT7i7fXfTzOD4sLzQmf0VT28ZYq0EYg="
    v1_body = (b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
               b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
               b'"changeFlag":"NEW","appId":54321}]')
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    assert signature_v1(secret, v1_body) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    assert signature_v2(secret, "GET", "https://www.example.com/webhook_uri", b"") \
        == "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"


def test_an_api_create_is_delivered_signed_as_the_apps_own_write(hub: HubEnv, receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("contact.creation", None), ("contact.propertyChange", "email"))
    contact = hub.create("contacts", email="ann@acme.test", firstname="Ann")
    attempts = hub.sb.tick_webhooks()
    assert [a.status for a in attempts] == [200]
    headers, body = receiver.posts[0]
    now_ms = int(hub.clock() * 1000)
    assert headers["x-hubspot-request-timestamp"] == str(now_ms)
    assert hubspot_v3_ok("sec", "POST", receiver.url, body, headers["x-hubspot-request-timestamp"],
                         headers["x-hubspot-signature-v3"], now_ms)
    assert not hubspot_v3_ok("other-secret", "POST", receiver.url, body, headers["x-hubspot-request-timestamp"],
                             headers["x-hubspot-signature-v3"], now_ms)
    assert headers["x-hubspot-signature-version"] == "v1"
    assert headers["x-hubspot-signature"] == hashlib.sha256(b"sec" + body).hexdigest()
    creation, change = receiver.events()
    app_id = hub.sb.apps["cid"].app_id
    assert creation == {"eventId": creation["eventId"], "subscriptionId": creation["subscriptionId"],
                        "portalId": hub.hub_id, "appId": app_id, "occurredAt": int(hub.clock() * 1000),
                        "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": int(contact["id"]),
                        "changeFlag": "CREATED", "changeSource": "INTEGRATION", "sourceId": str(app_id)}
    assert (change["subscriptionType"], change["propertyName"], change["propertyValue"], change["sourceId"]) \
        == ("contact.propertyChange", "email", "ann@acme.test", str(app_id))
    assert hub.sb.tick_webhooks() == []  # delivered once


def test_a_ui_edit_carries_the_users_source_and_only_subscribed_changed_properties(hub: HubEnv,
                                                                                  receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("company.propertyChange", "name"), ("deal.deletion", None))
    company = hub.sb.add_record(hub.hub_id, "companies", {"name": "Acme"})
    deal = hub.sb.add_record(hub.hub_id, "deals", {"dealname": "Big"})
    hub.sb.tick_webhooks()
    receiver.posts.clear()
    admin = f"{hub.sb.app_base}/__admin/portals/{hub.hub_id}/records"
    edited = httpx.patch(f"{admin}/companies/{company.id}", json={"name": "Acme ApS", "domain": "acme.dk"})
    assert edited.status_code == 200, edited.text
    assert httpx.patch(f"{admin}/companies/{company.id}", json={"name": "Acme ApS"}).status_code == 200  # unchanged
    assert httpx.delete(f"{admin}/deals/{deal.id}").status_code == 204
    hub.api.patch(f"/crm/v3/objects/companies/{company.id}", json={"properties": {"name": "Acme A/S"}})
    tick = httpx.post(f"{hub.sb.app_base}/__admin/webhooks/tick")
    assert [a["status"] for a in tick.json()] == [200]
    ui_name, ui_delete, api_name = receiver.events()
    assert (ui_name["propertyName"], ui_name["propertyValue"], ui_name["changeSource"], ui_name["sourceId"]) \
        == ("name", "Acme ApS", "CRM_UI", f"userId:{hub.user_id}")
    assert (ui_delete["subscriptionType"], ui_delete["objectId"], ui_delete["changeSource"]) \
        == ("deal.deletion", int(deal.id), "CRM_UI")
    assert (api_name["propertyValue"], api_name["changeSource"], api_name["sourceId"]) \
        == ("Acme A/S", "INTEGRATION", str(hub.sb.apps["cid"].app_id))
    assert ui_name["occurredAt"] <= ui_delete["occurredAt"] <= api_name["occurredAt"]


def test_events_go_in_batches_of_at_most_100(hub: HubEnv, receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("contact.creation", None))
    hub.sb.add_records(hub.hub_id, "contacts", [{"email": f"c{i}@acme.test"} for i in range(150)])
    attempts = hub.sb.tick_webhooks()
    assert [len(a.events) for a in attempts] == [100, 50]
    assert len({e["eventId"] for a in attempts for e in a.events}) == 150
    assert hub.sb.pending_webhook_events() == []


def test_an_accounts_batches_are_posted_concurrently(hub: HubEnv, receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("contact.creation", None))
    hub.sb.add_records(hub.hub_id, "contacts", [{"email": f"c{i}@acme.test"} for i in range(250)])
    receiver.gate = threading.Barrier(3, timeout=5)  # all three batches must be in flight at once
    assert [(a.status, len(a.events)) for a in hub.sb.tick_webhooks()] == [(200, 100), (200, 100), (200, 50)]


def test_a_non_2xx_answer_is_retried_after_the_wait_with_the_next_attempt_number(hub: HubEnv,
                                                                                 receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("contact.creation", None))
    hub.create("contacts", email="ann@acme.test")
    receiver.replies = [401, 503]  # a 4xx (e.g. a signature the receiver rejected) is retried too (§6.3)
    assert [a.status for a in hub.sb.tick_webhooks()] == [401]
    assert hub.sb.tick_webhooks() == []  # not before its wait
    hub.clock.advance(60)
    assert [a.status for a in hub.sb.tick_webhooks()] == [503]
    hub.clock.advance(119)
    assert hub.sb.tick_webhooks() == []
    hub.clock.advance(1)
    assert [a.status for a in hub.sb.tick_webhooks()] == [200]
    first, second, third = (receiver.events(i)[0] for i in range(3))
    assert first["eventId"] == second["eventId"] == third["eventId"]
    assert [first["attemptNumber"], second["attemptNumber"], third["attemptNumber"]] == [0, 1, 2]
    assert hub.sb.pending_webhook_events() == []


def test_a_batch_is_dropped_after_ten_retries(hub: HubEnv, receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("contact.creation", None))
    hub.create("contacts", email="ann@acme.test")
    receiver.replies = [500] * 20
    started = hub.clock()
    made = hub.sb.tick_webhooks()
    for wait in RETRY_DELAYS:  # 1 min doubling: the sandbox's stand-in for HubSpot's randomised schedule
        hub.clock.advance(wait)
        made += hub.sb.tick_webhooks()
    assert [a.events[0]["attemptNumber"] for a in made] == list(range(11))  # the first POST and 10 retries
    assert hub.clock() - started < 24 * 3600
    assert hub.sb.pending_webhook_events() == []
    assert [e["objectId"] for e in hub.sb.dropped_webhook_events()] == [receiver.events()[0]["objectId"]]
    hub.clock.advance(24 * 3600)
    assert hub.sb.tick_webhooks() == []


def test_events_older_than_24_hours_are_dropped_unsent(hub: HubEnv, receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("contact.creation", None))
    hub.create("contacts", email="ann@acme.test")
    receiver.replies = [500]
    assert len(hub.sb.tick_webhooks()) == 1
    hub.clock.advance(24 * 3600 + 1)
    assert hub.sb.tick_webhooks() == []
    assert len(hub.sb.dropped_webhook_events()) == 1 and len(receiver.posts) == 1


def test_an_unreachable_target_is_retried(hub: HubEnv) -> None:
    hub.sb.set_webhook_target("cid", "http://127.0.0.1:9/nobody-listens")
    hub.sb.subscribe("cid", "contact.creation")
    hub.create("contacts", email="ann@acme.test")
    attempt, = hub.sb.tick_webhooks()
    assert attempt.status is None and attempt.error
    assert len(hub.sb.pending_webhook_events()) == 1


def test_project_app_hsmeta_subscriptions_through_the_admin_api(hub: HubEnv, receiver: Receiver) -> None:
    hsmeta = {"uid": "leadbridge_webhooks", "type": "webhooks", "config": {
        "settings": {"targetUrl": receiver.url, "maxConcurrentRequests": 10},
        "subscriptions": {
            "crmObjects": [{"subscriptionType": "object.creation", "objectType": "company", "active": True}],
            "legacyCrmObjects": [{"subscriptionType": "deal.creation", "active": False}],
        }}}
    configured = httpx.put(f"{hub.sb.app_base}/__admin/apps/cid/webhooks", json=hsmeta)
    assert configured.status_code == 200, configured.text
    assert [s["eventType"] for s in configured.json()["subscriptions"]] == ["deal.creation", "object.creation"]
    company = hub.create("companies", name="Acme")
    hub.create("deals", dealname="Big")  # its subscription is inactive
    hub.sb.tick_webhooks()
    event, = receiver.events()
    assert (event["subscriptionType"], event["objectTypeId"], event["objectId"]) \
        == ("object.creation", "0-2", int(company["id"]))
    bad = httpx.post(f"{hub.sb.app_base}/__admin/apps/cid/webhooks/subscriptions",
                     json={"eventType": "contact.propertyChange"})
    assert bad.status_code == 400 and "propertyName" in bad.json()["error"]


def test_no_events_for_an_app_without_settings_or_not_installed(hub: HubEnv, receiver: Receiver) -> None:
    hub.sb.register_app(["https://other/cb"], "other", "osec", ["oauth"])
    hub.sb.set_webhook_target("other", receiver.url)
    hub.sb.subscribe("other", "contact.creation")  # not installed in the portal
    hub.create("contacts", email="ann@acme.test")  # "cid" has no webhook settings
    assert hub.sb.tick_webhooks() == []
    assert receiver.posts == []


def test_fault_modes_a_receiver_must_survive(hub: HubEnv, receiver: Receiver) -> None:
    _subscribed(hub, receiver, ("contact.creation", None))
    for kind in ("stale_timestamp", "bad_signature", "duplicate_event", "out_of_order"):
        made = httpx.post(f"{hub.sb.app_base}/__admin/webhooks/faults", json={"kind": kind})
        assert made.status_code == 201, made.text
    unknown = httpx.post(f"{hub.sb.app_base}/__admin/webhooks/faults", json={"kind": "gremlins"})
    assert unknown.status_code == 400
    now_ms = int(hub.clock() * 1000)

    def deliver_two() -> tuple[dict[str, str], bytes]:
        hub.create("contacts", email=f"a{len(receiver.posts)}@acme.test")
        hub.clock.advance(1)
        hub.create("contacts", email=f"b{len(receiver.posts)}@acme.test")
        hub.sb.tick_webhooks()
        return receiver.posts[-1]

    headers, body = deliver_two()  # stale: signed correctly, but 301 s old
    stamp = headers["x-hubspot-request-timestamp"]
    assert int(hub.clock() * 1000) - int(stamp) == 301_000
    assert signature_v3("sec", "POST", receiver.url, body, stamp) == headers["x-hubspot-signature-v3"]
    assert not hubspot_v3_ok("sec", "POST", receiver.url, body, stamp, headers["x-hubspot-signature-v3"],
                             int(hub.clock() * 1000))
    headers, body = deliver_two()  # bad signature
    assert not hubspot_v3_ok("sec", "POST", receiver.url, body, headers["x-hubspot-request-timestamp"],
                             headers["x-hubspot-signature-v3"], int(hub.clock() * 1000))
    deliver_two()  # duplicate event
    first, second, again = receiver.events()
    assert again == first != second
    deliver_two()  # out of order
    assert [e["occurredAt"] for e in receiver.events()] == sorted((e["occurredAt"] for e in receiver.events()),
                                                                   reverse=True)
    assert receiver.events()[0]["occurredAt"] > now_ms
    headers, body = deliver_two()  # faults spent: a good delivery again
    assert hubspot_v3_ok("sec", "POST", receiver.url, body, headers["x-hubspot-request-timestamp"],
                         headers["x-hubspot-signature-v3"], int(hub.clock() * 1000))


def test_the_v3_management_api_of_legacy_public_apps(hub: HubEnv, receiver: Receiver) -> None:
    app = hub.sb.apps["cid"]
    base = f"/webhooks/v3/{app.app_id}"
    key = {"hapikey": app.developer_api_key}
    assert hub.api.get(f"{base}/settings", params={"hapikey": "wrong"}).status_code == 401
    assert hub.api.get(f"{base}/settings").status_code == 401  # a portal token is not enough
    early = hub.api.post(f"{base}/subscriptions", params=key, json={"eventType": "contact.creation"})
    assert early.status_code == 400  # no target URL yet
    settings = hub.api.put(f"{base}/settings", params=key, json={
        "targetUrl": receiver.url, "throttling": {"maxConcurrentRequests": 5, "period": "SECONDLY"}})
    assert settings.json() == {"targetUrl": receiver.url,
                               "throttling": {"maxConcurrentRequests": 5, "period": "SECONDLY"}}
    made = hub.api.post(f"{base}/subscriptions", params=key,
                        json={"eventType": "contact.propertyChange", "propertyName": "firstname", "active": False})
    assert made.status_code == 201, made.text
    sub = made.json()
    assert (sub["eventType"], sub["propertyName"], sub["active"]) == ("contact.propertyChange", "firstname", False)
    assert hub.api.post(f"{base}/subscriptions", params=key, json={"eventType": "contact.teleport"}).status_code == 400
    contact = hub.create("contacts", email="ann@acme.test", firstname="Ann")
    assert hub.sb.tick_webhooks() == []  # inactive
    batch = hub.api.post(f"{base}/subscriptions/batch/update", params=key,
                         json={"inputs": [{"id": sub["id"], "active": True}]})
    assert batch.json()["results"][0]["active"] is True
    hub.api.patch(f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": {"firstname": "Anna"}})
    hub.sb.tick_webhooks()
    assert [(e["propertyName"], e["propertyValue"]) for e in receiver.events()] == [("firstname", "Anna")]
    assert hub.api.get(f"{base}/subscriptions", params=key).json()["results"][0]["id"] == sub["id"]
    assert hub.api.delete(f"{base}/subscriptions/{sub['id']}", params=key).status_code == 204
    assert hub.api.get(f"{base}/subscriptions/{sub['id']}", params=key).status_code == 404
    assert hub.api.delete(f"{base}/settings", params=key).status_code == 204
    assert hub.api.get(f"{base}/settings", params=key).status_code == 404


def test_a_background_sandbox_delivers_without_ticks(receiver: Receiver) -> None:
    with HubSpotSandbox(webhook_background=True, webhook_poll=0.05) as sb:
        sb.register_app([REDIRECT_URI], "cid", "sec", SCOPES)
        portal = sb.add_portal("Acme Inc")
        sb.add_user(portal.hub_id, ADMIN, "Ada", "Admin")
        sb.tokens_for(ADMIN, "cid")
        sb.set_webhook_target("cid", receiver.url)
        sb.subscribe("cid", "company.creation")
        company = sb.add_record(portal.hub_id, "companies", {"name": "Acme"})
        assert receiver.arrived.wait(10)
    event, = receiver.events()
    assert (event["objectId"], event["changeSource"]) == (int(company.id), "CRM_UI")
