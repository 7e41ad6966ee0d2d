"""Batch endpoints (reference §2): at most 100 inputs, per-item errors in a 207 tied to their inputs by
`objectWriteTraceId` (never by position), batch read with missing ids, batch archive."""

from __future__ import annotations

from tests.integration.sandbox_hubspot.hub_env import HubEnv


def test_batch_create_reports_failed_items_by_trace_id_with_207(hub: HubEnv) -> None:
    inputs = [{"properties": {"email": f"p{i}@acme.example", "firstname": f"P{i}"}, "objectWriteTraceId": f"t{i}"}
              for i in range(3)]
    inputs[1]["properties"] = {"email": "p1@acme.example", "nosuch": "x"}
    response = hub.api.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert sorted(r["objectWriteTraceId"] for r in body["results"]) == ["t0", "t2"]
    assert all(r["properties"]["email"].startswith(("p0", "p2")) for r in body["results"])
    [error] = body["errors"]
    assert error["context"]["objectWriteTraceId"] == ["t1"] and error["category"] == "VALIDATION_ERROR"
    assert error["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    clean = hub.api.post("/crm/v3/objects/contacts/batch/create",
                         json={"inputs": [{"properties": {"email": "q@acme.example"}}]})
    assert clean.status_code == 201 and "errors" not in clean.json()


def test_more_than_100_inputs_is_a_validation_error(hub: HubEnv) -> None:
    inputs = [{"properties": {"name": f"c{i}"}} for i in range(101)]
    response = hub.api.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs})
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"
    assert hub.sb.records(hub.hub_id, "companies") == []
    exactly = hub.api.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs[:100]})
    assert exactly.status_code == 201 and len(exactly.json()["results"]) == 100


def test_batch_update_read_and_archive(hub: HubEnv) -> None:
    a, b = (hub.create("companies", name=n)["id"] for n in ("A", "B"))
    update = hub.api.post("/crm/v3/objects/companies/batch/update", json={"inputs": [
        {"id": a, "properties": {"name": "A2"}, "objectWriteTraceId": "ua"},
        {"id": "999", "properties": {"name": "X"}, "objectWriteTraceId": "ux"}]})
    assert update.status_code == 207
    assert [r["properties"]["name"] for r in update.json()["results"]] == ["A2"]
    assert update.json()["errors"][0]["context"] == {"objectWriteTraceId": ["ux"], "ids": ["999"]}
    read = hub.api.post("/crm/v3/objects/companies/batch/read",
                        json={"inputs": [{"id": a}, {"id": b}, {"id": "404"}], "properties": ["name"]})
    assert read.status_code == 207
    assert {r["properties"]["name"] for r in read.json()["results"]} == {"A2", "B"}
    assert read.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    archive = hub.api.post("/crm/v3/objects/companies/batch/archive", json={"inputs": [{"id": a}, {"id": "404"}]})
    assert archive.status_code == 204
    assert [r.id for r in hub.sb.records(hub.hub_id, "companies", archived=True)] == [a]
    assert hub.sb.call_counts(hub.hub_id)["POST /crm/v3/objects/companies/batch/archive"] == 1


def test_batch_upsert_by_email_reports_new_and_refuses_a_non_unique_id_property(hub: HubEnv) -> None:
    old = hub.create("contacts", email="old@acme.example", firstname="Old")["id"]
    response = hub.api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"id": "OLD@acme.example", "idProperty": "email", "properties": {"firstname": "Renamed"},
         "objectWriteTraceId": "u1"},
        {"id": "new@acme.example", "idProperty": "email", "properties": {"firstname": "New"},
         "objectWriteTraceId": "u2"},
        {"id": "x", "idProperty": "firstname", "properties": {}, "objectWriteTraceId": "u3"}]})
    assert response.status_code == 207, response.text
    by_trace = {r["objectWriteTraceId"]: r for r in response.json()["results"]}
    assert by_trace["u1"]["id"] == old and by_trace["u1"]["new"] is False
    assert by_trace["u1"]["properties"]["firstname"] == "Renamed"
    assert by_trace["u2"]["new"] is True and by_trace["u2"]["id"] != old
    assert response.json()["errors"][0]["context"]["objectWriteTraceId"] == ["u3"]
    emails = sorted(r.properties["email"] for r in hub.sb.records(hub.hub_id, "contacts"))
    assert emails == ["new@acme.example", "old@acme.example"]


def test_deal_closed_and_won_follow_the_stage_metadata(hub: HubEnv) -> None:
    deal = hub.create("deals", dealname="D", pipeline="default", dealstage="qualifiedtobuy")["id"]

    def flags() -> tuple[str, str]:
        props = hub.api.get(f"/crm/v3/objects/deals/{deal}",
                            params={"properties": "hs_is_closed,hs_is_closed_won"}).json()["properties"]
        return props["hs_is_closed"], props["hs_is_closed_won"]

    assert flags() == ("false", "false")
    hub.api.patch(f"/crm/v3/objects/deals/{deal}", json={"properties": {"dealstage": "closedlost"}})
    assert flags() == ("true", "false")
    hub.api.patch(f"/crm/v3/objects/deals/{deal}", json={"properties": {"dealstage": "closedwon"}})
    assert flags() == ("true", "true")
