"""Fidelity of the SuperOffice sandbox to the official Swagger spec (`Swagger-v1-REST.json`).

- Every REST operation the sandbox implements is driven once over HTTP; the sandbox validates each request and each
  JSON response against the spec, and no violation may be recorded.
- Every sandbox route maps to a spec path and method.
- The checker is shown to catch a bad response (misspelt property, wrong type, undeclared status) and bad requests
  (unknown query parameter, invalid body, unknown path).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from local.sandbox.common import LoopbackServer
from local.sandbox.superoffice import SuperOfficeSandbox
from local.sandbox.superoffice.entities import KINDS

CTX = "Cust20001"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01) as sb:
        yield sb


@pytest.fixture
def api(sandbox: SuperOfficeSandbox) -> Iterator[httpx.Client]:
    sandbox.reset()
    app = sandbox.register_app(["http://127.0.0.1:9/cb"])
    sandbox.add_customer(CTX, "Contract AS")
    sandbox.add_user(CTX, "admin@contract.example", associate_id=7, is_admin=True)
    token = sandbox.issue_tokens(CTX, "admin@contract.example", app.client_id)
    with httpx.Client(base_url=f"{sandbox.api_base(CTX)}/api/v1",
                      headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    """A webhook target that answers 200 to everything (registration test POSTs and events)."""

    def app(environ: dict, start_response):  # type: ignore[no-untyped-def]
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = LoopbackServer(app)
    server.start()
    yield f"{server.url}/hook"
    server.stop()


def ok(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response


def test_every_implemented_operation_conforms_to_the_spec(sandbox: SuperOfficeSandbox, api: httpx.Client,
                                                          receiver_url: str) -> None:
    sb = sandbox
    for entity in KINDS:
        sb.define_udef(CTX, entity, None, f"{entity} text", "ShortText")
    sb.define_udef(CTX, "contact", "Lead:score", "Score", "Number")
    sb.define_udef(CTX, "contact", "Lead:tier", "Tier", "List", list_items={1: "Gold"})
    sb.define_udef(CTX, "contact", "Lead:since", "Since", "Date")

    for name in ("Contact", "Person", "Sale", "Appointment"):
        ok(api.get(f"/{name}/default"))
        ok(api.get(f"/{name}/UdefLayout/Published"))
        ok(api.get(f"/{name}/CustomField"))
    ok(api.get("/Contact/UdefLayout/Published/Lead:score"))

    contact = ok(api.post("/Contact", params={"$select": "Name,OrgNr"}, json={
        "Name": "Spec ApS", "OrgNr": "12345678", "Department": "HQ", "Category": {"Id": 1},
        "Business": {"Id": 2}, "Country": {"CountryId": 208}, "Associate": {"AssociateId": 7},
        "Emails": [{"Value": "info@spec.dk", "Description": "Main"}], "Urls": [{"Value": "https://spec.dk"}],
        "Phones": [{"Value": "+45 11 22 33 44"}], "Domains": ["spec.dk"],
        "Address": {"Street": {"Address1": "Gade 1", "Zipcode": "1000", "City": "København"},
                    "Postal": {"Address1": "Box 2", "City": "København"}},
        "CustomFields": {"Lead:score": "[I:50]", "Lead:tier": "[I:1]", "Lead:since": "[D:01/31/2024]"}})).json()
    cid = ok(api.get("/Contact", params={"$select": "contactId", "$filter": "orgnr eq '12345678'"})).json()[
        "value"][0]["contactId"]
    assert contact["ContactId"] == 0  # not selected: value types keep their default
    ok(api.get(f"/Contact/{cid}"))
    ok(api.get(f"/Contact/{cid}", params={"$select": "Name", "fk": "true"}))
    ok(api.get(f"/Contact/{cid}/Simple"))
    ok(api.put(f"/Contact/{cid}", json={"Name": "Spec A/S", "OrgNr": "12345678"}))
    ok(api.patch(f"/Contact/{cid}", json=[{"op": "replace", "path": "/Department", "value": "Sales"},
                                          {"op": "replace", "path": "Category/Id", "value": 2},
                                          {"op": "add", "path": "CustomFields", "value": {"Lead:score": "7"}},
                                          {"op": "test", "path": "Name", "value": "Spec A/S"}]))
    ok(api.patch(f"/Contact/{cid}", json={"Department": "Merged"}))

    person = ok(api.post("/Person", json={
        "Firstname": "Ann", "Lastname": "Berg", "Title": "CEO", "Contact": {"ContactId": cid},
        "Position": {"Id": 1}, "Emails": [{"Value": "ann@spec.dk"}], "MobilePhones": [{"Value": "+45 20 20 20 20"}],
        "BirthDate": "1980-05-01T00:00:00"})).json()
    pid = person["PersonId"]
    ok(api.get(f"/Person/{pid}"))
    ok(api.get(f"/Person/{pid}/Simple"))
    ok(api.put(f"/Person/{pid}", json={"Firstname": "Ann", "Lastname": "Berg-Hansen", "Contact": {"ContactId": cid}}))
    ok(api.patch(f"/Person/{pid}", json=[{"op": "replace", "path": "Emails",
                                          "value": [{"Value": "a@b.com", "Description": "Job"}]}]))

    sale = ok(api.post("/Sale", json={
        "Contact": {"ContactId": cid}, "Person": {"PersonId": pid}, "Heading": "Deal", "Amount": 1000.5,
        "Rating": {"Id": 2}, "SaleType": {"Id": 1}, "Currency": {"Id": 1},
        "Saledate": "2026-03-01T12:00:00"})).json()
    sid = sale["SaleId"]
    ok(api.get(f"/Sale/{sid}"))
    ok(api.get(f"/Sale/{sid}/Simple"))
    ok(api.put(f"/Sale/{sid}", json={"Contact": {"ContactId": cid}, "Heading": "Deal 2", "Status": "Open"}))
    ok(api.patch(f"/Sale/{sid}", json=[{"op": "replace", "path": "Status", "value": "Lost"},
                                       {"op": "replace", "path": "Reason/Id", "value": 1}]))

    appt = ok(api.post("/Appointment", json={
        "Contact": {"ContactId": cid}, "Person": {"PersonId": pid}, "Sale": {"SaleId": sid},
        "Description": "Call back", "Type": "inChecklist", "Task": {"TaskListItemId": 2},
        "StartDate": "2026-03-02T09:00:00", "EndDate": "2026-03-02T09:30:00"})).json()
    aid = appt["AppointmentId"]
    ok(api.get(f"/Appointment/{aid}"))
    ok(api.get(f"/Appointment/{aid}/Simple"))
    ok(api.put(f"/Appointment/{aid}", json={"Contact": {"ContactId": cid}, "Description": "Moved"}))
    ok(api.patch(f"/Appointment/{aid}", json={"Completed": "Completed"}))

    archive_params = {"$select": "contactId,name,orgnr,updatedDate,contactUdef/Lead:score,category",
                      "$filter": "name begins 'Spec' and updatedDate afterTime '2020-01-01T00:00:00'",
                      "$orderBy": "contactId", "$top": "1000", "$skip": "0"}
    ok(api.get("/Contact", params=archive_params))
    ok(api.get("/Contact", params={**archive_params, "$mode": "Full", "$jsonSafe": "true"}))
    ok(api.get("/Person", params={"$select": "personId,firstName,lastName,email,contactId,personUpdatedDate",
                                  "$filter": f"contactId eq {cid}"}))
    ok(api.get("/Sale", params={"$select": "saleId,heading,status,amount", "$filter": "status oneOf (1,3)"}))
    ok(api.get("/Appointment", params={"$select": "appointmentId,description"}))
    ok(api.get(f"/Contact/{cid}/Persons", params={"$select": "personId"}))
    ok(api.get("/Archive/SimpleContact", params={"$select": "contactId,name", "$inlineCount": "False"}))
    ok(api.post("/Archive/SimpleContact", data={"$select": "contactId"}))
    sb.add_favourites(CTX, 7, contact_ids=[cid], person_ids=[pid])
    ok(api.get("/Archive/contactfavourites", params={"$select": "contactId,name"}))
    ok(api.get("/Archive/personfavourites", params={"$select": "personId,retired"}))
    sel = sb.add_selection(CTX, "Static", member_ids=[cid])
    ok(api.get(f"/Selection/{sel.selection_id}/Members", params={"$select": "contactId,name"}))

    ok(api.get("/Contact/Duplicates/Spec ApS", params={"department": "Merged"}))
    ok(api.get("/Contact/DuplicateDomains/spec.dk"))
    ok(api.get("/List/Rating/Items"))
    ok(api.get("/List/SaleType/Items"))
    for listname in ("associate", "category", "business", "country", "prob"):
        ok(api.get(f"/MDOList/{listname}"))
    ok(api.get("/User/currentPrincipal"))
    ok(api.get("/User/currentAssociate"))

    ok(api.get("/Webhook/default"))
    hook = ok(api.post("/Webhook", json={"Name": "Spec hook", "Events": ["contact.changed"],
                                         "TargetUrl": receiver_url, "Secret": "s3cret", "State": "Active",
                                         "Type": "webhook"})).json()
    wid = hook["WebhookId"]
    ok(api.get("/Webhook", params={"nameFilter": "Spec", "eventFilter": "contact.changed", "statusFilter": "Active"}))
    ok(api.get(f"/Webhook/{wid}"))
    ok(api.put(f"/Webhook/{wid}", json={**{k: hook[k] for k in ("Name", "Events", "TargetUrl", "Secret")},
                                         "State": "Active"}))
    ok(api.patch(f"/Webhook/{wid}", json=[{"op": "replace", "path": "Name", "value": "Renamed"}]))
    ok(api.get(f"/Webhook/{wid}/LastError"))
    ok(api.post("/Webhook/Test", json={"Name": "t", "Events": ["contact.created"], "TargetUrl": receiver_url}))
    ok(api.delete(f"/Webhook/{wid}"))

    for path in (f"/Appointment/{aid}", f"/Sale/{sid}", f"/Person/{pid}", f"/Contact/{cid}"):
        assert api.delete(path).status_code == 204

    assert sb.spec_violations == []


def test_every_sandbox_route_is_a_spec_operation(sandbox: SuperOfficeSandbox) -> None:
    from local.sandbox.superoffice.rest import RestApp

    app = RestApp(sandbox, 0)
    missing = []
    for method, regex, _handler in app.routes:
        path = re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}", regex.pattern.strip("^$").removesuffix("/?"))
        concrete = re.sub(r"\{\w+\}", "1", path)
        op, _, _ = sandbox.spec.match(method, concrete)
        if op is None:
            missing.append(f"{method} {path}")
    assert missing == []
    assert len(app.routes) >= 60


def test_checker_catches_a_misspelt_or_mistyped_response(sandbox: SuperOfficeSandbox, api: httpx.Client) -> None:
    cid = ok(api.post("/Contact", json={"Name": "Good"})).json()["ContactId"]
    good = ok(api.get(f"/Contact/{cid}")).json()
    op, _, _ = sandbox.spec.match("GET", f"/api/v1/Contact/{cid}")
    assert op is not None
    assert sandbox.checker.check_response(op, "/api/v1/Contact/1", 200, good, True) == []

    misspelt = dict(good)
    misspelt["OrgNumber"] = misspelt.pop("OrgNr")
    problems = sandbox.checker.check_response(op, "/api/v1/Contact/1", 200, misspelt, True)
    assert any("OrgNumber" in p for p in problems)
    mistyped = dict(good, ContactId="1", UpdatedDate="yesterday")
    problems = sandbox.checker.check_response(op, "/api/v1/Contact/1", 200, mistyped, True)
    assert any("ContactId" in p for p in problems) and any("UpdatedDate" in p for p in problems)
    wrong_status = sandbox.checker.check_response(op, "/api/v1/Contact/1", 201, good, True)
    assert wrong_status and "201" in wrong_status[0]
    nested = dict(good, Category={"Id": 1, "Valeu": "x"})
    assert any("Valeu" in p for p in sandbox.checker.check_response(op, "/api/v1/Contact/1", 200, nested, True))
    assert sandbox.spec_violations == []


@pytest.mark.parametrize(("method", "path", "kwargs", "expected"), [
    ("GET", "/Contact", {"params": {"$select": "contactId", "$limit": "5"}}, "query parameter '$limit'"),
    ("GET", "/Contact", {"params": {"$top": "many"}}, "$top='many' is not a valid integer"),
    ("POST", "/Contact", {"json": {"Name": 42, "OrgNr": "1"}}, "body at Name"),
    ("POST", "/Contact", {"json": {"Name": "x", "Nmae": "typo"}}, "'Nmae' was unexpected"),
    ("POST", "/Person", {"json": {"Firstname": "A", "Contact": {"ContactId": "1"}}}, "body at Contact"),
    ("PATCH", "/Contact/1", {"json": [{"op": "rename", "path": "Name", "value": "x"}]}, "body at 0/op"),
    ("GET", "/Contact/abc", {}, "path parameter id='abc'"),
    ("GET", "/NoSuchThing", {}, "path not in spec"),
    ("POST", "/User/currentPrincipal", {}, "method not in spec"),
])
def test_checker_catches_bad_requests(sandbox: SuperOfficeSandbox, api: httpx.Client, method: str, path: str,
                                      kwargs: dict, expected: str) -> None:
    ok(api.post("/Contact", json={"Name": "Target"}))
    api.request(method, path, **kwargs)
    assert any(expected in v for v in sandbox.spec_violations), sandbox.spec_violations
    sandbox.clear_spec_violations()


def test_spec_check_can_be_switched_off() -> None:
    with SuperOfficeSandbox(spec_check=False) as sb:
        app = sb.register_app(["http://127.0.0.1:9/cb"])
        sb.add_customer(CTX)
        sb.add_user(CTX, "a@b.example")
        token = sb.issue_tokens(CTX, "a@b.example", app.client_id)
        httpx.get(f"{sb.api_base(CTX)}/api/v1/Contact", params={"$bogus": "1"},
                  headers={"Authorization": f"Bearer {token['access_token']}"})
        assert sb.spec_violations == []
