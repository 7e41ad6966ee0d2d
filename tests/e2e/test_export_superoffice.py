"""Single-lead export end to end: the local gateway (template routes, JWT authorizer, ExportFunction handler), a tenant
connected to the SuperOffice sandbox through the real OAuth flow, moto for the table and the token vault.

What a user sees is asserted twice: in the API response, and in the CRM itself (the sandbox's stored entities and its
per-endpoint call counts, so "no write calls" is measured at the CRM, not trusted from our own counter).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from tests.support.superoffice_connect import CTX, Env

TENANT = "acme-export"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def ex(env: Env) -> Iterator[Exporter]:
    sb = env.sandbox
    # The admin created some of the 37 lead fields (seed 002); the rest are missing and must be skipped.
    sb.define_udef(CTX, "contact", "RabitIQ:1", "Score", "Number")
    sb.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText")  # 39 characters
    sb.define_udef(CTX, "contact", "RabitIQ:12", "Description", "LongText")
    sb.define_udef(CTX, "contact", "RabitIQ:16", "Revenue", "Decimal")
    sb.define_udef(CTX, "contact", "RabitIQ:35", "Created", "Date")
    env.connect(TENANT)
    # Two-way by default (issue 17): the CRM's webhooks for the export's own writes would make the webhook processor
    # read the records back while this module counts the export's CRM calls; webhooks have their own tests.
    with sb.lock:
        sb.customers[CTX].webhooks.clear()
    yield Exporter(env)


class Exporter:
    def __init__(self, connected: Env) -> None:
        self.env = connected
        self.sb: SuperOfficeSandbox = connected.sandbox

    def post(self, path: str, body: Any, *, tenant: str = TENANT, **headers: str) -> httpx.Response:
        return self.env.http.post(path, json=body, headers={**self.env.auth(tenant, "member"), **headers})

    def export(self, lead: dict[str, Any], mode: str = "auto", **kw: Any) -> httpx.Response:
        choice = {"mode": mode, **({"crm_company_id": kw.pop("crm_company_id")} if "crm_company_id" in kw else {})}
        return self.post(f"/leads/{lead['id']}/export", {"lead": lead, "choice": choice}, **kw)

    def status(self, lead_id: str) -> dict[str, Any]:
        response = self.env.http.get(f"/leads/{lead_id}/sync-status", headers=self.env.auth(TENANT, "member"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def company(self, crm_id: str) -> dict[str, Any]:
        return dict(self.sb.get(CTX, "contact", int(crm_id)))

    def person(self, crm_id: str) -> dict[str, Any]:
        return dict(self.sb.get(CTX, "person", int(crm_id)))

    def writes(self) -> int:
        return sum(n for call, n in self.sb.call_counts(CTX).items() if call.split(" ", 1)[0] in WRITES)

    def calls(self) -> int:
        return sum(self.sb.call_counts(CTX).values())

    def contacts_named(self, prefix: str) -> list[dict[str, Any]]:
        found = []
        for crm_id in range(1, 200):
            try:
                entity = self.sb.get(CTX, "contact", crm_id)
            except Exception:
                continue
            if entity and str(entity.get("Name", "")).startswith(prefix):
                found.append(entity)
        return found

    def log(self, lead_id: str) -> list[dict[str, Any]]:
        response = self.env.http.get("/sync-log", params={"lead_id": lead_id}, headers=self.env.auth(TENANT, "member"))
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def lead(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "L-100",
        "stage": "Lead",
        "companyName": "Nordlys Energi ApS",
        "website": "https://www.nordlys-energi.dk",
        "cvr": "DK 31 41 59 26",
        "location": "Bergen, Norge",
        "phone": "33 12 34 56",
        "score": 81,
        "industry": "Renewable energy installation and maintenance services",  # longer than 39
        "description": "Installs solar parks.",
        "reasonForFit": "Growing fast.",
        "revenue": "1234567.5",
        "createdDate": "2026-03-01",
        "contacts": [
            {
                "id": "c1",
                "name": "Anne Marie Hansen",
                "title": "CEO",
                "email": "amh@nordlys-energi.dk",
                "phone": "22 30 40 50",
            },
            {"id": "c2", "firstName": "Bo", "lastName": "Berg", "email": "bo@nordlys-energi.dk"},
        ],
    }
    return {**base, **overrides}


# --- match ------------------------------------------------------------------------------------------------------------


def test_match_by_cvr_is_exact_and_explained(ex: Exporter) -> None:
    existing = ex.sb.create(CTX, "contact", {"Name": "Nordlys Energi A/S", "OrgNr": "31415926"})
    ex.sb.create(CTX, "contact", {"Name": "Sydlys Energi ApS", "OrgNr": "99999999"})

    response = ex.post("/leads/L-100/match", lead())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"] == "exact"
    best = body["candidates"][0]
    assert best["crm_id"] == str(existing["ContactId"]) and best["reasons"] == ["org_number"]
    assert best["confidence"] == 1.0 and "org number" in best["explanation"]
    assert best["url"].endswith(f"contact_id={existing['ContactId']}")


def test_match_by_name_and_domain_and_possible_matches(ex: Exporter) -> None:
    exact = ex.sb.create(CTX, "contact", {"Name": "Fjord Fisk AS", "Urls": [{"Value": "fjordfisk.no"}]})
    ex.sb.create(CTX, "contact", {"Name": "Fjord Fisk Holding", "Urls": [{"Value": "ff-holding.no"}]})
    fjord = lead(id="L-200", companyName="Fjord Fisk AS", website="http://fjordfisk.no/om-os", cvr=None, contacts=[])

    response = ex.post("/leads/L-200/match", fjord)
    body = response.json()
    assert body["verdict"] == "exact"
    assert body["candidates"][0]["crm_id"] == str(exact["ContactId"])
    assert set(body["candidates"][0]["reasons"]) == {"name", "domain"}

    only_name = lead(id="L-201", companyName="Fjord Fisk", website=None, cvr=None, contacts=[])
    possible = ex.post("/leads/L-201/match", only_name).json()
    assert possible["verdict"] == "possible"
    assert all(c["verdict"] == "possible" for c in possible["candidates"])

    nothing = ex.post(
        "/leads/L-202/match", lead(id="L-202", companyName="Zebra Zinc", website=None, cvr=None, contacts=[])
    )
    assert nothing.json() == {"verdict": "none", "candidates": []}


# --- export: link, create, persons, custom fields -------------------------------------------------------------------


def test_auto_links_an_exact_match_and_writes_fields_persons_and_the_link(ex: Exporter) -> None:
    existing = ex.sb.create(CTX, "contact", {"Name": "Nordlys Energi A/S", "OrgNr": "31415926"})
    crm_id = str(existing["ContactId"])

    response = ex.export(lead())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "exported"
    assert body["company"]["crm_id"] == crm_id and body["company"]["action"] == "linked"
    assert body["match"]["verdict"] == "exact"
    # Standard and custom fields, converted to SuperOffice's encodings and lengths.
    company = ex.company(crm_id)
    custom = company["CustomFields"]
    assert custom["RabitIQ:1"] == "[I:81]"
    assert custom["RabitIQ:3"] == "Renewable energy installation and maint"  # ShortText: 39 characters
    assert custom["RabitIQ:16"] == "[F:1234567.5]"
    assert custom["RabitIQ:35"] == "[D:03/01/2026]"
    assert company["Name"] == "Nordlys Energi ApS"
    assert company["Country"]["CountryId"] == 578  # "Bergen, Norge" → Norway (seed 002 table)
    assert company["Phones"][0]["Value"] == "+4733123456"  # E.164 for the lead's country
    assert "RabitIQ:3 was cut to the CRM's length" in body["warnings"]
    skipped = {s["field"]: s["reason"] for s in body["fields_skipped"]}
    assert skipped["RabitIQ:2"] == "missing_in_crm" and skipped["RabitIQ:37"] == "missing_in_crm"
    assert {"RabitIQ:1", "RabitIQ:3", "Name", "CountryId"} <= set(body["fields_written"])
    # Persons under the company: name split, phone in E.164 for the lead's country.
    persons = {p["app_id"]: p for p in body["persons"]}
    assert [p["action"] for p in body["persons"]] == ["created", "created"]
    anne = ex.person(persons["c1"]["crm_id"])
    assert (anne["Firstname"], anne["Lastname"], anne["Title"]) == ("Anne Marie", "Hansen", "CEO")
    assert anne["Contact"]["ContactId"] == int(crm_id)
    assert anne["OfficePhones"][0]["Value"] == "+4722304050"
    assert anne["Emails"][0]["Value"] == "amh@nordlys-energi.dk"
    # The deep link, the status and the log.
    assert body["company"]["url"].endswith(f"contact_id={crm_id}")
    status = ex.status("L-100")
    assert status["synced"] is True and status["company"]["crm_id"] == crm_id
    assert {p["crm_id"] for p in status["persons"]} == {p["crm_id"] for p in body["persons"]}
    entries = ex.log("L-100")
    company_entry = next(e for e in entries if e["id"] == body["log_entry_id"])
    assert company_entry["action"] == "link" and company_entry["match"]["decision"] == "link_exact"
    assert company_entry["crm_calls"] == body["crm_calls"] > 0
    assert {"field": "RabitIQ:2", "reason": "missing_in_crm"} in company_entry["fields_skipped"]


def test_no_match_creates_and_an_unchanged_re_export_makes_no_crm_call(ex: Exporter) -> None:
    first = ex.export(lead(id="L-300", companyName="Zebra Zinc ApS", website="zebrazinc.dk", cvr="11223344"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["company"]["action"] == "created" and body["match"]["verdict"] == "none"
    calls_before = ex.calls()

    again = ex.export(lead(id="L-300", companyName="Zebra Zinc ApS", website="zebrazinc.dk", cvr="11223344"))

    assert again.status_code == 200
    assert again.json()["status"] == "unchanged" and again.json()["crm_calls"] == 0
    assert ex.calls() == calls_before  # not a single request reached the CRM
    assert again.json()["company"]["crm_id"] == body["company"]["crm_id"]


def test_a_changed_lead_updates_only_what_changed_and_adds_new_persons(ex: Exporter) -> None:
    first = ex.export(lead(id="L-400")).json()
    crm_id = first["company"]["crm_id"]
    changed = lead(id="L-400", score=95)
    changed["contacts"][0]["title"] = "Chair"
    changed["contacts"].append({"id": "c3", "name": "Carl Clausen", "email": "cc@nordlys-energi.dk"})
    writes_before = ex.writes()

    response = ex.export(changed)

    body = response.json()
    assert response.status_code == 200, response.text
    assert body["company"] == {**first["company"], "action": "updated"}
    assert body["fields_written"] == ["RabitIQ:1"]
    actions = {p["app_id"]: (p["action"], p["fields_written"]) for p in body["persons"]}
    assert actions == {"c1": ("updated", ["Title"]), "c2": ("unchanged", []), "c3": ("created", list(actions["c3"][1]))}
    assert ex.writes() - writes_before == 3  # company PATCH, person PATCH, person POST
    assert ex.company(crm_id)["CustomFields"]["RabitIQ:1"] == "[I:95]"
    assert len(ex.contacts_named("Nordlys Energi")) == 1


def test_only_possible_matches_refuse_then_the_user_links_or_creates(ex: Exporter) -> None:
    near = ex.sb.create(CTX, "contact", {"Name": "Nordlys Energi I/S"})  # same name, nothing else to confirm
    fuzzy = lead(id="L-500", companyName="Nordlys Energi", website=None, cvr=None, contacts=[])
    writes_before = ex.writes()

    refused = ex.export(fuzzy)

    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["details"]["match"]["verdict"] == "possible"
    assert error["details"]["match"]["candidates"][0]["crm_id"] == str(near["ContactId"])
    assert "link" in error["details"]["hint"]
    assert ex.writes() == writes_before

    linked = ex.export(fuzzy, mode="link", crm_company_id=str(near["ContactId"]))
    assert linked.status_code == 200, linked.text
    assert linked.json()["company"] == {
        "crm_id": str(near["ContactId"]),
        "url": linked.json()["company"]["url"],
        "action": "linked",
    }
    created = ex.export({**fuzzy, "id": "L-501"}, mode="create")
    assert created.json()["company"]["action"] == "created"
    assert created.json()["company"]["crm_id"] != str(near["ContactId"])


def test_persons_are_matched_by_email_then_name_within_the_company(ex: Exporter) -> None:
    company = ex.sb.create(CTX, "contact", {"Name": "Nordlys Energi A/S", "OrgNr": "31415926"})
    by_email = ex.sb.create(
        CTX,
        "person",
        {
            "Firstname": "A.",
            "Lastname": "Hansen",
            "Emails": [{"Value": "AMH@nordlys-energi.dk"}],
            "Contact": {"ContactId": company["ContactId"]},
        },
    )
    by_name = ex.sb.create(
        CTX, "person", {"Firstname": "Bo", "Lastname": "Berg", "Contact": {"ContactId": company["ContactId"]}}
    )

    body = ex.export(lead()).json()

    persons = {p["app_id"]: p for p in body["persons"]}
    assert (persons["c1"]["crm_id"], persons["c1"]["matched_by"]) == (str(by_email["PersonId"]), "email")
    assert (persons["c2"]["crm_id"], persons["c2"]["matched_by"]) == (str(by_name["PersonId"]), "name")
    assert ex.person(persons["c1"]["crm_id"])["Firstname"] == "Anne Marie"


# --- idempotency ------------------------------------------------------------------------------------------------------


def test_a_retried_request_with_the_same_idempotency_key_returns_the_first_result(ex: Exporter) -> None:
    first = ex.export(lead(id="L-600"), **{"Idempotency-Key": "k-1"})
    assert first.status_code == 200, first.text
    calls = ex.calls()

    retry = ex.export(lead(id="L-600"), **{"Idempotency-Key": "k-1"})
    reused = ex.export(lead(id="L-600", score=1), **{"Idempotency-Key": "k-1"})

    assert retry.status_code == 200 and retry.json() == first.json()
    assert ex.calls() == calls
    assert reused.status_code == 422 and reused.json()["error"]["details"]["errors"][0]["loc"] == [
        "header",
        "idempotency-key",
    ]


# --- errors -----------------------------------------------------------------------------------------------------------


def test_without_a_connection_the_export_is_a_409_saying_what_to_do(ex: Exporter) -> None:
    response = ex.export(lead(), tenant="nobody-connected")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_connected"
    assert "connect" in response.json()["error"]["details"]["hint"]


def test_needs_reauth_is_a_409(ex: Exporter) -> None:
    ex.sb.revoke_consent(CTX)
    ex.sb.expire_access_tokens(CTX)
    response = ex.export(lead())
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "needs_reauth"
    assert "reconnect" in response.json()["error"]["details"]["hint"]


def test_an_invalid_lead_is_a_422_naming_each_field(ex: Exporter) -> None:
    response = ex.export(lead(score="lots", companyNam="typo"))
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["error"]["details"]["errors"]]
    assert ["body", "lead", "score"] in locs and ["body", "lead", "companyNam"] in locs
    mismatch = ex.post("/leads/OTHER/export", {"lead": lead()})
    assert mismatch.status_code == 422 and mismatch.json()["error"]["details"]["errors"][0]["loc"] == [
        "body",
        "lead",
        "id",
    ]


def test_a_crm_rejection_is_a_502_with_the_log_entry_and_the_retry_completes_without_duplicates(
    ex: Exporter,
) -> None:
    # The company is written, then the CRM refuses the first person: a crash between company and persons.
    ex.sb.inject_fault("400", path_prefix="/api/v1/Person", method="POST", count=1)

    failed = ex.export(lead(id="L-700"))

    assert failed.status_code == 502, failed.text
    error = failed.json()["error"]
    assert error["code"] == "crm_rejected"
    entry = next(e for e in ex.log("L-700") if e["id"] == error["details"]["log_entry_id"])
    assert entry["outcome"] == "failed" and entry["error"]["code"] == "crm_rejected"
    status = ex.status("L-700")
    assert status["synced"] is False and status["last_error"]["code"] == "crm_rejected"

    retried = ex.export(lead(id="L-700"))

    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["company"]["action"] == "unchanged"  # linked before the crash, nothing new to write
    assert [p["action"] for p in body["persons"]] == ["created", "created"]
    assert len(ex.contacts_named("Nordlys Energi")) == 1
    assert ex.status("L-700")["synced"] is True and ex.status("L-700")["last_error"] is None


def test_with_persons_not_synced_to_the_crm_only_the_company_is_written(ex: Exporter) -> None:
    admin = ex.env.auth(TENANT, "admin")
    objects = ex.env.http.get("/settings/superoffice", headers=admin).json()["objects"]
    objects["person"]["direction"] = "off"
    patched = ex.env.http.patch("/settings/superoffice", json={"objects": objects}, headers={**admin, "If-Match": "*"})
    assert patched.status_code == 200, patched.text

    response = ex.export(lead(id="L-400", companyName="Solo Sol ApS", cvr="44556677"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["company"]["action"] == "created" and body["persons"] == []
    person_writes = [c for c in ex.sb.call_counts(CTX) if c.split(" ", 1)[0] in WRITES and "person" in c.lower()]
    assert person_writes == []
