"""CRM search (reference §3): operators with ANDed filters in ORed groups, sorts, `after` paging, the limits
(5 groups, 6 filters per group, 18 in all, 200 per page), the 10,000-result cap crossed by keyset paging on
`hs_object_id`, archived records left out, and search's own 5-per-second budget without rate-limit headers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.sandbox_hubspot.hub_env import HubEnv


def _search(hub: HubEnv, obj: str, **body: Any) -> httpx.Response:
    hub.clock.advance(0.25)  # stay inside search's 5 per second
    return hub.api.post(f"/crm/v3/objects/{obj}/search", json=body)


def _f(name: str, op: str, value: Any = None, **more: Any) -> dict[str, Any]:
    return {"propertyName": name, "operator": op, **({"value": value} if value is not None else {}), **more}


def test_modified_window_with_gte_and_lt_sorted_ascending(hub: HubEnv) -> None:
    first = hub.create("contacts", email="a@x.example", firstname="A")
    boundary_ms = int(hub.clock.now * 1000)
    hub.clock.advance(60)
    second = hub.create("contacts", email="b@x.example", firstname="B")
    hub.clock.advance(60)
    hub.create("contacts", email="c@x.example", firstname="C")
    window = _search(hub, "contacts", filterGroups=[{"filters": [
        _f("lastmodifieddate", "GTE", str(boundary_ms)),
        _f("lastmodifieddate", "LT", "1780000090000")]}],  # ISO or epoch ms both work; this is START + 90 s
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], properties=["email"], limit=200)
    assert window.status_code == 200, window.text
    assert [r["id"] for r in window.json()["results"]] == [first["id"], second["id"]]  # GTE keeps the boundary
    assert window.json()["total"] == 2 and window.json()["results"][0]["properties"]["email"] == "a@x.example"
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in window.headers)
    iso = _search(hub, "contacts", filterGroups=[{"filters": [_f("lastmodifieddate", "GTE",
                                                                 "2026-05-28T20:28:30Z")]}])
    assert iso.json()["total"] == 1  # only the third, made at START + 120 s


def test_eq_in_groups_sorts_and_archived_records(hub: HubEnv) -> None:
    ids = {n: hub.create("companies", name=n, domain=f"{n.lower()}.example")["id"] for n in ("Acme", "Beta", "Gamma")}
    eq = _search(hub, "companies", filterGroups=[{"filters": [_f("domain", "EQ", "ACME.example")]}])
    assert [r["id"] for r in eq.json()["results"]] == [ids["Acme"]]
    lower_in = _search(hub, "companies", filterGroups=[{"filters": [_f("name", "IN", values=["beta", "gamma"])]}])
    assert lower_in.json()["total"] == 2
    upper_in = _search(hub, "companies", filterGroups=[{"filters": [_f("name", "IN", values=["Beta"])]}])
    assert upper_in.json()["total"] == 0  # IN values on strings must be lower-case
    either = _search(hub, "companies", filterGroups=[{"filters": [_f("name", "EQ", "Acme")]},
                                                     {"filters": [_f("name", "EQ", "Gamma")]}],
                     sorts=[{"propertyName": "name", "direction": "DESCENDING"}])
    assert [r["id"] for r in either.json()["results"]] == [ids["Gamma"], ids["Acme"]]
    hub.api.delete(f"/crm/v3/objects/companies/{ids['Gamma']}")
    after_archive = _search(hub, "companies", filterGroups=[{"filters": [_f("name", "HAS_PROPERTY")]}])
    assert sorted(r["id"] for r in after_archive.json()["results"]) == sorted([ids["Acme"], ids["Beta"]])
    unknown = _search(hub, "companies", filterGroups=[{"filters": [_f("nope", "EQ", "x")]}])
    assert unknown.status_code == 400 and unknown.json()["category"] == "VALIDATION_ERROR"


def test_filter_page_and_query_limits(hub: HubEnv) -> None:
    six = [_f("name", "HAS_PROPERTY")] * 6
    assert _search(hub, "companies", filterGroups=[{"filters": six}] * 3).status_code == 200  # 18 in all
    for body in (
        {"filterGroups": [{"filters": [_f("name", "HAS_PROPERTY")]}] * 6},
        {"filterGroups": [{"filters": [*six, _f("name", "HAS_PROPERTY")]}]},
        {"filterGroups": [{"filters": six}] * 3 + [{"filters": [_f("name", "HAS_PROPERTY")]}]},
        {"limit": 201},
        {"after": "abc"},
        {"query": "x" * 3001},
        {"filterGroups": [{"filters": [_f("name", "LIKE", "x")]}]},
    ):
        response = _search(hub, "companies", **body)
        assert response.status_code == 400, body
        assert response.json()["category"] == "VALIDATION_ERROR"
    assert _search(hub, "companies", limit=200).status_code == 200


def test_the_10000_cap_is_a_400_and_keyset_paging_crosses_it_without_a_gap(hub: HubEnv) -> None:
    made = [r.id for r in hub.sb.add_records(hub.hub_id, "companies", [{"name": f"c{i}"} for i in range(10_050)])]
    seen: list[str] = []
    after = "0"
    last_next: str | None = None
    while True:
        page = _search(hub, "companies", sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                       limit=200, after=after).json()
        seen += [r["id"] for r in page["results"]]
        last_next = page.get("paging", {}).get("next", {}).get("after")
        if last_next is None or int(last_next) >= 10_000:
            break
        after = last_next
    assert len(seen) == 10_000 and page["total"] == 10_050 and last_next == "10000"
    past = _search(hub, "companies", limit=200, after="10000")
    assert past.status_code == 400 and past.json()["category"] == "VALIDATION_ERROR"
    rest = _search(hub, "companies", limit=200, sorts=[{"propertyName": "hs_object_id"}],
                   filterGroups=[{"filters": [_f("hs_object_id", "GTE", str(int(seen[-1]) + 1))]}]).json()
    assert seen + [r["id"] for r in rest["results"]] == made


def test_search_has_its_own_five_per_second_budget(hub: HubEnv) -> None:
    for _ in range(5):
        assert hub.api.post("/crm/v3/objects/contacts/search", json={}).status_code == 200
    refused = hub.api.post("/crm/v3/objects/contacts/search", json={})
    assert refused.status_code == 429
    body = refused.json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "SECONDLY" and body["status"] == "error"
    assert body["correlationId"] and body["requestId"]
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in refused.headers)
    other = hub.api.get("/crm/v3/objects/contacts")  # the general budget is apart
    assert other.status_code == 200 and other.headers["X-HubSpot-RateLimit-Remaining"] == "109"
    hub.clock.advance(1)
    assert hub.api.post("/crm/v3/objects/contacts/search", json={}).status_code == 200


def test_search_index_lag_shows_writes_only_after_the_lag(hub: HubEnv) -> None:
    hub.sb.search_index_lag = 30
    try:
        made = hub.create("companies", name="Acme")["id"]
        assert _search(hub, "companies").json()["total"] == 0  # not indexed yet
        hub.clock.advance(30)
        hub.api.patch(f"/crm/v3/objects/companies/{made}", json={"properties": {"name": "Renamed"}})
        stale = _search(hub, "companies", properties=["name"]).json()["results"]
        assert [r["properties"]["name"] for r in stale] == ["Acme"]
        assert hub.api.get(f"/crm/v3/objects/companies/{made}").json()["properties"]["name"] == "Renamed"
        hub.clock.advance(30)
        fresh = _search(hub, "companies", properties=["name"]).json()["results"]
        assert [r["properties"]["name"] for r in fresh] == ["Renamed"]
        hub.api.delete(f"/crm/v3/objects/companies/{made}")
        assert _search(hub, "companies").json()["total"] == 1  # the archive is not indexed yet either
        hub.clock.advance(30)
        assert _search(hub, "companies").json()["total"] == 0
    finally:
        hub.sb.search_index_lag = 0
