"""Salesforce writes a lead's new records all or none (issue 18): a lead event that creates the Account, its Contacts
and the Opportunity sends them in one `POST /composite` with `allOrNone: true`; when Salesforce refuses any of them,
nothing of the lead is left in the org, and the answer and the sync log name the record and the field refused.
Through the local gateway, the real OAuth flow and the Salesforce sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.salesforce_connect import TENANT, SfConnect

WRITES = ("POST", "PATCH", "DELETE")


class Org:
    def __init__(self, connected: SfConnect) -> None:
        self.sf = connected
        self.sb = connected.sandbox
        self.org = connected.org_id

    def event(self, lead: dict[str, Any]) -> httpx.Response:
        return self.sf.http.post(f"/leads/{lead['id']}/events", json={"type": "created", "lead": lead},
                                 headers=self.sf.auth(TENANT, "member"), timeout=30)  # fmt: skip

    def writes(self) -> dict[str, int]:
        return {op: n for op, n in self.sb.call_counts(self.org).items() if op.split(" ", 1)[0] in WRITES}

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.sb.all_records(self.org, sobject))

    def log(self, lead_id: str) -> list[dict[str, Any]]:
        response = self.sf.http.get("/sync-log", params={"lead_id": lead_id},
                                    headers=self.sf.auth(TENANT, "member"))  # fmt: skip
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.fixture
def org(sfc: SfConnect) -> Iterator[Org]:
    sfc.connect()
    yield Org(sfc)


def lead(lead_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": lead_id,
        "stage": "Lead",
        "companyName": f"Havbrise {lead_id} ApS",
        "website": f"https://havbrise-{lead_id.lower()}.dk",
        "dealTitle": f"Offshore {lead_id}",
        "dealAmount": "90000",
        "expectedClose": "2026-10-31",
        "contacts": [
            {"id": "c1", "name": "Ida Holm", "email": f"ida@havbrise-{lead_id.lower()}.dk"},
            {"id": "c2", "name": "Bo Lund", "email": f"bo@havbrise-{lead_id.lower()}.dk"},
        ],
    }
    return {**base, **overrides}


def test_a_new_lead_is_written_in_one_request_account_contacts_and_opportunity(org: Org) -> None:
    response = org.event(lead("AON-1"))

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["company"]["action"] == "created" and result["deal"]["action"] == "created"
    assert [p["action"] for p in result["persons"]] == ["created", "created"]
    assert org.writes() == {"POST /composite": 1}  # one atomic request, not Account + Contacts + Opportunity
    account_id = result["company"]["crm_id"]
    assert {c["AccountId"] for c in org.records("Contact")} == {account_id}
    opportunity = org.sb.get(org.org, "Opportunity", result["deal"]["crm_id"])
    assert opportunity["AccountId"] == account_id and opportunity["Name"] == "Offshore AON-1"


def test_an_opportunity_salesforce_refuses_leaves_nothing_behind(org: Org) -> None:
    assert org.event(lead("AON-2")).status_code == 200  # the describes are now cached by the export function
    accounts_before = len(org.records("Account"))
    # An admin makes a new Opportunity field required after leadbridge read the describe: only Salesforce can tell.
    org.sb.add_custom_field(org.org, "Opportunity", "Region__c", "string", required=True)

    refused = org.event(lead("AON-3"))

    assert refused.status_code == 502, refused.text
    error = refused.json()["error"]
    assert error["code"] == "crm_rejected"
    assert error["details"]["record"] == "deal" and error["details"]["object"] == "Opportunity"
    assert error["details"]["fields"] == ["Region__c"] and error["details"]["rolled_back"] is True
    assert "nothing was written" in error["message"]
    assert len(org.records("Account")) == accounts_before  # no Account, Contact or Opportunity of AON-3 is left
    assert not [c for c in org.records("Contact") if "aon-3" in str(c.get("Email"))]
    failed = [e for e in org.log("AON-3") if e["outcome"] == "failed"]
    assert failed and "Region__c" in failed[0]["error"]["message"]

    # The refusal made leadbridge read the describe again: the retry is refused before any write, naming the field.
    writes = sum(org.writes().values())
    again = org.event(lead("AON-3"))
    assert again.status_code == 422, again.text
    assert "Region__c" in again.text and sum(org.writes().values()) == writes
