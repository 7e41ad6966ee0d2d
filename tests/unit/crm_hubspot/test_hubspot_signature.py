"""HubSpot webhook signatures and events (reference hubspot-api.md §6.2, §6.4): the reference's v3 test vector, the
5-minute window both ways, the URI decoding, the refusal of the legacy v1/v2 schemes (checked against their official
vectors, so the refusal is about the scheme, not a wrong value), and what the parser makes of a delivery."""

from __future__ import annotations

import hashlib

import pytest

from leadbridge.crm.base import AppWebhookVerifier, WebhookRequest
from leadbridge.crm.hubspot.webhooks import HubSpotWebhooks, decoded_uri, signature_v3
from leadbridge.errors import WebhookRejected
from leadbridge.models.crm import CrmObject

# §6.4 v3 test vector (HubSpot "Validating requests")
SECRET = "cfc68c0b-4b4e-4ef8-b764-95350e4ea479"
URI = "https://webhook.site/335453f5-94b3-49d9-b684-a55354d4b8df"
BODY = (
    b'[{"eventId":531833541,"subscriptionId":3923621,"portalId":48807704,"appId":16111050,"occurredAt":1752613920733,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":138017612137,"changeFlag":"CREATED",'
    b'"changeSource":"CRM_UI","sourceId":"userId:76023669"}]'
)
TIMESTAMP = "1752613922216"
SIGNATURE = "gbj1XPRvUt0noT7i7fXfTzOD4sLzQmf0VT28ZYq0EYg="
# §6.4 legacy vectors (HubSpot validation FAQ)
LEGACY_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":'
    b'"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
V1_SIGNATURE = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
V2_SIGNATURE = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"


def hooks(now_ms: int = int(TIMESTAMP), secret: str = SECRET, app_id: str | None = "16111050") -> HubSpotWebhooks:
    return HubSpotWebhooks(app_id=app_id, client_secret=secret, clock=lambda: now_ms / 1000)


def delivery(*, uri: str = URI, body: bytes = BODY, timestamp: str = TIMESTAMP, signature: str = SIGNATURE,
             method: str = "POST", **headers: str) -> WebhookRequest:
    return WebhookRequest(method=method, url=uri, raw_body=body, headers={
        "X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp, **headers})


def test_the_reference_v3_vector_verifies() -> None:
    assert signature_v3(SECRET, "POST", URI, BODY, TIMESTAMP) == SIGNATURE
    assert hooks().verify(delivery(), SECRET)
    assert isinstance(hooks(), AppWebhookVerifier)


@pytest.mark.parametrize("request_", [
    delivery(body=BODY.replace(b"CRM_UI", b"CRM_UX")),
    delivery(uri=URI + "x"),
    delivery(method="PUT"),
    delivery(timestamp=str(int(TIMESTAMP) + 1)),
    delivery(signature=SIGNATURE[:-2] + "A="),
    delivery(signature=""),
    delivery(timestamp="not-a-number"),
])
def test_anything_changed_is_refused(request_: WebhookRequest) -> None:
    assert not hooks().verify(request_, SECRET)


def test_the_wrong_secret_is_refused() -> None:
    assert not hooks().verify(delivery(), "another-app-secret")
    assert not hooks().verify(delivery(), "")


@pytest.mark.parametrize(("skew_ms", "accepted"), [
    (-300_000, True), (300_000, True),  # the window's edges: 5 minutes either way
    (-300_001, False),  # a timestamp older than 5 minutes: a replay
    (300_001, False),  # too far in the future
])
def test_the_timestamp_must_be_within_five_minutes_of_now(skew_ms: int, accepted: bool) -> None:
    now = int(TIMESTAMP) - skew_ms  # skew = timestamp - now
    assert hooks(now_ms=now).verify(delivery(), SECRET) is accepted


def test_the_uri_is_signed_with_the_reserved_sequences_decoded() -> None:
    encoded = "https://api.example.com/webhooks/hubspot?scope=a%3Ab%2Fc%40d%21e%24f%27g%28h%29i%2Aj%2Ck%3Bl%3fm"
    assert decoded_uri(encoded) == "https://api.example.com/webhooks/hubspot?scope=a:b/c@d!e$f'g(h)i*j,k;l?m"
    # HubSpot signs the decoded form; the request arrives with the encoded one.
    signed = signature_v3(SECRET, "POST", decoded_uri(encoded), BODY, TIMESTAMP)
    assert hooks().verify(delivery(uri=encoded, signature=signed), SECRET)
    assert decoded_uri("https://x.test/a%20b%2B") == "https://x.test/a%20b%2B"  # other escapes stay as they are


def test_legacy_v1_and_v2_signatures_alone_are_refused() -> None:
    # The official vectors hold for the schemes as the reference describes them ...
    assert hashlib.sha256(LEGACY_SECRET.encode() + V1_BODY).hexdigest() == V1_SIGNATURE
    v2_source = LEGACY_SECRET + "GET" + "https://www.example.com/webhook_uri"
    assert hashlib.sha256(v2_source.encode()).hexdigest() == V2_SIGNATURE
    # ... but they sign no timestamp (a captured delivery could be replayed for ever): no fallback to them.
    v1 = WebhookRequest(url=URI, raw_body=V1_BODY,
                        headers={"X-HubSpot-Signature-Version": "v1", "X-HubSpot-Signature": V1_SIGNATURE})
    v2 = WebhookRequest(method="GET", url="https://www.example.com/webhook_uri",
                        headers={"X-HubSpot-Signature-Version": "v2", "X-HubSpot-Signature": V2_SIGNATURE})
    assert not hooks(secret=LEGACY_SECRET).verify(v1, LEGACY_SECRET)
    assert not hooks(secret=LEGACY_SECRET).verify(v2, LEGACY_SECRET)


def test_the_client_secret_is_read_lazily() -> None:
    reads: list[str] = []

    def secret() -> str:
        reads.append("read")
        return SECRET

    verifier = HubSpotWebhooks(app_id=None, client_secret=secret)
    assert reads == []
    assert verifier.app_secret() == SECRET and reads == ["read"]
    assert HubSpotWebhooks(app_id=None, client_secret="").app_secret() is None


def test_the_reference_event_parses_with_a_key_that_survives_retries() -> None:
    [event] = hooks().parse(delivery())
    assert event.event_id == "48807704:3923621:531833541:1752613920733"
    assert (event.event, event.object, event.record_id, event.account_id, event.action) == (
        "contact.creation", CrmObject.PERSON, "138017612137", "48807704", "created")
    assert event.occurred_at is not None and int(event.occurred_at.timestamp() * 1000) == 1752613920733
    assert event.changed_by == "76023669"
    retried = hooks().parse(delivery(body=BODY.replace(b'"attemptNumber":0', b'"attemptNumber":3')))
    assert retried[0].event_id == event.event_id


def test_property_changes_generic_objects_and_deletions() -> None:
    body = (
        b'[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":4,"subscriptionType":"company.propertyChange",'
        b'"objectId":5,"propertyName":"name","propertyValue":"Acme","changeSource":"CRM_UI","sourceId":"userId:9"},'
        b'{"eventId":6,"subscriptionId":7,"portalId":3,"occurredAt":8,"subscriptionType":"object.deletion",'
        b'"objectId":10,"objectTypeId":"0-3","changeFlag":"DELETED"},'
        b'{"eventId":11,"subscriptionId":12,"portalId":3,"occurredAt":13,"subscriptionType":"ticket.creation",'
        b'"objectId":14}]'
    )
    change, deletion, unsynced = hooks().parse(delivery(body=body))
    assert (change.object, change.action, change.changed_fields) == (CrmObject.COMPANY, "changed", ["name"])
    assert change.payload["propertyValue"] == "Acme"
    assert (deletion.object, deletion.action, deletion.record_id) == (CrmObject.DEAL, "deleted", "10")
    assert unsynced.object is None  # not an object leadbridge syncs: the processor skips it


def test_own_writes_are_recognised_by_integration_and_our_app_id() -> None:
    def event(source: str, source_id: str) -> bytes:
        return (b'[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":4,"subscriptionType":"contact.creation",'
                b'"objectId":5,"changeSource":"' + source.encode() + b'","sourceId":"' + source_id.encode() + b'"}]')

    [ours] = hooks().parse(delivery(body=event("INTEGRATION", "16111050")))
    [other_app] = hooks().parse(delivery(body=event("INTEGRATION", "999")))
    [user] = hooks().parse(delivery(body=event("CRM_UI", "userId:16111050")))
    assert hooks().is_own_write(ours)
    assert not hooks().is_own_write(other_app) and not hooks().is_own_write(user)
    assert not hooks(app_id=None).is_own_write(ours)  # no app id configured: left to the record-state comparison


@pytest.mark.parametrize("body", [b"{}", b"not json", b'[{"eventId":1}]', b"[1]", b'[[{"a":' * 100 + b"]"])
def test_malformed_bodies_are_rejected(body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        hooks().parse(delivery(body=body))


# --- the project app's webhooks-hsmeta.json (§6.1) -------------------------------------------------------------------


def test_hsmeta_subscribes_to_the_union_of_what_the_tenants_sync_from_hubspot() -> None:
    from leadbridge.crm.hubspot import defaults
    from leadbridge.crm.hubspot.webhooks import hsmeta
    from leadbridge.models.settings import Direction, FieldMapping

    acme = defaults.default_settings()
    acme.objects.deal.direction = Direction.TO_CRM  # acme never reads deals back
    acme.field_mappings.company.append(FieldMapping(app_fields=["org_number"], crm_field="cvr", direction="from_crm"))
    acme.field_mappings.company.append(
        FieldMapping(app_fields=["notes"], crm_field="hs_lastmodifieddate", direction="from_crm"))
    globex = defaults.default_settings()
    globex.objects.company.direction = Direction.TO_CRM
    globex.objects.person.direction = Direction.OFF
    globex.field_mappings.deal.append(FieldMapping(app_fields=["notes"], crm_field="hs_priority", direction="to_crm"))

    meta = hsmeta([acme, globex], target_url="https://api.example.com/webhooks/hubspot", max_concurrent_requests=7)

    config = meta["config"]
    assert (meta["type"], config["settings"]) == (
        "webhooks", {"targetUrl": "https://api.example.com/webhooks/hubspot", "maxConcurrentRequests": 7})
    subs = config["subscriptions"]["crmObjects"]
    by_object: dict[str, set[str]] = {}
    for sub in subs:
        assert sub["active"] is True
        kind = sub["subscriptionType"].removeprefix("object.")
        by_object.setdefault(sub["objectType"], set()).add(sub.get("propertyName") or kind)
    inbound_company = {m.crm_field for m in acme.field_mappings.company if m.inbound} - {"hs_lastmodifieddate"}
    assert by_object["company"] == {"creation", "deletion", *inbound_company}  # acme's cvr included
    assert "cvr" in by_object["company"] and "hs_lastmodifieddate" not in by_object["company"]  # HubSpot refuses it
    assert by_object["contact"] == {"creation", "deletion", *(m.crm_field for m in acme.field_mappings.person
                                                              if m.inbound)}
    # Deals come from globex alone; their stage always matters (won, lost), a property written only to HubSpot never.
    assert {"creation", "deletion", "dealstage"} <= by_object["deal"] and "hs_priority" not in by_object["deal"]
    assert set(by_object) == {"company", "contact", "deal"}  # activities sync to HubSpot only


def test_hsmeta_refuses_more_than_hubspots_subscription_limit() -> None:
    from leadbridge.crm.hubspot import defaults
    from leadbridge.crm.hubspot.webhooks import hsmeta
    from leadbridge.models.settings import FieldMapping

    def mapped(prefix: str, count: int) -> list[FieldMapping]:
        return [FieldMapping(app_fields=["notes"], crm_field=f"{prefix}_{i}", direction="from_crm")
                for i in range(count)]

    one = defaults.default_settings()
    for obj in ("company", "person", "deal"):
        setattr(one.field_mappings, obj, mapped("custom", 300))
    # 3 objects x (300 properties + creation + deletion) + dealstage
    assert len(hsmeta([one], target_url="https://x.test/webhooks/hubspot")["config"]["subscriptions"]
               ["crmObjects"]) == 907
    other = defaults.default_settings()
    other.field_mappings.company = mapped("more", 100)  # the union passes 1,000
    with pytest.raises(ValueError, match="1000 per app"):
        hsmeta([one, other], target_url="https://x.test/webhooks/hubspot")
