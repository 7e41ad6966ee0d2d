"""CRM v3 objects (reference §2): create 201 with string values, read with `properties=` and `idProperty=email`,
update, archive 204 with the `archived=true` listing, `after` paging, the error body (§7), properties (§4), owners,
deal pipelines, missing scopes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.sandbox_hubspot.hub_env import ADMIN, HubEnv


def _error_shape(body: dict[str, Any], category: str) -> None:
    assert body["status"] == "error" and body["category"] == category
    assert body["message"] and len(body["correlationId"]) == 36


def test_create_read_update_archive_with_string_values(hub: HubEnv) -> None:
    created = hub.api.post("/crm/v3/objects/companies",
                           json={"properties": {"name": "Acme", "domain": "acme.example", "numberofemployees": 42}})
    assert created.status_code == 201, created.text
    company = created.json()
    assert company["properties"]["numberofemployees"] == "42" and company["archived"] is False
    assert company["properties"]["hs_object_id"] == company["id"]
    by_type_id = hub.api.get(f"/crm/v3/objects/0-2/{company['id']}", params={"properties": "name,numberofemployees"})
    assert by_type_id.status_code == 200
    assert by_type_id.json()["properties"]["name"] == "Acme"
    assert by_type_id.json()["properties"]["numberofemployees"] == "42"
    assert "domain" not in by_type_id.json()["properties"]  # not asked for
    hub.clock.advance(5)
    patched = hub.api.patch(f"/crm/v3/objects/companies/{company['id']}", json={"properties": {"name": "Acme A/S"}})
    assert patched.status_code == 200 and patched.json()["properties"]["name"] == "Acme A/S"
    assert patched.json()["updatedAt"] > company["updatedAt"]
    assert hub.api.delete(f"/crm/v3/objects/companies/{company['id']}").status_code == 204
    gone = hub.api.get(f"/crm/v3/objects/companies/{company['id']}")
    assert gone.status_code == 404 and gone.headers["X-HubSpot-RateLimit-Remaining"] == "105"  # the 5th call
    _error_shape(gone.json(), "OBJECT_NOT_FOUND")
    archived = hub.api.get("/crm/v3/objects/companies", params={"archived": "true"}).json()["results"]
    assert [c["id"] for c in archived] == [company["id"]] and archived[0]["archivedAt"]
    assert hub.api.get("/crm/v3/objects/companies").json()["results"] == []


def test_contacts_are_unique_by_email_and_readable_by_it(hub: HubEnv) -> None:
    jane = hub.create("contacts", email="jane@acme.example", firstname="Jane")
    conflict = hub.api.post("/crm/v3/objects/contacts", json={"properties": {"email": "JANE@acme.example"}})
    assert conflict.status_code == 409 and jane["id"] in conflict.json()["message"]
    _error_shape(conflict.json(), "CONFLICT")
    by_email = hub.api.get("/crm/v3/objects/contacts/jane@acme.example", params={"idProperty": "email"})
    assert by_email.status_code == 200 and by_email.json()["id"] == jane["id"]


def test_invalid_values_are_a_validation_error_listing_each_property(hub: HubEnv) -> None:
    response = hub.api.post("/crm/v3/objects/deals", json={"properties": {
        "dealname": "Big", "nosuchthing": "x", "dealstage": "not-a-stage", "hs_is_closed_won": "true",
        "amount": "lots", "hubspot_owner_id": str(hub.user_id)}})
    assert response.status_code == 400
    body = response.json()
    _error_shape(body, "VALIDATION_ERROR")
    codes = {e["context"]["propertyName"][0]: e["code"] for e in body["errors"]}
    assert codes == {"nosuchthing": "PROPERTY_DOESNT_EXIST", "dealstage": "INVALID_OPTION",
                     "hs_is_closed_won": "READ_ONLY_VALUE", "amount": "INVALID_DECIMAL",
                     "hubspot_owner_id": "INVALID_OWNER_ID"}  # the user id is not an owner id
    ok = hub.api.post("/crm/v3/objects/deals", json={"properties": {
        "dealname": "Big", "dealstage": "closedwon", "pipeline": "default", "hubspot_owner_id": hub.owner_id,
        "closedate": "2026-06-01T00:00:00Z"}})
    assert ok.status_code == 201 and ok.json()["properties"]["closedate"] == "2026-06-01T00:00:00.000Z"
    not_json = hub.api.post("/crm/v3/objects/deals", json={"props": {}})
    assert not_json.status_code == 400 and not_json.json()["category"] == "VALIDATION_ERROR"


def test_list_pages_with_after_and_limit(hub: HubEnv) -> None:
    ids = [r.id for r in hub.sb.add_records(hub.hub_id, "contacts", [{"firstname": f"n{i}"} for i in range(25)])]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"limit": "10", "properties": "firstname", **({"after": after} if after else {})}
        page = hub.api.get("/crm/v3/objects/contacts", params=params).json()
        seen += [r["id"] for r in page["results"]]
        pages += 1
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
    assert seen == ids and pages == 3
    assert hub.api.get("/crm/v3/objects/contacts", params={"limit": "101"}).status_code == 400
    assert len(hub.api.get("/crm/v3/objects/contacts").json()["results"]) == 10  # default limit


def test_properties_api_shows_labels_types_options_and_custom_properties(hub: HubEnv) -> None:
    hub.sb.add_property(hub.hub_id, "companies", "cvr", "CVR number", "string", "text")
    listed = hub.api.get("/crm/v3/properties/companies")
    assert listed.status_code == 200
    by_name = {p["name"]: p for p in listed.json()["results"]}
    assert by_name["cvr"]["label"] == "CVR number" and by_name["cvr"]["hubspotDefined"] is False
    assert by_name["num_associated_contacts"]["calculated"] is True
    assert by_name["industry"]["type"] == "enumeration" and by_name["industry"]["options"][0]["value"]
    owners = by_name["hubspot_owner_id"]["options"]
    assert [o["value"] for o in owners] == [hub.owner_id]
    stage = hub.api.get("/crm/v3/properties/deals/dealstage").json()
    assert "closedwon" in [o["value"] for o in stage["options"]]
    assert hub.api.get("/crm/v3/properties/deals/nope").status_code == 404
    created = hub.create("companies", name="Acme", cvr="12345678")
    assert hub.api.get(f"/crm/v3/objects/companies/{created['id']}", params={"properties": "cvr"}).json()[
        "properties"]["cvr"] == "12345678"


def test_owners_have_id_and_user_id_and_pipelines_string_metadata(hub: HubEnv) -> None:
    owners = hub.api.get("/crm/v3/owners").json()["results"]
    assert owners == [{"id": hub.owner_id, "email": ADMIN, "firstName": "Ada", "lastName": "Admin",
                       "userId": hub.user_id, "createdAt": owners[0]["createdAt"],
                       "updatedAt": owners[0]["updatedAt"], "archived": False}]
    pipeline = hub.api.get("/crm/v3/pipelines/deals").json()["results"][0]
    stages = {s["id"]: s["metadata"] for s in pipeline["stages"]}
    assert stages["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"] == {"isClosed": "true", "probability": "0.0"}


def test_missing_scope_and_missing_token(hub: HubEnv) -> None:
    narrow = hub.sb.tokens_for(ADMIN, "cid", scopes=["oauth", "crm.objects.contacts.read"])
    headers = {"Authorization": f"Bearer {narrow['access_token']}"}
    assert httpx.get(f"{hub.sb.api_base}/crm/v3/objects/contacts", headers=headers).status_code == 200
    denied = httpx.post(f"{hub.sb.api_base}/crm/v3/objects/contacts", headers=headers, json={"properties": {}})
    assert denied.status_code == 403 and denied.json()["category"] == "MISSING_SCOPES"
    assert denied.json()["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    anonymous = httpx.get(f"{hub.sb.api_base}/crm/v3/objects/contacts")
    assert anonymous.status_code == 401 and anonymous.json()["category"] == "INVALID_AUTHENTICATION"
    assert hub.api.get("/crm/v3/objects/widgets").status_code == 400


def test_creating_a_custom_property_needs_the_optional_schema_write_scope(hub: HubEnv) -> None:
    spec = {"name": "cvr_number", "label": "CVR", "type": "string", "fieldType": "text",
            "groupName": "companyinformation", "hasUniqueValue": True}
    without = hub.api.post("/crm/v3/properties/companies", json=spec)
    assert without.status_code == 403 and without.json()["category"] == "MISSING_SCOPES"
    writer = hub.sb.tokens_for(ADMIN, "cid", scopes=["crm.schemas.companies.write", "crm.objects.companies.read",
                                                     "crm.objects.companies.write"])
    with httpx.Client(base_url=hub.sb.api_base, headers={"Authorization": f"Bearer {writer['access_token']}"}) as api:
        created = api.post("/crm/v3/properties/companies", json=spec)
        assert created.status_code == 201 and created.json()["hasUniqueValue"] is True
        assert created.json()["hubspotDefined"] is False and created.json()["groupName"] == "companyinformation"
        assert api.post("/crm/v3/properties/companies", json=spec).status_code == 409
        assert api.post("/crm/v3/properties/companies", json={**spec, "name": "Bad Name"}).status_code == 400
        company = api.post("/crm/v3/objects/companies", json={"properties": {"name": "A", "cvr_number": "123"}})
        by_cvr = api.get("/crm/v3/objects/companies/123", params={"idProperty": "cvr_number"})
        assert by_cvr.status_code == 200 and by_cvr.json()["id"] == company.json()["id"]
        by_name = api.get("/crm/v3/objects/companies/A", params={"idProperty": "name"})
        assert by_name.status_code == 400 and by_name.json()["category"] == "VALIDATION_ERROR"


def test_account_details_carry_no_name_but_the_beta_does(hub: HubEnv) -> None:
    details = hub.api.get("/account-info/2026-03/details")
    assert details.status_code == 200, details.text
    body = details.json()
    assert body["portalId"] == hub.hub_id and body["accountType"] == "STANDARD" and "portalName" not in body
    assert hub.api.get("/account-info/v3/details").json()["portalId"] == hub.hub_id
    beta = hub.api.get("/account-info/2027-03-beta/details").json()
    assert beta["portalName"] == hub.sb.portal(hub.hub_id).name
    assert hub.api.get("/account-info/2099-01/details").status_code == 404
