"""REST CRUD, PATCH flavours, errors and conditional requests of the SuperOffice sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest


def create_contact(tenant, **fields):  # type: ignore[no-untyped-def]
    body = {"Name": "Acme ApS", "OrgNr": "12345678", **fields}
    response = tenant.api.post("/Contact", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_contact_crud_roundtrip(tenant) -> None:  # type: ignore[no-untyped-def]
    template = tenant.api.get("/Contact/default").json()
    assert template["ContactId"] == 0 and template["Associate"]["AssociateId"] == 5

    created = create_contact(tenant, Department="Sales", Category={"Id": 1}, Country={"CountryId": 208},
                             Urls=[{"Value": "https://acme.dk", "Description": "Web"}],
                             Phones=[{"Value": "+45 12 34 56 78", "Description": ""}],
                             Address={"Street": {"Address1": "Vestergade 1", "Zipcode": "8000", "City": "Aarhus"}})
    cid = created["ContactId"]
    assert cid > 0
    assert created["_Links"]["Self"].endswith(f"/Cust12345/api/v1/Contact/{cid}")
    assert created["Category"]["Value"] == "Customer" and created["Country"]["TwoLetterISOCountry"] == "DK"
    assert created["Phones"][0]["StrippedValue"] == "+4512345678"
    assert created["Address"]["Street"]["City"] == "Aarhus"
    assert created["CreatedDate"].endswith("Z") and created["Associate"]["AssociateId"] == 5
    assert created["TableRight"]["Mask"]
    assert created["FieldProperties"]["Name"]["FieldLength"] == 219
    assert created["Persons"] == [] and created["Business"] is None
    assert created["DbiLastModified"] == "0001-01-01T00:00:00"

    fetched = tenant.api.get(f"/Contact/{cid}")
    assert fetched.status_code == 200 and fetched.json() == created

    put = tenant.api.put(f"/Contact/{cid}", json={"Name": "Acme A/S", "OrgNr": "12345678"})
    assert put.status_code == 200
    assert put.json()["Name"] == "Acme A/S" and put.json()["Department"] == ""  # PUT replaces

    assert tenant.api.delete(f"/Contact/{cid}").status_code == 204
    gone = tenant.api.get(f"/Contact/{cid}")
    assert gone.status_code == 404
    assert gone.json() == {"Error": True, "ErrorType": "SoNotFoundException",
                           "ErrorMessage": f"Contact id {cid} not found",
                           "ErrorSource": "SuperOffice.Services.Implementation"}


def test_person_sale_appointment_crud(tenant) -> None:  # type: ignore[no-untyped-def]
    cid = create_contact(tenant)["ContactId"]
    person = tenant.api.post("/Person", json={
        "Firstname": "Steve", "Lastname": "Martin", "Title": "CEO", "Contact": {"ContactId": cid},
        "Emails": [{"Value": "steve@acme.dk", "Description": "Job"}],
        "MobilePhones": [{"Value": "+45 20 30 40 50"}]})
    assert person.status_code == 200, person.text
    p = person.json()
    assert p["FullName"] == "Steve Martin" and p["Contact"]["ContactId"] == cid and p["Contact"]["Name"] == "Acme ApS"
    assert tenant.api.get(f"/Contact/{cid}").json()["Persons"][0]["PersonId"] == p["PersonId"]

    sale = tenant.api.post("/Sale", json={"Contact": {"ContactId": cid}, "Person": {"PersonId": p["PersonId"]},
                                          "Heading": "Big deal", "Amount": 15980.5, "Rating": {"Id": 3},
                                          "Saledate": "2026-01-07T09:40:59.5506914+01:00"})
    assert sale.status_code == 200, sale.text
    s = sale.json()
    assert s["Status"] == "Open" and s["Probability"] == 50 and s["Rating"]["Value"] == "Proposal"
    assert s["Saledate"] == "2026-01-07T08:40:59"
    won = tenant.api.patch(f"/Sale/{s['SaleId']}", json=[{"op": "replace", "path": "Status", "value": "Sold"}])
    assert won.json()["Status"] == "Sold"

    appt = tenant.api.post("/Appointment", json={"Contact": {"ContactId": cid}, "Description": "Hello world!",
                                                 "Type": "inChecklist", "Task": {"TaskListItemId": 3}})
    assert appt.status_code == 200, appt.text
    a = appt.json()
    assert a["Type"] == "inChecklist" and a["Task"]["Value"] == "To-do"
    done = tenant.api.patch(f"/Appointment/{a['AppointmentId']}", json={"Completed": "Completed"})
    assert done.json()["Completed"] == "Completed"

    simple = tenant.api.get(f"/Person/{p['PersonId']}/Simple").json()
    assert simple["Email"] == "steve@acme.dk" and simple["ContactName"] == "Acme ApS"
    for path in (f"/Appointment/{a['AppointmentId']}", f"/Sale/{s['SaleId']}", f"/Person/{p['PersonId']}"):
        assert tenant.api.delete(path).status_code == 204
        assert tenant.api.get(path).status_code == 404


def test_json_patch_forms(tenant) -> None:  # type: ignore[no-untyped-def]
    tenant.sb.define_udef("Cust12345", "contact", "SuperOffice:1", "Note", "ShortText")
    cid = create_contact(tenant)["ContactId"]
    patched = tenant.api.patch(f"/Contact/{cid}", json=[
        {"op": "replace", "path": "Department", "value": "Sales"},
        {"op": "replace", "path": "/Category/Id", "value": 4},
        {"op": "replace", "path": "CustomFields", "value": {"SuperOffice:1": "Testing"}},
        {"op": "add", "path": "/Emails/-", "value": {"Value": "info@acme.dk", "Description": ""}},
        {"op": "test", "path": "Name", "value": "Acme ApS"},
    ], headers={"Content-Type": "application/json-patch+json"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["Department"] == "Sales" and body["Category"]["Id"] == 4 and body["Category"]["Value"] == "Partner"
    assert body["CustomFields"]["SuperOffice:1"] == "Testing"
    assert [e["Value"] for e in body["Emails"]] == ["info@acme.dk"]

    removed = tenant.api.patch(f"/Contact/{cid}", json=[{"op": "remove", "path": "Department"},
                                                         {"op": 2, "path": "Name", "value": "Renamed"}])
    assert removed.json()["Department"] == "" and removed.json()["Name"] == "Renamed"


def test_merge_patch_skips_nulls_and_appends_to_arrays(tenant) -> None:  # type: ignore[no-untyped-def]
    cid = create_contact(tenant, Department="Keep me")["ContactId"]
    merged = tenant.api.patch(f"/Contact/{cid}", json={
        "Name": "Merged", "Department": None, "Emails": {"Value": "a@acme.dk"}, "Category": {"Id": 2}},
        headers={"Content-Type": "application/merge-patch+json"})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["Name"] == "Merged" and body["Department"] == "Keep me"
    assert body["Emails"][0]["Value"] == "a@acme.dk" and body["Category"]["Id"] == 2


@pytest.mark.parametrize(("ops", "status", "fragment"), [
    ([{"op": "move", "from": "Name", "path": "Department"}], 400, "not supported"),
    ([{"op": "copy", "from": "Name", "path": "Department"}], 400, "not supported"),
    ([{"op": "replace", "path": "Address/Street/Address1", "value": "x"}], 400, "Address/Street"),
    ([{"op": "test", "path": "Name", "value": "Other"}], 409, "test failed"),
    ([{"op": "replace", "path": "Category/Id", "value": 999}], 400, "Category.Id: 999 does not exist"),
    ([{"op": "replace", "path": "NoSuchField", "value": 1}], 400, "does not exist"),
    ([{"op": "frobnicate", "path": "Name"}], 400, "frobnicate"),
])
def test_bad_patches_are_rejected_with_a_reason(tenant, ops, status, fragment) -> None:  # type: ignore[no-untyped-def]
    cid = create_contact(tenant)["ContactId"]
    response = tenant.api.patch(f"/Contact/{cid}", json=ops)
    assert response.status_code == status
    assert fragment in response.json()["ErrorMessage"]
    assert tenant.api.get(f"/Contact/{cid}").json()["Name"] == "Acme ApS"
    tenant.sb.clear_spec_violations()  # `from` and unknown ops are (rightly) request violations too


def test_address_street_replaced_whole(tenant) -> None:  # type: ignore[no-untyped-def]
    cid = create_contact(tenant)["ContactId"]
    response = tenant.api.patch(f"/Contact/{cid}", json=[
        {"op": "replace", "path": "Address/Street", "value": {"Address1": "Nørregade 7", "City": "Odense"}}])
    assert response.status_code == 200
    assert response.json()["Address"]["Street"]["Address1"] == "Nørregade 7"


@pytest.mark.parametrize(("content", "fragment"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"", "missing"),
])
def test_malformed_bodies_are_400(tenant, content: bytes, fragment: str) -> None:  # type: ignore[no-untyped-def]
    response = tenant.api.post("/Contact", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["ErrorMessage"]
    tenant.sb.clear_spec_violations()  # the checker rightly flags these requests; covered in tests/contract


@pytest.mark.parametrize(("body", "fragment"), [
    ({"Name": "X", "Category": 5}, "Category: expected an object"),
    ({"Name": "X", "Emails": "a@b.c"}, "Emails: expected an array"),
    ({"Name": {"a": 1}}, "Name: expected a string"),
    ({"Name": "X", "NoMailing": "maybe"}, "NoMailing"),
])
def test_wrong_types_name_the_property(tenant, body, fragment) -> None:  # type: ignore[no-untyped-def]
    response = tenant.api.post("/Contact", json=body)
    assert response.status_code == 400 and fragment in response.json()["ErrorMessage"]
    tenant.sb.clear_spec_violations()


def test_person_requires_contact_and_sale_person_must_match(tenant) -> None:  # type: ignore[no-untyped-def]
    assert tenant.api.post("/Person", json={"Firstname": "No", "Lastname": "Company"}).status_code == 400
    c1 = create_contact(tenant)["ContactId"]
    c2 = create_contact(tenant, Name="Other")["ContactId"]
    pid = tenant.api.post("/Person", json={"Firstname": "A", "Contact": {"ContactId": c1}}).json()["PersonId"]
    wrong = tenant.api.post("/Sale", json={"Contact": {"ContactId": c2}, "Person": {"PersonId": pid}, "Heading": "x"})
    assert wrong.status_code == 400 and "does not belong" in wrong.json()["ErrorMessage"]


def test_conditional_headers(tenant) -> None:  # type: ignore[no-untyped-def]
    cid = create_contact(tenant)["ContactId"]
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    future = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    stale = tenant.api.put(f"/Contact/{cid}", json={"Name": "x"}, headers={"If-Unmodified-Since": past})
    assert stale.status_code == 412
    assert tenant.api.delete(f"/Contact/{cid}", headers={"If-Unmodified-Since": past}).status_code == 412
    fresh = tenant.api.patch(f"/Contact/{cid}", json={"Name": "y"}, headers={"If-Unmodified-Since": future})
    assert fresh.status_code == 200
    assert tenant.api.get(f"/Contact/{cid}", headers={"If-Modified-Since": future}).status_code == 304
    assert tenant.api.get(f"/Contact/{cid}", headers={"If-Modified-Since": past}).status_code == 200


def test_select_nulls_other_properties(tenant) -> None:  # type: ignore[no-untyped-def]
    cid = create_contact(tenant)["ContactId"]
    body = tenant.api.get(f"/Contact/{cid}", params={"$select": "Name,OrgNr"}).json()
    assert body["Name"] == "Acme ApS" and body["OrgNr"] == "12345678"
    assert body["Department"] is None and body["ContactId"] == 0 and body["Category"] is None


def test_overlong_text_truncates_by_default_and_rejects_when_configured(tenant) -> None:  # type: ignore[no-untyped-def]
    long_name = "N" * 300
    assert create_contact(tenant, Name=long_name)["Name"] == "N" * 219
    tenant.sb.overlong_text = "reject"
    try:
        response = tenant.api.post("/Contact", json={"Name": long_name})
        assert response.status_code == 400 and "at most 219" in response.json()["ErrorMessage"]
    finally:
        tenant.sb.overlong_text = "truncate"


def test_unknown_endpoint_and_bad_id(tenant) -> None:  # type: ignore[no-untyped-def]
    assert tenant.api.get("/Contact/abc").status_code == 400
    assert tenant.api.get("/Nope").status_code == 404
    tenant.sb.clear_spec_violations()


def test_lists_principal_and_duplicates(tenant) -> None:  # type: ignore[no-untyped-def]
    stages = tenant.api.get("/List/Rating/Items").json()
    assert [(s["SaleStageId"], s["Probability"]) for s in stages][:2] == [(1, 10), (2, 25)]
    assert tenant.api.get("/List/SaleType/Items").json()[0]["Stages"]
    associates = tenant.api.get("/MDOList/associate").json()
    assert associates[0]["Id"] == 5 and associates[0]["Name"] == "Tony Young"
    me = tenant.api.get("/User/currentPrincipal").json()
    assert me["EMailAddress"] == "tony@example.com" and me["DatabaseContextIdentifier"] == "Cust12345"
    cid = create_contact(tenant, Urls=[{"Value": "https://www.acme.dk/about"}])["ContactId"]
    by_name = tenant.api.get("/Contact/Duplicates/acme%20aps").json()
    assert [d["SoPrimaryKey"] for d in by_name] == [cid]
    by_domain = tenant.api.get("/Contact/DuplicateDomains/acme.dk").json()
    assert [d["SoPrimaryKey"] for d in by_domain] == [cid]
    assert tenant.api.get("/Contact/DuplicateDomains/other.dk").json() == []
