"""Associations v4 (reference §5): a create body's associations, default and labelled PUTs seen from both sides with
the default type ids, reads that skip archived records, the labels endpoint, batch create/read/archive."""

from __future__ import annotations

from tests.integration.sandbox_hubspot.hub_env import HubEnv

PRIMARY = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]


def test_a_contact_created_with_its_company_is_associated_both_ways(hub: HubEnv) -> None:
    company = hub.create("companies", name="Acme")["id"]
    contact = hub.api.post("/crm/v3/objects/contacts", json={
        "properties": {"email": "jane@acme.example"},
        "associations": [{"to": {"id": company}, "types": PRIMARY}]})
    assert contact.status_code == 201, contact.text
    from_contact = hub.api.get(f"/crm/v4/objects/contacts/{contact.json()['id']}/associations/companies").json()
    assert from_contact["results"] == [{"toObjectId": int(company), "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]}]
    from_company = hub.api.get(f"/crm/v4/objects/companies/{company}/associations/contacts").json()
    assert [t["typeId"] for t in from_company["results"][0]["associationTypes"]] == [2]
    missing = hub.api.post("/crm/v3/objects/contacts", json={
        "properties": {"email": "joe@acme.example"}, "associations": [{"to": {"id": "999"}, "types": PRIMARY}]})
    assert missing.status_code == 400 and missing.json()["category"] == "VALIDATION_ERROR"
    assert [r.properties["email"] for r in hub.sb.records(hub.hub_id, "contacts")] == ["jane@acme.example"]


def test_default_and_labelled_puts_delete_and_labels(hub: HubEnv) -> None:
    deal = hub.create("deals", dealname="Big")["id"]
    company = hub.create("companies", name="Acme")["id"]
    default = hub.api.put(f"/crm/v4/objects/deals/{deal}/associations/default/companies/{company}")
    assert default.status_code == 200
    assert {r["associationSpec"]["associationTypeId"] for r in default.json()["results"]} == {5, 6}
    labelled = hub.api.put(f"/crm/v4/objects/deals/{deal}/associations/companies/{company}",
                           json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}])
    assert labelled.status_code == 201 and labelled.json()["toObjectTypeId"] == "0-2"
    types = hub.api.get(f"/crm/v4/objects/companies/{company}/associations/deals").json()["results"][0]
    assert [t["typeId"] for t in types["associationTypes"]] == [6, 342]
    wrong = hub.api.put(f"/crm/v4/objects/deals/{deal}/associations/companies/{company}",
                        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}])
    assert wrong.status_code == 400
    assert hub.api.delete(f"/crm/v4/objects/deals/{deal}/associations/companies/{company}").status_code == 204
    assert hub.api.get(f"/crm/v4/objects/companies/{company}/associations/deals").json()["results"] == []
    found = hub.api.get("/crm/v4/associations/contacts/companies/labels").json()["results"]
    assert {(x["typeId"], x["label"]) for x in found} == {(1, "Primary"), (279, None)}


def test_batch_associations_and_archived_targets(hub: HubEnv) -> None:
    company = hub.create("companies", name="Acme")["id"]
    contacts = [hub.create("contacts", email=f"c{i}@acme.example")["id"] for i in range(3)]
    created = hub.api.post("/crm/v4/associations/contacts/companies/batch/create", json={"inputs": [
        {"from": {"id": c}, "to": {"id": company}, "types": PRIMARY} for c in contacts[:2]] + [
        {"from": {"id": "404"}, "to": {"id": company}, "types": PRIMARY}]})
    assert created.status_code == 207 and len(created.json()["results"]) == 2
    assert created.json()["errors"][0]["context"]["ids"] == ["404"]
    default = hub.api.post("/crm/v4/associations/contacts/companies/batch/associate/default",
                           json={"inputs": [{"from": {"id": contacts[2]}, "to": {"id": company}}]})
    assert default.status_code == 200
    hub.api.delete(f"/crm/v3/objects/contacts/{contacts[0]}")
    read = hub.api.post("/crm/v4/associations/companies/contacts/batch/read", json={"inputs": [{"id": company}]})
    assert [t["toObjectId"] for t in read.json()["results"][0]["to"]] == [int(c) for c in contacts[1:]]
    archived = hub.api.post("/crm/v4/associations/companies/contacts/batch/archive",
                            json={"inputs": [{"from": {"id": company}, "to": [{"id": contacts[1]}]}]})
    assert archived.status_code == 204
    after = hub.api.get(f"/crm/v4/objects/contacts/{contacts[1]}/associations/companies").json()["results"]
    assert after == []
