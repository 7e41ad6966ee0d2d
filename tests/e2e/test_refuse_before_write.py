"""Refuse before writing, schema drift and value warnings (issue 17, finding 7), end to end through the local gateway
with tenants connected to the Salesforce and SuperOffice sandboxes.

What a user sees is asserted: the API answer (422 naming each CRM field, `warnings`, `fields_skipped`), the sync log,
and the CRM itself (the sandbox's records and its per-operation call counts, so "nothing was written" is measured at
the CRM). The drift tests rely on the export's shared metadata cache (5 minutes): without the refresh on a missing
field, the field created after the first export would be skipped by the second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from tests.support.queues import messages_in
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env
from tests.support.waiting import wait_until

SO_TENANT = "acme-refuse"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


# --- Salesforce ---------------------------------------------------------------------------------------------------


def sf_lead(lead_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": lead_id,
        "stage": "Lead",
        "company_name": f"Fjord Analytics {lead_id}",
        "website": f"https://www.{lead_id.lower()}.dk",  # no two test leads match each other's company
        "city": "Aarhus",
        "score": 87,
        "contacts": [
            {"id": "c1", "first_name": "Mette", "last_name": "Holm", "email": "mette@fjord-analytics.dk"},
            {"id": "c2", "name": "Jens Bak", "email": "jens@fjord-analytics.dk"},
        ],
    }
    return {**base, **overrides}


class SfOrg:
    def __init__(self, connected: SfConnect) -> None:
        self.env = connected
        self.sb = connected.sandbox
        self.org = connected.org_id

    def export(self, lead: dict[str, Any]) -> httpx.Response:
        return self.env.http.post(f"/leads/{lead['id']}/export", json={"lead": lead, "choice": {"mode": "auto"}},
                                  headers=self.env.auth(SF_TENANT, "member"))  # fmt: skip

    def writes(self) -> dict[str, int]:
        return {op: n for op, n in self.sb.call_counts(self.org).items() if op.split(" ", 1)[0] in WRITES}

    def map_company(self, *mappings: dict[str, Any]) -> None:
        doc = self.env.http.get("/settings/salesforce", headers=self.env.auth(SF_TENANT)).json()
        company = [*doc["field_mappings"]["company"], *mappings]
        saved = self.env.http.patch("/settings/salesforce", json={"field_mappings": {"company": company}},
                                    headers={**self.env.auth(SF_TENANT), "If-Match": "*"})  # fmt: skip
        assert saved.status_code == 200, saved.text

    def log(self, lead_id: str) -> list[dict[str, Any]]:
        response = self.env.http.get("/sync-log", params={"lead_id": lead_id},
                                     headers=self.env.auth(SF_TENANT, "member"))  # fmt: skip
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.fixture
def sf(sfc: SfConnect) -> Iterator[SfOrg]:
    sfc.connect()
    yield SfOrg(sfc)


def refused(response: httpx.Response) -> dict[str, dict[str, Any]]:
    """The 422's errors by their loc (joined with dots)."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "nothing was written" in error["message"]
    return {".".join(str(p) for p in e["loc"]): e for e in error["details"]["errors"]}


def test_sf_required_field_left_empty_is_a_422_naming_it_and_nothing_is_created(sf: SfOrg) -> None:
    sf.sb.add_custom_field(sf.org, "Account", "Region__c", "picklist", picklist=["North", "South"], restricted=True,
                           required=True)  # fmt: skip

    errors = refused(sf.export(sf_lead("SF-R1")))

    assert set(errors) == {"crm.company.Region__c"}
    assert errors["crm.company.Region__c"]["type"] == "required"
    assert sf.writes() == {} and sf.sb.all_records(sf.org, "Account") == []
    failed = [e for e in sf.log("SF-R1") if e["outcome"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"]["code"] == "invalid_input"
    assert "Region__c" in failed[0]["error"]["message"]


def test_sf_restricted_picklist_value_on_an_optional_field_is_a_422_not_a_silent_skip(sf: SfOrg) -> None:
    sf.sb.add_custom_field(sf.org, "Account", "Segment__c", "picklist", picklist=["Software", "Energy"],
                           restricted=True)  # fmt: skip
    sf.map_company({"app_fields": ["industry"], "crm_field": "Segment__c", "custom": True, "direction": "to_crm"})

    preview = sf.env.http.post("/settings/salesforce/preview", json={"lead": sf_lead("SF-R2", industry="Mining")},
                               headers=sf.env.auth(SF_TENANT, "member"))  # fmt: skip
    assert preview.status_code == 200, preview.text
    assert [w for w in preview.json()["warnings"] if w.startswith("export would be refused: company")] == [
        "export would be refused: company Segment__c: 'Mining' is not an allowed value of 'Segment__c' (allowed: "
        "Software, Energy)"
    ]

    errors = refused(sf.export(sf_lead("SF-R2", industry="Mining")))

    assert errors["crm.company.Segment__c"]["type"] == "restricted_picklist"
    assert errors["crm.company.Segment__c"]["app_fields"] == ["industry"]
    assert "'Mining' is not an allowed value" in errors["crm.company.Segment__c"]["message"]
    assert sf.writes() == {} and sf.sb.all_records(sf.org, "Account") == []

    # The same mapping with an allowed value is written.
    allowed = sf.export(sf_lead("SF-R3", company_name="Havn Logistics", industry="Energy"))
    assert allowed.status_code == 200, allowed.text
    assert sf.sb.get(sf.org, "Account", allowed.json()["company"]["crm_id"])["Segment__c"] == "Energy"


def test_sf_invalid_email_of_a_second_person_is_a_422_before_the_account_is_created(sf: SfOrg) -> None:
    contacts = [
        {"id": "c1", "first_name": "Mette", "last_name": "Holm", "email": "mette@fjord-analytics.dk"},
        {"id": "c2", "name": "Jens Bak", "email": "jens at fjord-analytics"},
    ]

    errors = refused(sf.export(sf_lead("SF-R4", contacts=contacts)))

    assert set(errors) == {"crm.person.1.Email"} and errors["crm.person.1.Email"]["type"] == "invalid_email"
    assert sf.writes() == {}
    assert sf.sb.all_records(sf.org, "Account") == [] and sf.sb.all_records(sf.org, "Contact") == []


def test_sf_decimal_into_an_integer_field_is_rounded_with_a_warning(sf: SfOrg) -> None:
    sf.sb.add_custom_field(sf.org, "Account", "Revenue_M__c", "int", label="Revenue (M)")
    sf.map_company({"app_fields": ["revenue"], "crm_field": "Revenue_M__c", "custom": True, "direction": "to_crm"})

    response = sf.export(sf_lead("SF-R5", revenue="18.5"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert "Revenue_M__c: 18.5 was written as 19 (the CRM field holds whole numbers)" in body["warnings"]
    assert sf.sb.get(sf.org, "Account", body["company"]["crm_id"])["Revenue_M__c"] == 19


def test_sf_field_created_right_after_an_export_is_written_by_the_next(sf: SfOrg) -> None:
    first = sf.export(sf_lead("SF-D1"))
    assert first.status_code == 200, first.text
    assert {"field": "Lead_Score__c", "reason": "missing_in_crm"} in [
        {k: s[k] for k in ("field", "reason")} for s in first.json()["fields_skipped"]
    ]

    sf.sb.add_custom_field(sf.org, "Account", "Lead_Score__c", "double", label="Lead Score")
    second = sf.export(sf_lead("SF-D2", company_name="Havn Logistics", score=64))

    assert second.status_code == 200, second.text
    assert "Lead_Score__c" in second.json()["fields_written"]
    assert all(s["field"] != "Lead_Score__c" for s in second.json()["fields_skipped"])
    assert sf.sb.get(sf.org, "Account", second.json()["company"]["crm_id"])["Lead_Score__c"] == 64


def test_sf_field_deleted_after_an_export_is_skipped_and_reported_and_the_rest_is_written(sf: SfOrg) -> None:
    sf.sb.add_custom_field(sf.org, "Account", "Lead_Score__c", "double", label="Lead Score")
    first = sf.export(sf_lead("SF-D3"))
    assert first.status_code == 200, first.text
    assert sf.sb.get(sf.org, "Account", first.json()["company"]["crm_id"])["Lead_Score__c"] == 87

    sf.sb.remove_custom_field(sf.org, "Account", "Lead_Score__c")  # the describe is still cached by leadbridge
    second = sf.export(sf_lead("SF-D4", company_name="Havn Logistics", score=64))

    assert second.status_code == 200, second.text
    body = second.json()
    assert "the CRM ignored 'Lead_Score__c': not available in this account" in body["warnings"]
    assert "Lead_Score__c" not in body["fields_written"]
    assert {"field": "Lead_Score__c", "reason": "missing_in_crm"} in [
        {k: s[k] for k in ("field", "reason")} for s in body["fields_skipped"]
    ]
    account = sf.sb.get(sf.org, "Account", body["company"]["crm_id"])
    assert account["Name"] == "Havn Logistics" and account["BillingCity"] == "Aarhus"
    assert "Lead_Score__c" not in account
    assert {c["Email"] for c in sf.sb.all_records(sf.org, "Contact") if c["AccountId"] == account["Id"]} == {
        "mette@fjord-analytics.dk", "jens@fjord-analytics.dk"}  # fmt: skip


# --- SuperOffice --------------------------------------------------------------------------------------------------


def so_lead(lead_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": lead_id,
        "stage": "Lead",
        "companyName": f"Nordlys Energi {lead_id}",
        "website": f"https://www.{lead_id.lower()}.no",
        "score": 81,
        "contacts": [
            {"id": "c1", "name": "Anne Marie Hansen", "email": "amh@nordlys-energi.dk"},
            {"id": "c2", "firstName": "Bo", "lastName": "Berg", "email": "bo@nordlys-energi.dk"},
        ],
    }
    return {**base, **overrides}


class SoTenant:
    def __init__(self, connected: Env) -> None:
        self.env = connected
        self.sb = connected.sandbox

    def export(self, lead: dict[str, Any]) -> httpx.Response:
        return self.env.http.post(f"/leads/{lead['id']}/export", json={"lead": lead, "choice": {"mode": "auto"}},
                                  headers=self.env.auth(SO_TENANT, "member"))  # fmt: skip

    def writes(self) -> dict[str, int]:
        return {op: n for op, n in self.sb.call_counts(CTX).items() if op.split(" ", 1)[0] in WRITES}

    def company(self, crm_id: str) -> dict[str, Any]:
        return dict(self.sb.get(CTX, "contact", int(crm_id)))


@pytest.fixture
def so(env: Env) -> Iterator[SoTenant]:
    env.sandbox.define_udef(CTX, "contact", "RabitIQ:1", "Score", "Number")
    env.connect(SO_TENANT)
    yield SoTenant(env)


def test_so_mandatory_custom_field_left_empty_is_a_422_and_nothing_is_created(so: SoTenant) -> None:
    so.sb.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText", mandatory=True)
    before = so.writes()

    errors = refused(so.export(so_lead("SO-R1")))

    assert set(errors) == {"crm.company.RabitIQ:3"} and errors["crm.company.RabitIQ:3"]["type"] == "required"
    assert errors["crm.company.RabitIQ:3"]["app_fields"] == ["industry"]
    assert so.writes() == before  # the connect registered a webhook; the export wrote nothing

    filled = so.export(so_lead("SO-R2", companyName="Havn Logistikk", industry="Energy"))
    assert filled.status_code == 200, filled.text


def test_so_invalid_email_of_a_person_is_a_422_before_the_company_is_created(so: SoTenant) -> None:
    contacts = [{"id": "c1", "name": "Anne Marie Hansen", "email": "amh@@nordlys-energi.dk"}]
    before = so.writes()

    errors = refused(so.export(so_lead("SO-R3", contacts=contacts)))

    assert set(errors) == {"crm.person.0.Email"} and errors["crm.person.0.Email"]["type"] == "invalid_email"
    assert so.writes() == before  # the connect registered a webhook; the export wrote nothing


def test_so_decimal_into_an_integer_field_is_rounded_with_a_warning(so: SoTenant) -> None:
    so.sb.define_udef(CTX, "contact", "RabitIQ:16", "Revenue", "Number")

    response = so.export(so_lead("SO-R4", revenue="18.5"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert "RabitIQ:16: 18.5 was written as 19 (the CRM field holds whole numbers)" in body["warnings"]
    assert so.company(body["company"]["crm_id"])["CustomFields"]["RabitIQ:16"] == "[I:19]"


def test_so_field_created_right_after_an_export_is_written_by_the_next(so: SoTenant) -> None:
    first = so.export(so_lead("SO-D1", industry="Energy"))
    assert first.status_code == 200, first.text
    assert "RabitIQ:3" in [s["field"] for s in first.json()["fields_skipped"] if s["reason"] == "missing_in_crm"]

    so.sb.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText")
    second = so.export(so_lead("SO-D2", companyName="Havn Logistikk", industry="Solar"))

    assert second.status_code == 200, second.text
    assert "RabitIQ:3" in second.json()["fields_written"]
    assert so.company(second.json()["company"]["crm_id"])["CustomFields"]["RabitIQ:3"] == "Solar"


# --- lead events and activities -----------------------------------------------------------------------------------


def test_so_lead_event_whose_sale_lacks_a_mandatory_field_is_a_422_before_the_company_is_written(so: SoTenant) -> None:
    so.sb.define_udef(CTX, "sale", "RabitIQ:90", "Region", "ShortText", mandatory=True)
    before = so.writes()
    event = {"type": "created", "lead": so_lead("SO-E1", dealTitle="Solar park"),
             "occurred_at": "2026-03-01T09:00:00+00:00"}  # fmt: skip

    response = so.env.http.post("/leads/SO-E1/events", json=event, headers=so.env.auth(SO_TENANT, "member"))

    errors = refused(response)
    assert set(errors) == {"crm.deal.RabitIQ:90"} and errors["crm.deal.RabitIQ:90"]["type"] == "required"
    assert so.writes() == before  # neither the company, its persons nor the sale
    log = so.env.http.get("/sync-log", params={"lead_id": "SO-E1"}, headers=so.env.auth(SO_TENANT, "member"))
    failed = next(e for e in log.json()["items"] if e["id"] == response.json()["error"]["details"]["log_entry_id"])
    assert failed["object"] == "deal" and failed["outcome"] == "failed"


def test_sf_activity_with_a_required_task_field_unfilled_is_a_422_and_no_task_is_created(sf: SfOrg) -> None:
    admin = sf.env.auth(SF_TENANT, "admin")
    current = sf.env.http.get("/settings/salesforce", headers=admin).json()
    objects = {**current["objects"], "activity": {**current["objects"]["activity"], "direction": "to_crm"}}
    patched = sf.env.http.patch("/settings/salesforce", json={"objects": objects}, headers={**admin, "If-Match": "*"})
    assert patched.status_code == 200, patched.text
    assert sf.export(sf_lead("SF-A1")).status_code == 200
    sf.sb.add_custom_field(sf.org, "Task", "Outcome__c", "picklist", picklist=["Won", "Lost"], restricted=True,
                           required=True)  # fmt: skip
    before = sf.writes()
    activity = {"id": "act-1", "type": "call", "subject": "Intro call", "status": "open",
                "created_at": "2099-01-01T00:00:00+00:00"}  # fmt: skip

    response = sf.env.http.post("/leads/SF-A1/activities", json=activity, headers=sf.env.auth(SF_TENANT, "member"))

    errors = refused(response)
    assert set(errors) == {"crm.activity.Outcome__c"} and errors["crm.activity.Outcome__c"]["type"] == "required"
    assert sf.writes() == before and sf.sb.all_records(sf.org, "Task") == []


def test_so_field_deleted_after_an_export_is_skipped_and_reported_and_the_rest_is_written(so: SoTenant) -> None:
    so.sb.define_udef(CTX, "contact", "RabitIQ:3", "Industry", "ShortText")
    # Only fields the tenant has are mapped, so the export trusts its cached metadata (no missing field to re-read).
    admin = so.env.auth(SO_TENANT, "admin")
    doc = so.env.http.get("/settings/superoffice", headers=admin).json()
    company = [m for m in doc["field_mappings"]["company"]
               if not m["crm_field"].startswith("RabitIQ:") or m["crm_field"] in ("RabitIQ:1", "RabitIQ:3")]
    saved = so.env.http.patch("/settings/superoffice", json={"field_mappings": {"company": company}},
                              headers={**admin, "If-Match": "*"})  # fmt: skip
    assert saved.status_code == 200, saved.text
    first = so.export(so_lead("SO-D3", industry="Energy"))
    assert first.status_code == 200, first.text
    assert so.company(first.json()["company"]["crm_id"])["CustomFields"]["RabitIQ:3"] == "Energy"

    so.sb.remove_udef(CTX, "contact", "RabitIQ:3")  # leadbridge still has it in its cached metadata
    second = so.export(so_lead("SO-D4", companyName="Havn Logistikk", industry="Solar", score=64))

    assert second.status_code == 200, second.text
    body = second.json()
    assert "the CRM ignored 'RabitIQ:3': not available in this account" in body["warnings"]
    assert "RabitIQ:3" not in body["fields_written"]
    assert {"field": "RabitIQ:3", "reason": "missing_in_crm"} in [
        {k: s[k] for k in ("field", "reason")} for s in body["fields_skipped"]
    ]
    company = so.company(body["company"]["crm_id"])
    assert company["Name"] == "Havn Logistikk" and company["CustomFields"]["RabitIQ:1"] == "[I:64]"
    assert "RabitIQ:3" not in company["CustomFields"]

    third = so.export(so_lead("SO-D5", companyName="Vik Marine", industry="Wind"))  # metadata read again
    assert third.status_code == 200, third.text
    assert "RabitIQ:3" in [s["field"] for s in third.json()["fields_skipped"] if s["reason"] == "missing_in_crm"]
    assert not any("RabitIQ:3" in w for w in third.json()["warnings"])


def test_sf_unknown_object_name_in_the_settings_is_a_422_naming_it(sf: SfOrg) -> None:
    admin = sf.env.auth(SF_TENANT, "admin")
    objects = sf.env.http.get("/settings/salesforce", headers=admin).json()["objects"]

    typo = {**objects, "company": {**objects["company"], "crm_object": "Acount"}}
    response = sf.env.http.patch("/settings/salesforce", json={"objects": typo}, headers={**admin, "If-Match": "*"})

    assert response.status_code == 422, response.text
    errors = {e["path"]: e for e in response.json()["error"]["details"]["errors"]}
    assert errors["objects.company.crm_object"]["type"] == "unknown_crm_object"
    assert "choose one of: Account, Lead" in errors["objects.company.crm_object"]["message"]
    assert sf.writes() == {}


def test_so_lead_event_on_the_bus_that_would_be_refused_is_logged_once_and_dropped_not_retried(so: SoTenant) -> None:
    so.sb.define_udef(CTX, "sale", "RabitIQ:90", "Region", "ShortText", mandatory=True)
    with so.sb.lock:  # webhook intake has its own tests; here the CRM's change notifications stay off
        so.sb.customers[CTX].webhooks.clear()
    before = so.writes()
    stack = so.env.stack
    event = {"type": "created", "lead": so_lead("SO-B1", dealTitle="Solar park"), "event_id": "app-evt-refused",
             "occurred_at": "2026-03-01T09:00:00Z"}  # fmt: skip
    put = boto3.client("events").put_events(Entries=[{
        "EventBusName": stack.resources.event_bus_name, "Source": "app.leads", "DetailType": "LeadEvent",
        "Detail": json.dumps({"tenant_id": SO_TENANT, "lead_id": "SO-B1", "event": event}),
    }])  # fmt: skip
    assert put["FailedEntryCount"] == 0

    def log() -> list[dict[str, Any]]:
        answer = so.env.http.get("/sync-log", params={"lead_id": "SO-B1"}, headers=so.env.auth(SO_TENANT, "member"))
        return list(answer.json()["items"])

    wait_until(lambda: any(e["outcome"] == "failed" for e in log()), what="the refused event's log entry")
    wait_until(lambda: messages_in(stack, "LeadEventsQueue") == 0, what="the lead-events queue to drain")
    failed = [e for e in log() if e["outcome"] == "failed"]
    assert len(failed) == 1 and failed[0]["object"] == "deal" and "RabitIQ:90" in failed[0]["error"]["message"]
    assert messages_in(stack, "LeadEventsDLQ") == 0  # dropped as refused: retrying cannot help
    assert so.writes() == before
