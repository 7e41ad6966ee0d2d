"""Every metadata and associations answer has the reference's shape (§4, §5) over HTTP, field for field: property
definitions (list, one, create), owners (paged, one), deal pipelines and stages, account details, associations v4
(default and labelled PUT, reads with a null label, labels, batch create/read/associate-default with per-input errors);
and a stored value that breaks a shape is a loud 500, never a wrong answer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.sandbox_hubspot.hub_env import ADMIN, HubEnv

PROPERTY_KEYS = {"name", "label", "description", "groupName", "type", "fieldType", "options", "displayOrder",
                 "calculated", "externalOptions", "hasUniqueValue", "hidden", "hubspotDefined", "formField",
                 "modificationMetadata", "archived"}
OPTION_KEYS = {"label", "value", "description", "displayOrder", "hidden"}
TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
FIELD_TYPES = {"booleancheckbox", "calculation_equation", "checkbox", "date", "file", "html", "number", "phonenumber",
               "radio", "select", "text", "textarea"}
OWNER_KEYS = {"id", "email", "firstName", "lastName", "userId", "createdAt", "updatedAt", "archived"}
STAGE_KEYS = {"id", "label", "displayOrder", "metadata", "createdAt", "updatedAt", "archived"}
DETAILS_KEYS = {"portalId", "accountType", "timeZone", "companyCurrency", "additionalCurrencies", "utcOffset",
                "utcOffsetMilliseconds", "uiDomain", "dataHostingLocation"}
BATCH_KEYS = {"status", "results", "startedAt", "completedAt"}
PRIMARY = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _assert_property(definition: dict[str, Any]) -> None:
    assert set(definition) == PROPERTY_KEYS, definition["name"]
    assert definition["type"] in TYPES and definition["fieldType"] in FIELD_TYPES
    assert set(definition["modificationMetadata"]) == {"archivable", "readOnlyDefinition", "readOnlyValue"}
    for option in definition["options"]:
        assert set(option) == OPTION_KEYS and isinstance(option["value"], str)


def test_property_definitions_list_one_and_create_have_the_property_fields(hub: HubEnv) -> None:
    hub.sb.add_property(hub.hub_id, "companies", "cvr", "CVR number")
    for obj in ("contacts", "companies", "deals"):
        listed = _ok(hub.api.get(f"/crm/v3/properties/{obj}"))
        assert set(listed) == {"results"} and listed["results"]
        for definition in listed["results"]:
            _assert_property(definition)
    owner_options = _ok(hub.api.get("/crm/v3/properties/companies/hubspot_owner_id"))
    _assert_property(owner_options)
    assert [o["value"] for o in owner_options["options"]] == [hub.owner_id]
    writer = hub.sb.tokens_for(ADMIN, "cid", scopes=["crm.schemas.deals.write", "crm.schemas.deals.read"])
    with httpx.Client(base_url=hub.sb.api_base, headers={"Authorization": f"Bearer {writer['access_token']}"}) as api:
        created = _ok(api.post("/crm/v3/properties/deals", json={
            "name": "source", "label": "Source", "type": "enumeration", "fieldType": "select",
            "groupName": "dealinformation", "options": [{"label": "Web", "value": "web"}]}), 201)
        _assert_property(created)
        assert created["options"] == [{"label": "Web", "value": "web", "description": "", "displayOrder": 0,
                                       "hidden": False}]
        assert _ok(api.get("/crm/v3/properties/deals/source")) == created


def test_owners_pages_and_one_owner_have_the_owner_fields(hub: HubEnv) -> None:
    for i in range(2):
        hub.sb.add_user(hub.hub_id, f"u{i}@acme.test", f"User{i}", "Acme")
    first = _ok(hub.api.get("/crm/v3/owners", params={"limit": "2"}))
    assert set(first) == {"results", "paging"} and set(first["paging"]["next"]) == {"after", "link"}
    rest = _ok(hub.api.get("/crm/v3/owners", params={"limit": "2", "after": first["paging"]["next"]["after"]}))
    assert set(rest) == {"results"}
    owners = first["results"] + rest["results"]
    assert len(owners) == 3
    for owner in owners:
        assert set(owner) == OWNER_KEYS
        assert isinstance(owner["id"], str) and isinstance(owner["userId"], int) and owner["archived"] is False
        assert _ok(hub.api.get(f"/crm/v3/owners/{owner['id']}")) == owner


def test_deal_pipelines_and_stages_have_string_metadata(hub: HubEnv) -> None:
    listed = _ok(hub.api.get("/crm/v3/pipelines/deals"))
    assert set(listed) == {"results"} and len(listed["results"]) == 1
    pipeline = listed["results"][0]
    assert set(pipeline) == {"id", "label", "displayOrder", "stages", "createdAt", "updatedAt", "archived"}
    for stage in pipeline["stages"]:
        assert set(stage) == STAGE_KEYS and set(stage["metadata"]) == {"isClosed", "probability"}
        assert stage["metadata"]["isClosed"] in ("true", "false")
        assert 0.0 <= float(stage["metadata"]["probability"]) <= 1.0 and isinstance(stage["metadata"]["probability"],
                                                                                      str)
    assert _ok(hub.api.get("/crm/v3/pipelines/deals/default")) == pipeline


def test_account_details_fields_per_version(hub: HubEnv) -> None:
    for version in ("v3", "2026-03"):
        details = _ok(hub.api.get(f"/account-info/{version}/details"))
        assert set(details) == DETAILS_KEYS
        assert details["utcOffset"] == "+01:00" and details["utcOffsetMilliseconds"] == 3_600_000
        assert details["additionalCurrencies"] == []
    beta = _ok(hub.api.get("/account-info/2027-03-beta/details"))
    assert set(beta) == DETAILS_KEYS | {"portalName"} and list(beta)[:2] == ["portalId", "portalName"]


def test_association_answers_have_their_shapes(hub: HubEnv) -> None:
    company = hub.create("companies", name="Acme")["id"]
    contact = hub.create("contacts", email="jane@acme.example")["id"]
    default = _ok(hub.api.put(f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}"))
    assert set(default) == BATCH_KEYS and default["status"] == "COMPLETE"
    assert default["results"] == [
        {"from": {"id": contact}, "to": {"id": company},
         "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}},
        {"from": {"id": company}, "to": {"id": contact},
         "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 2}}]
    labelled = _ok(hub.api.put(f"/crm/v4/objects/contacts/{contact}/associations/companies/{company}",
                               json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]), 201)
    assert labelled == {"fromObjectTypeId": "0-1", "fromObjectId": int(contact), "toObjectTypeId": "0-2",
                        "toObjectId": int(company), "labels": ["Primary"]}
    read = _ok(hub.api.get(f"/crm/v4/objects/contacts/{contact}/associations/companies"))
    # the unlabelled type's label is sent as null, not left out
    assert read == {"results": [{"toObjectId": int(company), "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
        {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}]}]}
    labels = _ok(hub.api.get("/crm/v4/associations/companies/contacts/labels"))
    assert labels == {"results": [{"category": "HUBSPOT_DEFINED", "typeId": 2, "label": "Primary"},
                                  {"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}]}


def test_association_batches_have_their_envelopes_and_per_input_errors(hub: HubEnv) -> None:
    company = hub.create("companies", name="Acme")["id"]
    contacts = [hub.create("contacts", email=f"c{i}@acme.example")["id"] for i in range(2)]
    created = _ok(hub.api.post("/crm/v4/associations/contacts/companies/batch/create", json={"inputs": [
        {"from": {"id": contacts[0]}, "to": {"id": company}, "types": PRIMARY},
        {"from": {"id": "404"}, "to": {"id": company}, "types": PRIMARY}]}), 207)
    assert set(created) == BATCH_KEYS | {"errors", "numErrors"} and created["numErrors"] == 1
    assert created["results"] == [{"fromObjectTypeId": "0-1", "fromObjectId": int(contacts[0]),
                                   "toObjectTypeId": "0-2", "toObjectId": int(company), "labels": ["Primary"]}]
    error = created["errors"][0]
    assert set(error) == {"status", "category", "message", "context"} and error["context"] == {"ids": ["404"]}
    default = _ok(hub.api.post("/crm/v4/associations/contacts/companies/batch/associate/default",
                               json={"inputs": [{"from": {"id": contacts[1]}, "to": {"id": company}}]}))
    assert set(default) == BATCH_KEYS
    assert [set(r) for r in default["results"]] == [{"from", "to", "associationSpec"}] * 2
    read = _ok(hub.api.post("/crm/v4/associations/companies/contacts/batch/read",
                            json={"inputs": [{"id": company}]}))
    assert set(read) == BATCH_KEYS
    assert read["results"] == [{"from": {"id": company}, "to": [
        {"toObjectId": int(c), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 2,
                                                     "label": "Primary"}]} for c in contacts]}]
    missing = _ok(hub.api.post("/crm/v4/associations/companies/contacts/batch/read",
                               json={"inputs": [{"id": "404"}]}), 207)
    assert missing["results"] == [] and missing["errors"][0]["context"] == {"ids": ["404"]}


def test_a_stored_value_that_breaks_a_shape_is_a_loud_500(hub: HubEnv) -> None:
    hub.sb.add_property(hub.hub_id, "companies", "cvr", "CVR number")
    portal = hub.sb.portal(hub.hub_id)
    portal.custom_properties["companies"]["cvr"]["colour"] = "red"  # a field §4 does not list
    broken = hub.api.get("/crm/v3/properties/companies/cvr")
    assert broken.status_code == 500 and "sandbox bug" in broken.json()["message"]
    assert "colour" in broken.json()["message"]
    assert hub.api.get("/crm/v3/properties/companies").status_code == 500
    portal.association_types[("contacts", "companies")] = [(1, 42), (279, None)]  # type: ignore[list-item]
    labels = hub.api.get("/crm/v4/associations/contacts/companies/labels")
    assert labels.status_code == 500 and "label" in labels.json()["message"]
