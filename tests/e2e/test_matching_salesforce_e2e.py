"""Which Salesforce field holds the org number is a per-connection setting (`matching.org_nr_field`), end to end: the
local gateway (ExportFunction, SettingsFunction), a tenant connected to the Salesforce sandbox through the real OAuth
flow, moto for the table.

An org keeps the CVR in a custom Account field `CVR__c`; an Account with the lead's CVR and a slightly different name
exists. Matched by the default field (`AccountNumber`, empty there) the export finds it only by name and answers 409
"possible match"; with `matching.org_nr_field = "CVR__c"` the same export links to it as an exact match.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.salesforce_connect import TENANT, SfConnect

WRITES = ("POST", "PATCH", "DELETE")

LEAD: dict[str, Any] = {
    "id": "lead-cvr-1",
    "stage": "Lead",
    "company_name": "Fjord Analytics ApS",
    "website": "https://www.fjord-analytics.dk",
    "org_number": "DK-39001234",
    "location": "Danmark",
    "contacts": [{"id": "c1", "first_name": "Mette", "last_name": "Holm", "email": "mette@fjord-analytics.dk"}],
}


class Org:
    def __init__(self, connected: SfConnect) -> None:
        self.env = connected
        self.sb = connected.sandbox
        self.org = connected.org_id

    def export(self, lead: dict[str, Any]) -> httpx.Response:
        return self.env.http.post(f"/leads/{lead['id']}/export", json={"lead": lead, "choice": {"mode": "auto"}},
                                  headers=self.env.auth(TENANT, "member"))  # fmt: skip

    def patch_settings(self, body: dict[str, Any]) -> httpx.Response:
        return self.env.http.patch("/settings/salesforce", json=body,
                                   headers={**self.env.auth(TENANT, "admin"), "If-Match": "*"})  # fmt: skip

    def writes(self) -> int:
        return sum(n for op, n in self.sb.call_counts(self.org).items() if op.split(" ", 1)[0] in WRITES)

    def queries(self) -> list[str]:
        return [q for q in self.sb.call_counts(self.org) if q.startswith("GET /query")]


@pytest.fixture
def org(sfc: SfConnect) -> Iterator[Org]:
    sfc.sandbox.add_custom_field(sfc.org_id, "Account", "CVR__c", "string", length=20, label="CVR")
    sfc.connect()
    yield Org(sfc)


def test_an_account_with_the_cvr_in_a_custom_field_is_an_exact_match_once_the_setting_names_it(org: Org) -> None:
    # The same company under another legal form and without a website: by name alone only a possible match.
    existing = org.sb.create(org.org, "Account", {"Name": "Fjord Analytics A/S", "CVR__c": "39001234"})
    org.sb.create(org.org, "Account", {"Name": "Fjord Analytics Norge", "CVR__c": "11112222"})

    before = org.export(LEAD)
    assert before.status_code == 409, before.text  # only the names are alike: nothing links, nothing is created
    match = before.json()["error"]["details"]["match"]
    assert match["verdict"] == "possible" and match["candidates"][0]["crm_id"] == existing
    assert org.writes() == 0

    saved = org.patch_settings({"matching": {"org_nr_field": "CVR__c"}})
    assert saved.status_code == 200, saved.text

    after = org.export(LEAD)
    assert after.status_code == 200, after.text
    result = after.json()
    assert result["company"]["crm_id"] == existing and result["company"]["action"] == "linked"
    assert result["match"]["verdict"] == "exact" and result["match"]["candidates"][0]["reasons"] == ["org_number"]
    accounts = {a["Id"]: a for a in org.sb.all_records(org.org, "Account")}
    assert len(accounts) == 2 and accounts[existing]["CVR__c"] == "39001234"  # no Account was created
    contacts = org.sb.all_records(org.org, "Contact")
    assert [(c["Email"], c["AccountId"]) for c in contacts] == [("mette@fjord-analytics.dk", existing)]


def _org_number_mapped_to(org: Org, crm_field: str) -> None:
    document = org.env.http.get("/settings/salesforce", headers=org.env.auth(TENANT, "member")).json()
    company = [m for m in document["field_mappings"]["company"] if m["app_fields"] != ["org_number"]]
    company.append({"app_fields": ["org_number"], "crm_field": crm_field, "direction": "both", "custom": True})
    saved = org.patch_settings({"field_mappings": {"company": company}})
    assert saved.status_code == 200, saved.text


def test_without_the_setting_the_field_the_org_number_is_mapped_to_is_searched(org: Org) -> None:
    existing = org.sb.create(org.org, "Account", {"Name": "Fjord Analytics A/S", "CVR__c": "39001234"})
    _org_number_mapped_to(org, "CVR__c")

    response = org.export(LEAD)

    assert response.status_code == 200, response.text
    assert response.json()["company"] == {**response.json()["company"], "crm_id": existing, "action": "linked"}


def test_a_mapped_field_not_created_yet_gives_way_to_the_standard_fields(org: Org) -> None:
    existing = org.sb.create(org.org, "Account", {"Name": "Fjord Analytics A/S", "Website": "fjord-analytics.dk"})
    _org_number_mapped_to(org, "Org_Nr__c")  # a custom field the admin has not created: skipped, not an error

    response = org.export(LEAD)

    assert response.status_code == 200, response.text  # not a 422 about a field the settings never named
    assert response.json()["company"]["crm_id"] == existing  # the search still ran (name and Website)
    assert response.json()["match"]["candidates"][0]["reasons"] == ["name", "domain"]
