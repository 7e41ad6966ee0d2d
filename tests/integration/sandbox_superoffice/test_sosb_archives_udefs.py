"""OData archives ($select/$filter/$orderBy/$top/$skip), selections, favourites and udef encodings."""

from __future__ import annotations

import pytest

CTX = "Cust12345"


@pytest.fixture
def seeded(tenant):  # type: ignore[no-untyped-def]
    sb = tenant.sb
    sb.define_udef(CTX, "contact", "RabitIQ:1", "Lead score", "Number")
    ids = []
    for i, (name, orgnr) in enumerate([("Alfa ApS", "11111111"), ("Beta A/S", "22222222"), ("Gamma IVS", "33333333"),
                                       ("Alfa Consult", "44444444"), ("Delta ApS", "55555555")]):
        rec = sb.create(CTX, "contact", {"Name": name, "OrgNr": orgnr, "Category": {"Id": 1 + i % 2},
                                         "Emails": [{"Value": f"info@{name.split()[0].lower()}.dk"}],
                                         "CustomFields": {"RabitIQ:1": str(10 * i)}})
        ids.append(rec["ContactId"])
    return tenant, ids


def rows(tenant, path="/Contact", **params):  # type: ignore[no-untyped-def]
    response = tenant.api.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["odata.nextLink"] is None
    return body["value"]


def test_filter_operators(seeded) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = seeded
    sel = "contactId,name,orgnr"
    assert [r["name"] for r in rows(tenant, **{"$select": sel, "$filter": "orgnr eq '22222222'"})] == ["Beta A/S"]
    assert len(rows(tenant, **{"$select": sel, "$filter": "orgnr ne '22222222'"})) == 4
    assert [r["name"] for r in rows(tenant, **{"$select": sel, "$filter": "name begins 'alfa'"})] == \
        ["Alfa ApS", "Alfa Consult"]
    assert [r["contactId"] for r in rows(tenant, **{"$select": sel, "$filter": "name contains 'ApS'"})] == \
        [ids[0], ids[4]]
    assert len(rows(tenant, **{"$select": sel, "$filter": "category oneOf (2)"})) == 2
    expr = "(name begins 'Alfa' and category oneOf (1)) or orgnr eq '55555555'"
    both = rows(tenant, **{"$select": sel, "$filter": expr})
    assert [r["name"] for r in both] == ["Alfa ApS", "Delta ApS"]
    udef = rows(tenant, **{"$select": "contactId,contactUdef/RabitIQ:1", "$filter": "contactUdef/RabitIQ:1 gt 20"})
    assert [r["contactUdef/RabitIQ:1"] for r in udef] == [30, 40]
    fn = rows(tenant, **{"$select": sel, "$filter": "startswith(name,'Gam')"})
    assert [r["name"] for r in fn] == ["Gamma IVS"]
    assert rows(tenant, **{"$select": "email", "$filter": "email eq 'info@beta.dk'"})[0]["PrimaryKey"] == ids[1]


def test_changed_since_filters(seeded) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = seeded
    stamp = tenant.sb.get(CTX, "contact", ids[2])["UpdatedDate"]  # e.g. 2026-01-02T10:11:12Z
    today = stamp[:10]
    sel = {"$select": "contactId,updatedDate"}
    assert len(rows(tenant, **sel, **{"$filter": "updatedDate afterTime '2000-01-01T00:00:00'"})) == 5
    assert rows(tenant, **sel, **{"$filter": "updatedDate afterTime '2099-01-01T00:00:00'"}) == []
    # `after` compares whole days: nothing is after today, everything is after 2000-01-01
    assert rows(tenant, **sel, **{"$filter": f"registeredDate after '{today}'"}) == []
    assert len(rows(tenant, **sel, **{"$filter": "updatedDate after '2000-01-01'"})) == 5
    assert len(rows(tenant, **sel, **{"$filter": f"updatedDate date '{today}'"})) == 5
    row = rows(tenant, **sel, **{"$filter": f"contactId eq {ids[2]}"})[0]
    assert row["updatedDate"] == stamp.rstrip("Z")


def test_paging_ordering_and_cap(seeded) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = seeded
    first = rows(tenant, **{"$select": "contactId", "$orderBy": "contactId", "$top": "2", "$skip": "0"})
    second = rows(tenant, **{"$select": "contactId", "$orderBy": "contactId", "$top": "2", "$skip": "2"})
    last = rows(tenant, **{"$select": "contactId", "$orderBy": "contactId", "$top": "2", "$skip": "4"})
    assert [r["contactId"] for r in first + second + last] == ids
    desc = rows(tenant, **{"$select": "name", "$orderBy": "name desc"})
    assert desc[0]["name"] == "Gamma IVS"
    tenant.sb.odata_max_top = 3
    try:
        assert len(rows(tenant, **{"$select": "contactId", "$top": "1000"})) == 3
    finally:
        tenant.sb.odata_max_top = 1000


def test_bad_queries_are_400_naming_the_problem(seeded) -> None:  # type: ignore[no-untyped-def]
    tenant, _ = seeded
    unknown_col = tenant.api.get("/Contact", params={"$select": "contactId,bogus"})
    assert unknown_col.status_code == 400 and "bogus" in unknown_col.json()["ErrorMessage"]
    bad_op = tenant.api.get("/Contact", params={"$filter": "name gt 5 and"})
    assert bad_op.status_code == 400
    bad_provider = tenant.api.get("/Archive/NoSuchProvider", params={"$select": "x"})
    assert bad_provider.status_code == 400 and "NoSuchProvider" in bad_provider.json()["ErrorMessage"]


def test_person_archive_selection_and_favourites(seeded) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = seeded
    sb = tenant.sb
    p1 = sb.create(CTX, "person", {"Firstname": "Ann", "Lastname": "Berg", "Contact": {"ContactId": ids[0]},
                                   "Emails": [{"Value": "ann@alfa.dk"}]})["PersonId"]
    p2 = sb.create(CTX, "person", {"Firstname": "Bo", "Lastname": "Dahl", "Contact": {"ContactId": ids[0]},
                                   "Retired": True})["PersonId"]
    persons = rows(tenant, "/Person", **{"$select": "personId,firstName,lastName,email,retired,contactId",
                                         "$filter": f"contactId eq {ids[0]}"})
    assert [(r["personId"], r["email"], r["retired"]) for r in persons] == [(p1, "ann@alfa.dk", False),
                                                                            (p2, "", True)]
    sel = sb.add_selection(CTX, "Hot leads", target="contact", member_ids=[ids[1], ids[3]])
    members = rows(tenant, f"/Selection/{sel.selection_id}/Members", **{"$select": "contactId,name"})
    assert [r["contactId"] for r in members] == [ids[1], ids[3]]
    sb.add_favourites(CTX, 5, contact_ids=[ids[4]], person_ids=[p1])
    assert [r["contactId"] for r in rows(tenant, "/Archive/contactfavourites", **{"$select": "contactId,name"})] == \
        [ids[4]]
    assert [r["personId"] for r in rows(tenant, "/Archive/personfavourites", **{"$select": "personId"})] == [p1]
    by_contact = rows(tenant, f"/Contact/{ids[0]}/Persons", **{"$select": "personId"})
    assert [r["personId"] for r in by_contact] == [p1, p2]


def test_soft_deleted_rows_only_when_asked(seeded) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = seeded
    tenant.sb.soft_delete(CTX, "contact", ids[0])
    assert tenant.api.get(f"/Contact/{ids[0]}").status_code == 404
    assert ids[0] not in [r["contactId"] for r in rows(tenant, **{"$select": "contactId"})]
    deleted = rows(tenant, **{"$select": "contactId,deletedDate", "$filter": "deletedDate set"})
    assert [r["contactId"] for r in deleted] == [ids[0]] and deleted[0]["deletedDate"]


def test_udef_encodings_roundtrip(tenant) -> None:  # type: ignore[no-untyped-def]
    sb = tenant.sb
    sb.define_udef(CTX, "contact", "RabitIQ:1", "Lead score", "Number")
    sb.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText")
    sb.define_udef(CTX, "contact", "RabitIQ:2", "Reason", "LongText", text_length=2000)
    sb.define_udef(CTX, "contact", None, "Contract date", "Date")
    sb.define_udef(CTX, "contact", "X:margin", "Margin", "Decimal")
    sb.define_udef(CTX, "contact", "X:vip", "VIP", "Checkbox")
    sb.define_udef(CTX, "contact", "X:tier", "Tier", "List", list_items={1: "Gold", 2: "Silver"})
    response = tenant.api.post("/Contact", json={"Name": "Udef ApS", "CustomFields": {
        "RabitIQ:1": "[I:87]", "RabitIQ:3": "I" * 60, "RabitIQ:2": "long " * 100, "SuperOffice:4": "[D:31.12.2024]",
        "X:margin": "[F:12.5]", "X:vip": "1", "X:tier": "[I:2]", "RabitIQ:99": "ignored"}})
    assert response.status_code == 200, response.text
    cf = response.json()["CustomFields"]
    assert cf["RabitIQ:1"] == "[I:87]"
    assert cf["RabitIQ:3"] == "I" * 39  # ShortText holds 39 characters
    assert cf["RabitIQ:2"] == ("long " * 100)[:2000]
    assert cf["SuperOffice:4"] == "[D:12/31/2024]"
    assert cf["X:margin"] == "[F:12.5]" and cf["X:vip"] == "[I:1]"
    assert cf["X:tier"] == "[I:2]" and cf["X:tier:DisplayText"] == "Silver"
    assert "RabitIQ:99" not in cf
    props = response.json()["FieldProperties"]
    assert props["UserDefinedFields.RabitIQ:3"]["FieldLength"] == 39

    cid = response.json()["ContactId"]
    us_date = tenant.api.patch(f"/Contact/{cid}", json=[{"op": "replace", "path": "CustomFields/SuperOffice:4",
                                                         "value": "[D:01/02/2025]"}])
    assert us_date.json()["CustomFields"]["SuperOffice:4"] == "[D:01/02/2025]"
    assert us_date.json()["CustomFields"]["RabitIQ:1"] == "[I:87]"  # untouched


@pytest.mark.parametrize(("prog_id", "value", "fragment"), [
    ("RabitIQ:1", "eighty", "cannot read"),
    ("RabitIQ:1", "[F:1.5]", "does not fit"),
    ("SuperOffice:2", "[D:01/01/2050]", "outside"),
    ("X:tier", "[I:9]", "does not exist"),
])
def test_udef_values_that_do_not_fit_are_400(tenant, prog_id, value, fragment) -> None:  # type: ignore[no-untyped-def]
    tenant.sb.define_udef(CTX, "contact", "RabitIQ:1", "Lead score", "Number")
    tenant.sb.define_udef(CTX, "contact", None, "Start", "Date")
    tenant.sb.define_udef(CTX, "contact", "X:tier", "Tier", "List", list_items={1: "Gold"})
    response = tenant.api.post("/Contact", json={"Name": "X", "CustomFields": {prog_id: value}})
    assert response.status_code == 400
    assert prog_id in response.json()["ErrorMessage"] and fragment in response.json()["ErrorMessage"]


def test_udef_layout_and_custom_field_info(tenant) -> None:  # type: ignore[no-untyped-def]
    tenant.sb.define_udef(CTX, "contact", "RabitIQ:1", "Lead score", "Number", mandatory=True)
    tenant.sb.define_udef(CTX, "contact", "RabitIQ:2", "Reason", "LongText")
    layout = tenant.api.get("/Contact/UdefLayout/Published").json()
    assert [(f["ProgId"], f["FieldType"], f["TextLength"], f["IsMandatory"]) for f in layout] == \
        [("RabitIQ:1", "Number", 0, True), ("RabitIQ:2", "LongText", 199, False)]
    single = tenant.api.get("/Contact/UdefLayout/Published/RabitIQ:2")
    assert single.status_code == 200 and single.json()["FieldLabel"] == "Reason"
    assert tenant.api.get("/Contact/UdefLayout/Published/Nope:1").status_code == 404
    info = tenant.api.get("/Contact/CustomField").json()
    assert [(f["FieldName"], f["FieldType"], f["DisplayName"]) for f in info] == \
        [("RabitIQ:1", "Integer", "Lead score"), ("RabitIQ:2", "LongText", "Reason")]
    assert tenant.api.get("/Person/UdefLayout/Published").json() == []
    missing = tenant.api.post("/Contact", json={"Name": "No score"})
    assert missing.status_code == 400 and "mandatory" in missing.json()["ErrorMessage"]
