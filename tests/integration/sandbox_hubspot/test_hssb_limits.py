"""The general request budget (reference §7): 110 requests per rolling 10 s per installed account, with the
rate-limit headers and the 429 body; switchable faults (423, 477 with Retry-After, 502) in HubSpot's shapes; call
counts per portal; the admin API over HTTP."""

from __future__ import annotations

import httpx

from tests.integration.sandbox_hubspot.hub_env import ADMIN, HubEnv


def test_110_requests_per_10_seconds_per_installed_account(hub: HubEnv) -> None:
    first = hub.api.get("/crm/v3/owners")
    assert first.headers["X-HubSpot-RateLimit-Max"] == "110"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "109"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    hub.clock.advance(5)
    for _ in range(109):
        last = hub.api.get("/crm/v3/owners")
    assert last.status_code == 200 and last.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    refused = hub.api.get("/crm/v3/owners")
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "TEN_SECONDLY_ROLLING" and refused.json()["errorType"] == "RATE_LIMIT"
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    # another app installed in the same portal has its own budget
    hub.sb.register_app(["http://127.0.0.1:9/cb"], "other", "sec2", ["crm.objects.owners.read"])
    other = hub.sb.tokens_for(ADMIN, "other")
    assert httpx.get(f"{hub.sb.api_base}/crm/v3/owners",
                     headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 200
    hub.clock.advance(5)  # the first request has left the rolling window
    again = hub.api.get("/crm/v3/owners")
    assert again.status_code == 200 and again.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_legacy_header_style_is_an_option(hub: HubEnv) -> None:
    hub.sb.rate_limit_headers = "legacy"
    try:
        response = hub.api.get("/crm/v3/owners")
        assert response.headers["X-HubSpot-RateLimit-Secondly"] == "110"
        assert "X-HubSpot-RateLimit-Max" not in response.headers
    finally:
        hub.sb.rate_limit_headers = "current"


def test_faults_answer_in_hubspot_shapes_and_every_call_is_counted(hub: HubEnv) -> None:
    hub.sb.faults.add(423, path_prefix="/crm/v3/objects/contacts/batch", scope=str(hub.hub_id))
    hub.sb.faults.add(477, retry_after=3600, method="GET")
    locked = hub.api.post("/crm/v3/objects/contacts/batch/create", json={"inputs": [{"properties": {}}]})
    assert locked.status_code == 423 and locked.json()["status"] == "error" and locked.json()["correlationId"]
    migrating = hub.api.get("/crm/v3/objects/contacts")
    assert migrating.status_code == 477 and migrating.headers["Retry-After"] == "3600"
    assert hub.api.get("/crm/v3/objects/contacts").status_code == 200
    admin = httpx.post(f"{hub.sb.app_base}/__admin/faults", json={"kind": "502", "hub_id": str(hub.hub_id)})
    assert admin.status_code == 201
    assert hub.api.get("/crm/v3/owners").status_code == 502
    counts = httpx.get(f"{hub.sb.app_base}/__admin/portals/{hub.hub_id}/calls").json()
    assert counts == {"POST /crm/v3/objects/contacts/batch/create": 1, "GET /crm/v3/objects/contacts": 2,
                      "GET /crm/v3/owners": 1}
    assert hub.sb.call_counts(hub.hub_id) == counts


def test_admin_api_sets_up_a_portal_over_http(hub: HubEnv) -> None:
    base = f"{hub.sb.app_base}/__admin"
    portal = httpx.post(f"{base}/portals", json={"name": "Beta ApS", "time_zone": "Europe/Oslo"}).json()
    owner = httpx.post(f"{base}/portals/{portal['hub_id']}/users", json={"email": "bo@beta.test"}).json()
    assert owner["id"] != str(owner["userId"])
    prop = httpx.post(f"{base}/portals/{portal['hub_id']}/properties",
                      json={"object": "companies", "name": "cvr", "label": "CVR", "type": "string"})
    assert prop.status_code == 201
    made = httpx.post(f"{base}/portals/{portal['hub_id']}/records/companies", json={"name": "Beta", "cvr": "1"})
    assert made.status_code == 201 and made.json()["properties"]["cvr"] == "1"
    bad = httpx.post(f"{base}/portals/{portal['hub_id']}/records/companies", json={"nope": "1"})
    assert bad.status_code == 400 and bad.json()["category"] == "VALIDATION_ERROR"
    listed = httpx.get(f"{base}/portals").json()
    assert {p["name"]: p["time_zone"] for p in listed} == {"Acme Inc": "Europe/Copenhagen", "Beta ApS": "Europe/Oslo"}
    httpx.post(f"{base}/portals/{hub.hub_id}/expire-tokens")
    assert hub.api.get("/crm/v3/owners").json()["category"] == "EXPIRED_AUTHENTICATION"
