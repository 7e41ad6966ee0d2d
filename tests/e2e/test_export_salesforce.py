"""Single-lead export to Salesforce end to end: the local gateway (ExportFunction, SettingsFunction), a tenant connected
to the Salesforce sandbox through the real OAuth flow, moto for the table and the token vault.

Asserted in the API answer and in the org itself (the sandbox's stored records and its per-operation call counts),
for both object choices: Account + Contacts (the default) and Lead (chosen in the settings). A required field the
mapping leaves empty is refused before any write reaches Salesforce.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.salesforce_connect import TENANT, SfConnect

WRITES = ("POST", "PATCH", "DELETE")

LEAD: dict[str, Any] = {
    "id": "lead-sf-1",
    "stage": "Lead",
    "company_name": "Fjord Analytics ApS",
    "website": "https://www.fjord-analytics.dk",
    "phone": "+45 33 12 34 56",
    "org_number": "39001234",
    "location": "Danmark",
    "city": "Aarhus",
    "score": 87,
    "reason_for_fit": "Fast-growing data team.",
    "contacts": [
        {"id": "c1", "first_name": "Mette", "last_name": "Holm", "email": "mette@fjord-analytics.dk",
         "title": "CTO"},
        {"id": "c2", "name": "Jens Bak", "email": "jens@fjord-analytics.dk"},
    ],
}


class Exporter:
    def __init__(self, connected: SfConnect) -> None:
        self.env = connected
        self.sb = connected.sandbox
        self.org = connected.org_id

    def export(self, lead: dict[str, Any], mode: str = "auto") -> httpx.Response:
        return self.env.http.post(f"/leads/{lead['id']}/export", json={"lead": lead, "choice": {"mode": mode}},
                                  headers=self.env.auth(TENANT, "member"))

    def writes(self) -> int:
        return sum(n for op, n in self.sb.call_counts(self.org).items() if op.split(" ", 1)[0] in WRITES)

    def patch_settings(self, body: dict[str, Any]) -> httpx.Response:
        return self.env.http.patch("/settings/salesforce", json=body,
                                   headers={**self.env.auth(TENANT), "If-Match": "*"})


@pytest.fixture
def ex(sfc: SfConnect) -> Iterator[Exporter]:
    sfc.sandbox.add_custom_field(sfc.org_id, "Account", "Lead_Score__c", "double", label="Lead Score")
    sfc.connect()
    yield Exporter(sfc)


def test_export_creates_account_and_contacts_then_is_unchanged(ex: Exporter) -> None:
    response = ex.export(LEAD)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "exported" and result["company"]["action"] == "created"
    account_id = result["company"]["crm_id"]
    assert result["company"]["url"] == f"{ex.sb.instance_url}/lightning/r/Account/{account_id}/view"
    account = ex.sb.get(ex.org, "Account", account_id)
    assert account["Name"] == "Fjord Analytics ApS" and account["AccountNumber"] == "39001234"
    assert account["Website"] == "https://www.fjord-analytics.dk" and account["BillingCountry"] == "Denmark"
    assert account["Lead_Score__c"] == 87 and account["Description"] == "Fast-growing data team."
    assert account["Phone"] == "+4533123456"  # E.164 for the lead's country
    contacts = {c["Email"]: c for c in ex.sb.all_records(ex.org, "Contact")}
    assert set(contacts) == {"mette@fjord-analytics.dk", "jens@fjord-analytics.dk"}
    assert {c["AccountId"] for c in contacts.values()} == {account_id}
    assert contacts["jens@fjord-analytics.dk"]["LastName"] == "Bak" and contacts["mette@fjord-analytics.dk"][
        "Title"] == "CTO"
    assert [p["action"] for p in result["persons"]] == ["created", "created"]
    assert {p["crm_id"] for p in result["persons"]} == {c["Id"] for c in contacts.values()}
    # The new Account and its Contacts in one all-or-none composite request: 2 round trips in all (match + write).
    writes = {op: n for op, n in ex.sb.call_counts(ex.org).items() if op.split(" ", 1)[0] in WRITES}
    assert writes == {"POST /composite": 1}, writes
    # The match; the describes are read once per container, the Organization (its name) once at connect.
    reads = {op: n for op, n in ex.sb.call_counts(ex.org).items()
             if op.startswith("GET") and "describe" not in op and "Organization" not in op}  # fmt: skip
    assert reads == {"GET /query": 1}, reads

    before = ex.writes()
    again = ex.export(LEAD)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    assert ex.writes() == before


def test_existing_account_is_matched_by_org_number(ex: Exporter) -> None:
    existing = ex.sb.create(ex.org, "Account", {"Name": "Fjord Analytics A/S", "AccountNumber": "39001234"})
    response = ex.export(LEAD)
    assert response.status_code == 200, response.text
    assert response.json()["company"] == {**response.json()["company"], "crm_id": existing, "action": "linked"}
    assert len(ex.sb.all_records(ex.org, "Account")) == 1


def test_required_field_is_refused_before_any_write(ex: Exporter) -> None:
    ex.sb.add_custom_field(ex.org, "Account", "Region__c", "picklist", picklist=["North", "South"], restricted=True,
                           required=True)
    response = ex.export({**LEAD, "id": "lead-sf-2"})
    assert response.status_code == 422, response.text  # known from the describe: refused before any write
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "'Region__c' (Region) is required" in error["message"]
    assert error["details"]["fields"] == ["Region__c"]
    assert [e["loc"] for e in error["details"]["errors"]] == [["crm", "company", "Region__c"]]
    assert ex.writes() == 0
    assert ex.sb.all_records(ex.org, "Account") == []


def test_lead_object_path(ex: Exporter) -> None:
    ex.sb.add_custom_field(ex.org, "Lead", "Lead_Score__c", "double", label="Lead Score")
    company = [
        {"app_fields": ["company_name"], "crm_field": "Company"},
        {"app_fields": ["website"], "crm_field": "Website"},
        {"app_fields": ["phone"], "crm_field": "Phone"},
        {"app_fields": ["city"], "crm_field": "City"},
        {"app_fields": ["location"], "crm_field": "Country", "transforms": [{"kind": "country"}]},
        {"app_fields": ["score"], "crm_field": "Lead_Score__c", "custom": True},
    ]
    person = [
        {"app_fields": ["first_name"], "crm_field": "FirstName"},
        {"app_fields": ["last_name"], "crm_field": "LastName"},
        {"app_fields": ["email"], "crm_field": "Email"},
        {"app_fields": ["title"], "crm_field": "Title"},
    ]
    saved = ex.patch_settings({
        "objects": {"company": {"crm_object": "Lead", "direction": "to_crm"},
                    "person": {"crm_object": "Lead", "direction": "to_crm"},
                    "deal": {"crm_object": "Opportunity", "direction": "off"},
                    "activity": {"crm_object": "Task", "direction": "off"}},
        "field_mappings": {"company": company, "person": person, "deal": [], "activity": []},
    })
    assert saved.status_code == 200, saved.text

    response = ex.export({**LEAD, "id": "lead-sf-3"})
    assert response.status_code == 200, response.text
    result = response.json()
    lead_id = result["company"]["crm_id"]
    assert lead_id.startswith("00Q") and ex.sb.all_records(ex.org, "Account") == []
    lead = ex.sb.get(ex.org, "Lead", lead_id)
    assert lead["Company"] == "Fjord Analytics ApS" and lead["Country"] == "Denmark" and lead["Lead_Score__c"] == 87
    # The first contact is carried by the company's Lead, in the same one request; a Lead holds one person, so the
    # second waits for the conversion (then a Contact of the Account): never a Lead of its own, unlinked.
    assert lead["FirstName"] == "Mette" and lead["LastName"] == "Holm" and lead["Status"] == "Open - Not Contacted"
    assert [r["Id"] for r in ex.sb.all_records(ex.org, "Lead")] == [lead_id]
    assert [p["crm_id"] for p in result["persons"]] == [lead_id]
    assert result["persons_waiting"] == ["c2"] and "wait for the lead's conversion" in " ".join(result["warnings"])
    writes = {op: n for op, n in ex.sb.call_counts(ex.org).items() if op.split(" ", 1)[0] in WRITES}
    assert writes == {"POST /sobjects/Lead": 1}
