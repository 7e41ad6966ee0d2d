"""SuperOffice connector REST operations against the sandbox over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from leadbridge.crm.base import WebhookRequest
from leadbridge.crm.superoffice import SuperOfficeWebhooks
from leadbridge.errors import CrmNotFound, CrmRejected
from leadbridge.models.crm import CrmObject, FieldType, StageKind
from tests.support.superoffice_connector import ADMIN_ID, CTX, SoEnv


def delivery(raw_body: bytes, headers: Mapping[str, str] | None = None) -> WebhookRequest:
    """A webhook delivery as the intake hands it to a verifier."""
    return WebhookRequest(url="https://api.test/webhooks", headers=dict(headers or {}), raw_body=raw_body)


# --- CRUD ----------------------------------------------------------------------------------------------------------


def test_company_create_get_update_delete(so: SoEnv) -> None:
    connector, _ = so.connector()
    created = connector.create(
        CrmObject.COMPANY,
        {
            "Name": "Acme AS",
            "OrgNr": "913456789",
            "Department": "HQ",
            "Email": "post@acme.no",
            "Url": "https://acme.no",
            "Phone": "+47 22 00 00 00",
            "StreetAddress": "Storgata 1",
            "City": "Oslo",
            "Zipcode": "0150",
            "Owner": str(ADMIN_ID),
        },
    )
    assert created.id.isdigit()
    assert created.url == f"{so.sandbox.api_base(CTX)}/default.aspx?contact_id={created.id}"
    stored = so.sandbox.get(CTX, "contact", int(created.id))
    assert stored["Name"] == "Acme AS" and stored["OrgNr"] == "913456789"
    assert stored["Emails"][0]["Value"] == "post@acme.no"
    assert stored["Address"]["Postal"]["City"] == "Oslo"

    fetched = connector.get(CrmObject.COMPANY, created.id)
    f = fetched.fields
    assert (f["Name"], f["Department"], f["Email"], f["Url"], f["City"], f["Zipcode"], f["Owner"]) == (
        "Acme AS",
        "HQ",
        "post@acme.no",
        "https://acme.no",
        "Oslo",
        "0150",
        str(ADMIN_ID),
    )
    assert fetched.updated_at is not None and fetched.updated_at.tzinfo is not None

    updated = connector.update(CrmObject.COMPANY, created.id, {"Department": "Sales", "City": "Bergen"})
    assert updated.fields["Department"] == "Sales"
    assert updated.fields["City"] == "Bergen"
    assert updated.fields["Zipcode"] == "0150"  # the rest of the postal address survived
    assert updated.fields["Name"] == "Acme AS" and updated.fields["Email"] == "post@acme.no"

    connector.delete(CrmObject.COMPANY, created.id)
    with pytest.raises(CrmNotFound):
        connector.get(CrmObject.COMPANY, created.id)


def test_person_sale_and_appointment_belong_to_their_company(so: SoEnv) -> None:
    connector, _ = so.connector()
    company = connector.create(CrmObject.COMPANY, {"Name": "Parent AS"})
    person = connector.create(
        CrmObject.PERSON,
        {
            "Firstname": "Kari",
            "Lastname": "Nordmann",
            "Title": "CEO",
            "Email": "kari@parent.no",
            "MobilePhone": "+47 900 00 000",
        },
        parent_id=company.id,
    )
    assert person.parent_id == company.id
    assert (person.fields["Email"], person.fields["MobilePhone"], person.fields["Title"]) == (
        "kari@parent.no",
        "+47 900 00 000",
        "CEO",
    )
    assert [p.id for p in connector.list_persons(company.id)] == [person.id]

    stage = next(s for s in connector.stages() if s.group == "stage")
    sale = connector.create(
        CrmObject.DEAL,
        {
            "Heading": "Big deal",
            "Amount": 1500.5,
            "Status": "Open",
            "Stage": stage.id,
            "Saledate": datetime(2025, 3, 1, 12, 0),
        },
        parent_id=company.id,
        person_id=person.id,
    )
    assert (sale.parent_id, sale.person_id) == (company.id, person.id)
    assert (sale.fields["Amount"], sale.fields["Status"], sale.fields["Stage"]) == (1500.5, "Open", stage.id)
    won = connector.update(CrmObject.DEAL, sale.id, {"Status": "Sold"})
    assert won.fields["Status"] == "Sold"

    task = connector.create(
        CrmObject.ACTIVITY,
        {
            "Description": "Call back",
            "Type": "inChecklist",
            "StartDate": datetime(2025, 3, 2, 9, 0),
            "Completed": False,
        },
        parent_id=company.id,
        person_id=person.id,
    )
    assert task.fields["Completed"] is False and task.fields["Type"] == "inChecklist"
    done = connector.update(CrmObject.ACTIVITY, task.id, {"Completed": True})
    assert done.fields["Completed"] is True
    assert done.fields["Description"] == "Call back"


def test_bad_input_is_rejected_with_the_field_named(so: SoEnv) -> None:
    connector, _ = so.connector()
    with pytest.raises(CrmRejected) as exc:
        connector.create(CrmObject.DEAL, {"Heading": "x", "Status": "Won"})
    assert exc.value.fields == ["Status"]
    with pytest.raises(CrmRejected) as exc:
        connector.get(CrmObject.COMPANY, "not-a-number")
    assert "numbers" in exc.value.reason
    assert "sale.create" not in connector.calls and "contact.get" not in connector.calls  # nothing was sent


def test_missing_records_are_not_found(so: SoEnv) -> None:
    connector, _ = so.connector()
    for obj in CrmObject:
        with pytest.raises(CrmNotFound):
            connector.get(obj, "999999")
    with pytest.raises(CrmNotFound):
        connector.update(CrmObject.COMPANY, "999999", {"Name": "x"})


# --- metadata and custom fields ------------------------------------------------------------------------------------


@pytest.fixture
def udefs(so: SoEnv) -> None:
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:1", "Employees", "Number")
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:2", "Industry", "ShortText")
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:3", "Founded", "Date")
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:4", "Grade", "List", list_items={1: "A", 2: "B"})
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:5", "Public", "Checkbox")
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:6", "Revenue", "Decimal")
    so.sandbox.define_udef(CTX, "contact", None, "Notes", "LongText")
    so.sandbox.define_udef(CTX, "contact", "RabitIQ:7", "Locked", "ShortText", read_only=True)


def test_fields_list_standard_and_published_custom_fields(so: SoEnv, udefs: None) -> None:
    connector, _ = so.connector()
    fields = {f.name: f for f in connector.fields(CrmObject.COMPANY)}
    assert fields["Name"].length == 219 and fields["Name"].required and not fields["Name"].custom
    assert fields["OrgNr"].length == 49
    assert fields["RabitIQ:1"].type == FieldType.INTEGER and fields["RabitIQ:1"].custom
    assert fields["RabitIQ:2"].type == FieldType.STRING and fields["RabitIQ:2"].length == 39
    assert fields["RabitIQ:3"].type == FieldType.DATE
    assert fields["RabitIQ:4"].type == FieldType.PICKLIST
    assert fields["RabitIQ:5"].type == FieldType.BOOLEAN
    assert fields["RabitIQ:6"].type == FieldType.DECIMAL
    assert not fields["RabitIQ:7"].updateable
    long_text = [f for f in fields.values() if f.label == "Notes"]
    assert long_text and long_text[0].name.startswith("SuperOffice:") and long_text[0].length == 199


def test_custom_fields_are_written_encoded_and_read_back_typed(so: SoEnv, udefs: None) -> None:
    connector, _ = so.connector()
    created = connector.create(
        CrmObject.COMPANY,
        {
            "Name": "Custom AS",
            "RabitIQ:1": 250,
            "RabitIQ:2": "Retail " * 10,
            "RabitIQ:3": date(1999, 12, 31),
            "RabitIQ:4": "2",
            "RabitIQ:5": True,
            "RabitIQ:6": 1234.5,
            "RabitIQ:37": "not published",
            "RabitIQ:7": "read only",
        },
    )
    assert connector.take_skipped_fields() == ["RabitIQ:37", "RabitIQ:7"]
    assert connector.take_skipped_fields() == []  # reported once
    raw = so.sandbox.get(CTX, "contact", int(created.id))["CustomFields"]
    assert raw["RabitIQ:1"] == "[I:250]"
    assert raw["RabitIQ:2"] == ("Retail " * 10)[:39]
    assert raw["RabitIQ:3"] in ("[D:12/31/1999]", "[D:31.12.1999]")
    assert raw["RabitIQ:4"] == "[I:2]"
    assert raw["RabitIQ:5"] == "[I:1]"
    assert raw["RabitIQ:6"] == "[F:1234.5]"
    assert "RabitIQ:37" not in raw

    fields = connector.get(CrmObject.COMPANY, created.id).fields
    assert (
        fields["RabitIQ:1"],
        fields["RabitIQ:3"],
        fields["RabitIQ:4"],
        fields["RabitIQ:5"],
        fields["RabitIQ:6"],
    ) == (250, date(1999, 12, 31), "2", True, 1234.5)

    updated = connector.update(CrmObject.COMPANY, created.id, {"RabitIQ:1": 300, "RabitIQ:99": "x"})
    assert connector.take_skipped_fields() == ["RabitIQ:99"]
    assert updated.fields["RabitIQ:1"] == 300
    assert updated.fields["RabitIQ:6"] == 1234.5  # other custom fields untouched by the partial update


def test_stages_list_sale_stages_and_statuses(so: SoEnv) -> None:
    connector, _ = so.connector()
    stages = connector.stages()
    pipeline = [s for s in stages if s.group == "stage"]
    statuses = {s.id: s.kind for s in stages if s.group == "status"}
    assert pipeline and all(s.kind == StageKind.OPEN and s.probability is not None for s in pipeline)
    assert statuses == {
        "Open": StageKind.OPEN,
        "Sold": StageKind.WON,
        "Lost": StageKind.LOST,
        "Stalled": StageKind.STALLED,
    }


def test_users_are_the_tenant_associates(so: SoEnv) -> None:
    so.sandbox.add_user(CTX, "sales@example.com", associate_id=7, full_name="Sally Sales")
    connector, _ = so.connector()
    users = {u.id: u for u in connector.users()}
    assert users[str(ADMIN_ID)].name == "Tony Young"
    assert users["7"].email == "sales@example.com"


# --- search --------------------------------------------------------------------------------------------------------


def test_search_companies_by_org_nr_name_and_domain(so: SoEnv) -> None:
    connector, _ = so.connector()
    acme = connector.create(CrmObject.COMPANY, {"Name": "Acme AS", "OrgNr": "913456789", "Email": "post@acme.no"})
    obrien = connector.create(CrmObject.COMPANY, {"Name": "O'Brien's Bar", "Url": "https://www.obrien.ie"})
    connector.create(CrmObject.COMPANY, {"Name": "Acme Sverige AB", "OrgNr": "9134567890"})

    assert [r.id for r in connector.search_companies(org_nr="913456789")] == [acme.id]
    assert {r.fields["Name"] for r in connector.search_companies(name="Acme")} == {"Acme AS", "Acme Sverige AB"}
    assert [r.id for r in connector.search_companies(name="O'Brien")] == [obrien.id]
    assert [r.id for r in connector.search_companies(domain="acme.no")] == [acme.id]
    assert [r.id for r in connector.search_companies(domain="www.obrien.ie")] == [obrien.id]
    both = connector.search_companies(org_nr="913456789", name="Acme AS")
    assert [r.id for r in both] == [acme.id]  # de-duplicated
    assert connector.search_companies(name="Nobody") == []


# --- incremental reads ---------------------------------------------------------------------------------------------


def test_changes_since_pages_to_the_end_and_respects_since(so: SoEnv) -> None:
    connector, _ = so.connector(page_size=2)
    ids = [connector.create(CrmObject.COMPANY, {"Name": f"Company {i}"}).id for i in range(5)]
    old = so.sandbox.customer(CTX).records["contact"][int(ids[0])]
    old["UpdatedDate"] = datetime(2020, 1, 1, tzinfo=UTC).replace(tzinfo=old["UpdatedDate"].tzinfo)
    since = datetime.now(UTC) - timedelta(hours=1)

    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = connector.changes_since(CrmObject.COMPANY, since, token)
        pages += 1
        seen += [r.id for r in page.records]
        assert all(r.fields["Name"].startswith("Company") for r in page.records)
        token = page.next_page_token
        if token is None:
            break
    assert seen == ids[1:]
    assert pages == 2 + 1  # two full pages, then a short one ends the run
    # Inclusive: a record updated exactly at `since` is included.
    exact = so.sandbox.customer(CTX).records["contact"][int(ids[0])]
    exact["UpdatedDate"] = exact["UpdatedDate"].replace(year=2021, microsecond=0)
    at = exact["UpdatedDate"] if exact["UpdatedDate"].tzinfo else exact["UpdatedDate"].replace(tzinfo=UTC)
    assert ids[0] in [r.id for r in connector.changes_since(CrmObject.COMPANY, at).records]


def test_all_ids_and_deleted_since(so: SoEnv) -> None:
    connector, _ = so.connector(page_size=2)
    ids = [connector.create(CrmObject.COMPANY, {"Name": f"C{i}"}).id for i in range(5)]
    assert list(connector.all_ids(CrmObject.COMPANY)) == ids
    before = datetime.now(UTC) - timedelta(minutes=5)
    so.sandbox.soft_delete(CTX, "contact", int(ids[2]))
    assert connector.deleted_since(CrmObject.COMPANY, before) == [ids[2]]
    assert connector.deleted_since(CrmObject.PERSON, before) == []
    assert ids[2] not in list(connector.all_ids(CrmObject.COMPANY))


def test_selections_and_favourites(so: SoEnv) -> None:
    connector, _ = so.connector()
    fav_company = connector.create(CrmObject.COMPANY, {"Name": "Fav AS"})
    other = connector.create(CrmObject.COMPANY, {"Name": "Other AS"})
    current = connector.create(CrmObject.PERSON, {"Lastname": "Current"}, parent_id=fav_company.id)
    former = connector.create(CrmObject.PERSON, {"Lastname": "Former", "Retired": True}, parent_id=fav_company.id)
    fav_person = connector.create(CrmObject.PERSON, {"Lastname": "Fav"}, parent_id=other.id)
    so.sandbox.add_favourites(CTX, ADMIN_ID, contact_ids=[int(fav_company.id)], person_ids=[int(fav_person.id)])
    selection = so.sandbox.add_selection(
        CTX, "Leads", target="person", member_ids=[int(current.id), int(fav_person.id)]
    )

    assert connector.favourite_company_ids() == [fav_company.id]
    assert connector.favourite_person_ids() == [fav_person.id]
    assert connector.favourite_company_person_ids() == [current.id]  # the former employee is left out
    assert set(connector.company_person_ids(fav_company.id, include_retired=True)) == {current.id, former.id}
    assert sorted(connector.selection_person_ids(str(selection.selection_id))) == sorted([current.id, fav_person.id])


# --- webhooks ------------------------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/superoffice", received
    server.shutdown()
    server.server_close()


def test_webhook_lifecycle_and_signed_deliveries(so: SoEnv, receiver: tuple[str, list]) -> None:
    url, received = receiver
    connector, _ = so.connector()
    registration = connector.register_webhook(url, "per-connection-secret")
    assert registration.active and registration.url == url
    assert "contact.created" in registration.events and "sale.sold" in registration.events
    assert [w.id for w in connector.list_webhooks()] == [registration.id]

    company = connector.create(CrmObject.COMPANY, {"Name": "Hooked AS"})
    so.sandbox.wait_for_deliveries(lambda ds: any(d.event == "contact.created" for d in ds))
    hooks = SuperOfficeWebhooks()
    events = []
    for headers, body in received:
        assert hooks.verify(delivery(body, headers), "per-connection-secret")
        assert not hooks.verify(delivery(body, headers), "wrong-secret")
        events += hooks.parse(delivery(body, headers))
    created = [e for e in events if e.event == "contact.created"]
    assert created and created[0].record_id == company.id and created[0].object == CrmObject.COMPANY
    assert created[0].account_id == CTX

    so.sandbox.customer(CTX).webhooks[int(registration.id)]["State"] = "TooManyErrors"
    assert not next(w for w in connector.list_webhooks() if w.id == registration.id).active
    reactivated = connector.reactivate_webhook(registration.id)
    assert reactivated.active and reactivated.state == "Active"

    connector.unregister_webhook(registration.id)
    assert connector.list_webhooks() == []
    with pytest.raises(CrmNotFound):
        connector.unregister_webhook(registration.id)


def test_record_url_points_at_the_tenant_web_client(so: SoEnv) -> None:
    connector, _ = so.connector()
    assert connector.record_url(CrmObject.PERSON, "42") == f"{so.sandbox.api_base(CTX)}/default.aspx?person_id=42"
