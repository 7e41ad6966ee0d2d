"""Integration settings end to end (issue 5): the local gateway (template routes, JWT authorizer, SettingsFunction and
ExportFunction handlers), a tenant connected to the SuperOffice sandbox through the real OAuth flow, moto for the table.

Covers the issue's "done when": lookups, defaults, each validation error as a 4xx naming the field and the reason,
optimistic concurrency, history and the sync log, the next run of every frequency across a DST change, and a preview
that equals what an export then stores in the CRM (read back from the CRM, not from our own response).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import provider
from leadbridge.models.crm import CrmObject
from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from tests.support.superoffice_connect import CTX, Env

TENANT = "acme-settings"
ADMIN_SUB = f"admin-of-{TENANT}"
SELLER_ID = 7  # a second SuperOffice user, for owners


class Settings:
    """The settings screen's calls, as the admin (or a member) of TENANT."""

    def __init__(self, connected: Env) -> None:
        self.env = connected
        self.sb: SuperOfficeSandbox = connected.sandbox

    def headers(self, role: str = "admin", **extra: str) -> dict[str, str]:
        return {**self.env.auth(TENANT, role), **extra}

    def get(self, path: str = "/settings/superoffice", role: str = "member", **params: Any) -> httpx.Response:
        return self.env.http.get(path, headers=self.headers(role), params=params)

    def document(self) -> dict[str, Any]:
        response = self.get()
        assert response.status_code == 200, response.text
        return dict(response.json())

    def put(self, body: dict[str, Any], if_match: str | None) -> httpx.Response:
        extra = {"If-Match": if_match} if if_match is not None else {}
        return self.env.http.put("/settings/superoffice", json=body, headers=self.headers(**extra))

    def patch(self, body: dict[str, Any], if_match: str | None = "*") -> httpx.Response:
        extra = {"If-Match": if_match} if if_match is not None else {}
        return self.env.http.patch("/settings/superoffice", json=body, headers=self.headers(**extra))

    def preview(self, lead: dict[str, Any]) -> dict[str, Any]:
        response = self.env.http.post(
            "/settings/superoffice/preview", json={"lead": lead}, headers=self.headers("member")
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def sync_log(self) -> list[dict[str, Any]]:
        response = self.env.http.get("/sync-log", headers=self.headers("member"))
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def crm_fields(self, obj: CrmObject, crm_id: str) -> dict[str, Any]:
        """A record as SuperOffice returns it now, read with the tenant's own connection."""
        connection = runtime.connection_store().get(TENANT, "superoffice")
        assert connection is not None
        connector = provider("superoffice").connector(connection.context(), runtime.token_vault().tokens(connection))
        return dict(connector.get(obj, crm_id).fields)


@pytest.fixture
def so(env: Env) -> Iterator[Settings]:
    sb = env.sandbox
    # The admin created 3 of the 37 lead fields of seed 002; the other 34 are "missing in the CRM".
    sb.define_udef(CTX, "contact", "RabitIQ:1", "Score", "Number")
    sb.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText")  # 39 characters
    sb.define_udef(CTX, "contact", "RabitIQ:12", "Description", "LongText")
    sb.add_user(CTX, "sam.seller@cust40001.test", associate_id=SELLER_ID, full_name="Sam Seller")
    env.connect(TENANT)
    yield Settings(env)


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return dict(response.json()["error"])


def _index(mappings: list[dict[str, Any]], crm_field: str) -> int:
    return next(i for i, m in enumerate(mappings) if m["crm_field"] == crm_field)


# --- lookups ---------------------------------------------------------------------------------------------------------


def test_lookups_show_the_crm_objects_fields_stages_and_users(so: Settings) -> None:
    objects = so.get("/crm/superoffice/objects").json()
    company_fields = so.get("/crm/superoffice/fields/company").json()
    deal_fields = so.get("/crm/superoffice/fields/deal").json()
    stages = so.get("/crm/superoffice/stages").json()
    users = so.get("/crm/superoffice/users").json()
    unknown_object = so.get("/crm/superoffice/fields/spaceship")

    assert {(o["object"], o["crm_name"]) for o in objects} >= {
        ("company", "Contact"),
        ("person", "Person"),
        ("deal", "Sale"),
    }
    by_name = {f["name"]: f for f in company_fields}
    assert (by_name["Name"]["type"], by_name["Name"]["length"], by_name["Name"]["required"]) == ("string", 219, True)
    assert (by_name["OrgNr"]["length"], by_name["OrgNr"]["required"]) == (49, False)
    # The custom fields the admin created, with their SuperOffice types and lengths; the others are not there.
    assert (by_name["RabitIQ:1"]["type"], by_name["RabitIQ:1"]["custom"]) == ("integer", True)
    assert (by_name["RabitIQ:3"]["type"], by_name["RabitIQ:3"]["length"]) == ("string", 39)
    assert "RabitIQ:2" not in by_name
    assert next(f for f in deal_fields if f["name"] == "Heading")["required"] is True
    assert [(s["id"], s["name"]) for s in stages if s["group"] == "stage"] == [
        ("1", "Lead"),
        ("2", "Qualified"),
        ("3", "Proposal"),
        ("4", "Negotiation"),
        ("5", "Verbal yes"),
    ]
    assert {s["id"] for s in stages if s["group"] == "status"} >= {"Open", "Sold", "Lost"}
    assert {(u["id"], u["name"]) for u in users} >= {(str(SELLER_ID), "Sam Seller")}
    assert unknown_object.status_code == 422
    assert "object" in str(_error(unknown_object)["details"]["errors"][0]["loc"])


# --- defaults --------------------------------------------------------------------------------------------------------


def test_defaults_before_anything_is_saved(so: Settings) -> None:
    response = so.get()
    history = so.get("/settings/superoffice/history")

    assert response.status_code == 200 and response.headers["etag"] == '"0"'
    body = response.json()
    assert (body["version"], body["updated_by"]) == (0, None)
    assert body["schedule"]["frequency"] == "manual" and body["schedule"]["next_run_at"] is None
    assert body["status_mapping"]["create_at_stage"] == "Lead"
    assert body["country_mapping"]["default"] == "Denmark"
    company = body["field_mappings"]["company"]
    assert [m["crm_field"] for m in company if m["custom"]] == [f"RabitIQ:{n}" for n in range(1, 38)]
    assert history.status_code == 200 and history.json() == []


# --- validation ------------------------------------------------------------------------------------------------------


def _with_mapping(doc: dict[str, Any], target: str, **changes: Any) -> tuple[dict[str, Any], int]:
    """A patch changing the company mapping whose CRM field is `target`, and that mapping's index."""
    company = [dict(m) for m in doc["field_mappings"]["company"]]
    i = _index(company, target)
    company[i].update(changes)
    return {"field_mappings": {"company": company}}, i


def test_each_validation_error_is_a_422_naming_the_field_and_the_reason(so: Settings) -> None:
    doc = so.document()
    unknown_field, name_at = _with_mapping(doc, "Name", crm_field="Nmae")
    wrong_type, score_at = _with_mapping(doc, "RabitIQ:1", app_fields=["company_name"])
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        (
            unknown_field,
            f"field_mappings.company[{name_at}].crm_field",
            "unknown_crm_field",
            "'Nmae' is not a field of company in SuperOffice CRM Online; did you mean 'Name'?",
        ),
        (
            wrong_type,
            f"field_mappings.company[{score_at}].crm_field",
            "wrong_type",
            "'RabitIQ:1' holds integer values but the app value is text",
        ),
        (
            {"status_mapping": {"stages": [{"app_stage": "Qualified", "crm_stage": "999"}]}},
            "status_mapping.stages[0].crm_stage",
            "unknown_crm_stage",
            "'999' is not a CRM stage id; choose one of: 1 (Lead), 2 (Qualified)",
        ),
        (
            {"owners": {"default_crm_user": "4242"}},
            "owners.default_crm_user",
            "unknown_crm_user",
            "'4242' is not a user in the CRM",
        ),
        (
            {"selective_sync": {"enabled": True, "conditions": [{"field": "shoe_size", "op": "gt", "value": 40}]}},
            "selective_sync.conditions[0].field",
            "unknown_app_field",
            "'shoe_size' is not an app field of company",
        ),
        (
            {"selective_sync": {"conditions": [{"field": "score", "op": "gt", "value": [1, 2]}]}},
            "selective_sync.conditions[0]",
            "value_error",
            "op 'gt' needs a number or a date string",
        ),
        (
            {"schedule": {"frequency": "daily", "timezone": "Europe/Atlantis"}},
            "schedule.timezone",
            "value_error",
            "unknown IANA time zone 'Europe/Atlantis'",
        ),
    ]

    for patch, path, code, reason in cases:
        response = so.patch(patch, if_match='"0"')

        assert response.status_code == 422, (patch, response.text)
        error = _error(response)
        assert error["code"] == "invalid_input"
        found = [(e["path"], e["type"], e["message"]) for e in error["details"]["errors"]]
        assert any(p == path and t == code and reason in m for p, t, m in found), (path, found)
        assert path in error["message"]  # the summary names it too
    assert so.document()["version"] == 0  # nothing was saved


def test_a_read_only_crm_field_cannot_be_a_target(so: Settings) -> None:
    # The admin made the CVR field read-only in SuperOffice; the default mapping writes the org number into it.
    so.sb.define_udef(CTX, "contact", "RabitIQ:36", "CVR-nummer", "ShortText", read_only=True)
    doc = so.document()

    response = so.put(doc, if_match='"0"')

    assert response.status_code == 422
    errors = _error(response)["details"]["errors"]
    at = _index(doc["field_mappings"]["company"], "RabitIQ:36")
    assert [(e["path"], e["type"]) for e in errors] == [(f"field_mappings.company[{at}].crm_field", "read_only")]
    assert "'RabitIQ:36' is read-only in SuperOffice CRM Online" in errors[0]["message"]
    # Reading it from the CRM is allowed.
    fixed, _ = _with_mapping(doc, "RabitIQ:36", direction="from_crm")
    assert so.patch(fixed, if_match='"0"').status_code == 200


def test_custom_fields_missing_in_the_crm_are_listed_not_fatal(so: Settings) -> None:
    response = so.put(so.document(), if_match='"0"')

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert body["settings"]["version"] == 1 and body["settings"]["updated_by"] == ADMIN_SUB
    missing = {m["crm_field"]: m for m in body["missing_fields"]}
    assert set(missing) == {f"RabitIQ:{n}" for n in range(1, 38)} - {"RabitIQ:1", "RabitIQ:3", "RabitIQ:12"}
    assert (
        "does not exist in SuperOffice CRM Online; it is skipped until it is created" in missing["RabitIQ:2"]["reason"]
    )
    assert missing["RabitIQ:2"]["path"].startswith("field_mappings.company[")


# --- concurrency, history, sync log ----------------------------------------------------------------------------------


def test_optimistic_concurrency_history_and_the_sync_log(so: Settings) -> None:
    first = so.patch({"initial_import": True}, if_match=None)
    assert first.status_code == 428 and _error(first)["code"] == "precondition_required"

    saved = so.patch({"initial_import": True}, if_match='"0"')
    stale = so.patch({"schedule": {"frequency": "hourly"}}, if_match='"0"')
    malformed = so.patch({"schedule": {"frequency": "hourly"}}, if_match="version-one")
    fresh = so.patch({"schedule": {"frequency": "hourly"}}, if_match=saved.headers["etag"])
    overwrite = so.put({**so.document(), "initial_import": False}, if_match="*")
    member = so.env.http.patch(
        "/settings/superoffice", json={"initial_import": True}, headers=so.headers("member", **{"If-Match": "*"})
    )

    assert (saved.status_code, saved.headers["etag"]) == (200, '"1"')
    assert stale.status_code == 412
    assert _error(stale)["details"] == {"current_version": 1, "etag": '"1"'}
    assert malformed.status_code == 422 and _error(malformed)["details"]["errors"][0]["path"] == "If-Match"
    assert (fresh.status_code, fresh.headers["etag"]) == (200, '"2"')
    assert (overwrite.status_code, overwrite.headers["etag"]) == (200, '"3"')
    assert member.status_code == 403
    assert so.get().headers["etag"] == '"3"'

    history = so.get("/settings/superoffice/history").json()
    assert [(h["version"], h["operation"], h["sections"], h["updated_by"]) for h in history] == [
        (3, "put", ["initial_import"], ADMIN_SUB),  # a PUT of the whole document: only what differs counts
        (2, "patch", ["schedule"], ADMIN_SUB),
        (1, "patch", ["initial_import"], ADMIN_SUB),
    ]
    logged = [e for e in so.sync_log() if e["action"] == "settings_changed"]
    assert [
        (e["trigger"], e["outcome"], e["crm"], e["actor"], e["details"]["version"], e["details"]["sections"])
        for e in logged
    ] == [
        ("settings", "success", "superoffice", ADMIN_SUB, 3, ["initial_import"]),
        ("settings", "success", "superoffice", ADMIN_SUB, 2, ["schedule"]),
        ("settings", "success", "superoffice", ADMIN_SUB, 1, ["initial_import"]),
    ]


# --- schedule across DST ---------------------------------------------------------------------------------------------

# Europe/Copenhagen: 2027-03-28 02:00 CET (UTC+1) jumps to 03:00 CEST (UTC+2); 2027-10-31 03:00 CEST falls back to
# 02:00 CET. The expected instants below are worked out by hand from those offsets.
DST_CASES = [
    # every 15 minutes from 00:00 CET on the 27th: at 01:50 CET (00:50Z) on the 28th the next run is 15 real minutes
    # after the 01:45 CET run, which the clock already shows as 03:00 CEST (01:00Z).
    ("every_15_minutes", "2027-03-27", "00:00", "2027-03-28T00:50:00+00:00", "2027-03-28T01:00:00Z"),
    # hourly: the run after 01:00 CET (00:00Z) is one real hour later, 03:00 CEST (01:00Z); no run at "02:00".
    ("hourly", "2027-03-27", "00:00", "2027-03-28T00:30:00+00:00", "2027-03-28T01:00:00Z"),
    # daily at 09:00 stays 09:00 local: 09:00 CET = 08:00Z on the 27th, 09:00 CEST = 07:00Z on the 28th.
    ("daily", "2027-03-20", "09:00", "2027-03-27T09:00:00+00:00", "2027-03-28T07:00:00Z"),
    # weekly on Sundays at 09:00: 21 March 09:00 CET, then 28 March 09:00 CEST.
    ("weekly", "2027-03-21", "09:00", "2027-03-21T09:00:00+00:00", "2027-03-28T07:00:00Z"),
    # autumn: daily at 09:00 on 31 October is 09:00 CET = 08:00Z (the day before it was 07:00Z).
    ("daily", "2027-10-01", "09:00", "2027-10-30T07:30:00+00:00", "2027-10-31T08:00:00Z"),
    # 02:30 exists twice on 31 October: the first occurrence (CEST, 00:30Z) is the run.
    ("daily", "2027-10-01", "02:30", "2027-10-30T23:00:00+00:00", "2027-10-31T00:30:00Z"),
    ("manual", "2027-03-20", "09:00", "2027-03-27T09:00:00+00:00", None),
]


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The settings function's clock (a port of SettingsServices), set by the test; it runs in this process."""
    now: list[datetime] = [datetime.now(UTC)]
    real = runtime.settings_services
    monkeypatch.setattr(runtime, "settings_services", lambda: dataclasses.replace(real(), clock=lambda: now[0]))
    yield now


def test_the_next_run_of_each_frequency_across_a_dst_change(so: Settings, frozen_clock: list[datetime]) -> None:
    for frequency, start_date, start_time, now, expected in DST_CASES:
        frozen_clock[0] = datetime.fromisoformat(now)
        schedule = {
            "frequency": frequency,
            "start_date": start_date,
            "start_time": start_time,
            "timezone": "Europe/Copenhagen",
        }

        saved = so.patch({"schedule": schedule})

        assert saved.status_code == 200, saved.text
        shown = so.document()["schedule"]
        assert shown["next_run_at"] == expected, (frequency, now, shown)
        stored = runtime.connection_store().get(TENANT, "superoffice")
        assert stored is not None  # the dispatcher reads the same instant from the connection
        assert (stored.next_run_at.isoformat().replace("+00:00", "Z") if stored.next_run_at else None) == expected


# --- preview == export -----------------------------------------------------------------------------------------------


def _lead() -> dict[str, Any]:
    return {
        "id": "L-PREVIEW-1",
        "stage": "Qualified",
        "companyName": "Havblik Design ApS",
        "website": "https://havblik.dk",
        "cvr": "DK 12 34 56 78",
        "country": "Danmark",
        "phone": "33 12 34 56",  # local Danish format
        "score": 77,
        "industry": "Industrial design and prototyping for small manufacturers",  # longer than the 39 of RabitIQ:3
        "description": "Designs furniture.",
        "reasonForFit": "Opening a second studio.",
        "contacts": [
            {"id": "p1", "name": "Ida Marie Holm", "title": "CEO", "email": "ida@havblik.dk", "phone": "22 30 40 50"},
            {"id": "p2", "firstName": "Jens", "lastName": "Lund", "email": "jens@havblik.dk", "mobile": "12"},
        ],
    }


def test_preview_is_exactly_what_an_export_then_stores_in_the_crm(so: Settings) -> None:
    doc = so.document()
    saved = so.put({**doc, "owners": {"default_crm_user": str(SELLER_ID)}}, if_match='"0"')
    assert saved.status_code == 200, saved.text
    lead = _lead()

    preview = so.preview(lead)
    exported = so.env.http.post(
        f"/leads/{lead['id']}/export",
        json={"lead": lead, "choice": {"mode": "create"}},
        headers=so.headers("member"),
    )

    assert preview["settings_version"] == 1 and preview["plan"]["send"] is True
    company = preview["plan"]["company"]["fields"]
    # What the preview promises: phones in E.164 for the lead's country, the text cut to the CRM's length, the owner.
    assert company["Phone"] == "+4533123456"
    assert company["RabitIQ:3"] == lead["industry"][:39]
    assert company["Owner"] == str(SELLER_ID)
    persons = [p["fields"] for p in preview["plan"]["persons"]]
    assert persons[0]["OfficePhone"] == "+4522304050"
    assert persons[1]["MobilePhone"] == "12"  # not a phone number: sent as given, with a warning
    assert preview["warnings"] == [
        "contacts[1].mobile: '12' is not a valid phone number for DK; sent as given",
        "RabitIQ:3 was cut to the CRM's length",  # in export's words
    ]

    assert exported.status_code == 200, exported.text
    result = exported.json()
    assert set(preview["warnings"]) == set(result["warnings"])
    assert sorted(result["fields_written"]) == sorted(company)
    # What SuperOffice holds now, field for field, equals the preview.
    stored = so.crm_fields(CrmObject.COMPANY, result["company"]["crm_id"])
    assert {name: stored.get(name) for name in company} == company
    for person, previewed in zip(result["persons"], persons, strict=True):
        stored_person = so.crm_fields(CrmObject.PERSON, person["crm_id"])
        assert {name: stored_person.get(name) for name in previewed} == previewed
    # And in SuperOffice's own representation: the E.164 number, under the chosen owner.
    raw = so.sb.get(CTX, "contact", int(result["company"]["crm_id"]))
    assert raw["Phones"][0]["Value"] == "+4533123456"
    assert raw["Associate"]["AssociateId"] == SELLER_ID
