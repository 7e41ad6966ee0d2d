"""Salesforce Lead mode end to end (issue 18, seed 004: "a new lead creates a Lead or an Account/Contact/Opportunity,
chosen in the settings"): the admin switches to Lead and gets the Lead-mode mappings; a new app lead becomes one
Lead holding its first contact; the Lead's Status follows the app stage and comes back from Salesforce; the lead is
converted with Salesforce's lead conversion when it is won; afterwards it is the same app lead on the Account,
Contact and Opportunity, its waiting contact is a Contact of the Account, and nothing of it comes back as new.

Through the local gateway (lead events, settings, sync runs), the real OAuth flow, the worker stepped by the test
and the Salesforce sandbox (which converts Leads as the SOAP API's `convertLead()` does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.pump import BatchOutcome
from local.stack import LocalStack
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.change_feed import without_settle_window
from tests.support.local_stack import stepped_stack
from tests.support.salesforce_connect import TENANT, SfConnect

WRITES = ("POST", "PATCH", "DELETE", "SOAP")


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    yield from stepped_stack(moto_server)


@pytest.fixture(autouse=True)
def feed_shows_changes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    without_settle_window(monkeypatch)


class LeadMode:
    def __init__(self, connected: SfConnect) -> None:
        self.sf = connected
        self.sb = connected.sandbox
        self.org = connected.org_id
        self.events_queue = subscribe_app_queue(os.environ["EVENT_BUS_NAME"], "bus-capture-sf-lead-mode")

    def admin(self) -> dict[str, str]:
        return self.sf.auth(TENANT, "admin")

    def switch_to_lead(self, **sections: Any) -> dict[str, Any]:
        patch = {"objects": {"company": {"crm_object": "Lead"}, "person": {"crm_object": "Lead"}}, **sections}
        saved = self.sf.http.patch("/settings/salesforce", json=patch, headers={**self.admin(), "If-Match": "*"})
        assert saved.status_code == 200, saved.text
        return dict(saved.json())

    def event(self, kind: str, lead: dict[str, Any], **extra: Any) -> dict[str, Any]:
        response = self.sf.http.post(f"/leads/{lead['id']}/events", json={"type": kind, "lead": lead, **extra},
                                     headers=self.sf.auth(TENANT, "member"), timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        return dict(response.json())

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.sb.all_records(self.org, sobject))

    def writes(self) -> dict[str, int]:
        return {op: n for op, n in self.sb.call_counts(self.org).items() if op.split(" ", 1)[0] in WRITES}

    def run(self) -> dict[str, Any]:
        started = self.sf.http.post("/sync-runs", json={}, headers=self.admin())
        assert started.status_code == 202, started.text
        outcome: BatchOutcome = self.sf.stack.pump.poll_once("SyncWorkerFunction")
        assert outcome.deleted and not outcome.failed
        run = self.sf.http.get(f"/sync-runs/{started.json()['id']}", headers=self.admin()).json()
        assert run["state"] == "succeeded", run
        return dict(run)

    def bus(self, detail_type: str) -> list[dict[str, Any]]:
        return [e["detail"] for e in drain(self.events_queue) if e["detail-type"] == detail_type]


@pytest.fixture
def lm(sfc: SfConnect) -> Iterator[LeadMode]:
    sfc.connect()
    yield LeadMode(sfc)


def lead(stage: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "LM-1",
        "stage": stage,
        "companyName": "Solskin Energi ApS",
        "website": "https://solskin-energi.dk",
        "phone": "+4570202020",
        "street": "Havnegade 4",
        "postalCode": "8000",
        "city": "Aarhus",
        "location": "Denmark",
        "dealTitle": "Rooftop solar, Aarhus",
        "dealAmount": "240000",
        "expectedClose": "2026-11-30",
        "contacts": [
            {"id": "c1", "name": "Maja Krogh", "email": "maja@solskin-energi.dk", "title": "CEO"},
            {"id": "c2", "name": "Emil Dahl", "email": "emil@solskin-energi.dk", "title": "CFO"},
        ],
    }
    return {**base, **overrides}


def test_switching_to_lead_proposes_the_lead_mode_mappings(lm: LeadMode) -> None:
    saved = lm.switch_to_lead()

    document = saved.get("settings", saved)
    company = {m["crm_field"]: m["app_fields"] for m in document["field_mappings"]["company"]}
    assert company["Company"] == ["company_name"] and company["Street"] == ["street"] and "Name" not in company
    statuses = {m["app_stage"]: m.get("crm_status") for m in document["status_mapping"]["stages"]}
    assert statuses["Lead"] == "Open - Not Contacted" and statuses["Lost"] == "Closed - Not Converted"
    warnings = " ".join(str(w) for w in saved.get("warnings", []))
    assert "LastName" not in warnings and "StageName" not in warnings


def test_a_lead_lives_as_a_salesforce_lead_and_is_converted_when_won(lm: LeadMode) -> None:
    lm.switch_to_lead()

    created = lm.event("created", lead("Lead"))

    assert created["outcome"] == "applied" and created["company"]["action"] == "created"
    [sf_lead] = lm.records("Lead")
    assert (sf_lead["Company"], sf_lead["FirstName"], sf_lead["LastName"]) == ("Solskin Energi ApS", "Maja", "Krogh")
    assert sf_lead["Email"] == "maja@solskin-energi.dk" and sf_lead["Title"] == "CEO"
    assert (sf_lead["Street"], sf_lead["City"], sf_lead["Phone"]) == ("Havnegade 4", "Aarhus", "+4570202020")
    assert sf_lead["Status"] == "Open - Not Contacted"
    assert lm.writes() == {"POST /sobjects/Lead": 1}  # one Lead with its first contact, nothing unlinked
    assert lm.records("Opportunity") == [] and lm.records("Contact") == []
    assert "converted" in created["reason"]

    qualified = lm.event("stage_changed", lead("Qualified"), stage="Qualified")

    assert qualified["outcome"] == "applied"
    assert lm.sb.get(lm.org, "Lead", sf_lead["Id"])["Status"] == "Working - Contacted"

    # Back from Salesforce: a sales rep sets the Lead's status; the app lead's stage follows.
    lm.run()
    lm.bus("CompanyChanged")
    lm.sb.update(lm.org, "Lead", sf_lead["Id"], {"Status": "Open - Not Contacted"})
    lm.run()
    [changed] = lm.bus("CompanyChanged")
    assert changed["crm_id"] == sf_lead["Id"] and changed["app_id"] == "LM-1"
    assert changed["fields"]["stage"] == "Lead" and changed["changed_fields"] == ["stage"]

    won = lm.event("won", lead("Won"))

    assert won["outcome"] == "applied", won
    converted = lm.sb.get(lm.org, "Lead", sf_lead["Id"])
    assert converted["IsConverted"] is True
    [account] = lm.records("Account")
    assert won["company"] == {**won["company"], "crm_id": account["Id"], "action": "converted"}
    assert converted["ConvertedAccountId"] == account["Id"] and account["Name"] == "Solskin Energi ApS"
    contacts = {c["Email"]: c for c in lm.records("Contact")}
    assert set(contacts) == {"maja@solskin-energi.dk", "emil@solskin-energi.dk"}  # the waiting contact too
    assert {c["AccountId"] for c in contacts.values()} == {account["Id"]}
    assert converted["ConvertedContactId"] == contacts["maja@solskin-energi.dk"]["Id"]
    [opportunity] = lm.records("Opportunity")
    assert won["deal"]["crm_id"] == opportunity["Id"] == converted["ConvertedOpportunityId"]
    assert (opportunity["StageName"], opportunity["IsWon"], opportunity["AccountId"]) == (
        "Closed Won", True, account["Id"])
    assert (opportunity["Name"], opportunity["Amount"], str(opportunity["CloseDate"])) == (
        "Rooftop solar, Aarhus", 240000, "2026-11-30")
    assert lm.records("Lead") == [converted]  # no second Lead, ever

    # Afterwards: the conversion and leadbridge's own writes never come back as news ...
    lm.bus("CompanyChanged")
    lm.run()
    assert lm.bus("CompanyChanged") == [] and lm.bus("PersonChanged") == []
    # ... and a change made in Salesforce reaches the same app lead through the Account.
    lm.sb.update(lm.org, "Account", account["Id"], {"Name": "Solskin Energi Holding ApS"})
    lm.run()
    [renamed] = lm.bus("CompanyChanged")
    assert renamed["app_id"] == "LM-1" and renamed["crm_id"] == account["Id"]
    assert renamed["changed_fields"] == ["company_name"] and renamed["action"] == "updated"


def test_a_lost_lead_only_changes_the_lead_status(lm: LeadMode) -> None:
    lm.switch_to_lead()
    lm.event("created", lead("Lead", id="LM-2", companyName="Tåge Teknik ApS", contacts=[]))
    [sf_lead] = lm.records("Lead")
    assert sf_lead["LastName"] == "[not provided]"  # Salesforce requires one; no contact gives none

    lost = lm.event("lost", lead("Lost", id="LM-2", companyName="Tåge Teknik ApS", contacts=[]))

    assert lost["outcome"] == "applied"
    after = lm.sb.get(lm.org, "Lead", sf_lead["Id"])
    assert after["Status"] == "Closed - Not Converted" and after["IsConverted"] is False
    assert lm.records("Opportunity") == [] and lm.records("Account") == []
    # The placeholder name never comes back as a person.
    lm.run()
    assert lm.bus("PersonChanged") == []


def test_converting_at_a_chosen_stage(lm: LeadMode) -> None:
    lm.switch_to_lead(lead_conversion={"convert_at_stage": "Proposal"})
    lm.event("created", lead("Lead", id="LM-3"))
    assert lm.records("Account") == []

    proposal = lm.event("stage_changed", lead("Proposal", id="LM-3"), stage="Proposal")

    assert proposal["company"]["action"] == "converted"
    [opportunity] = lm.records("Opportunity")
    assert opportunity["StageName"] == "Proposal/Price Quote" and opportunity["IsClosed"] is False
    negotiation = lm.event("stage_changed", lead("Negotiation", id="LM-3"), stage="Negotiation")
    assert negotiation["deal"]["fields_written"] == ["StageName", "Probability"] or negotiation["deal"][
        "fields_written"] == ["StageName"]
    assert lm.sb.get(lm.org, "Opportunity", opportunity["Id"])["StageName"] == "Negotiation/Review"
    assert len(lm.records("Account")) == 1


def test_a_lead_mode_settings_document_with_a_bad_conversion_stage_is_refused(lm: LeadMode) -> None:
    refused = lm.sf.http.patch("/settings/salesforce", json={"lead_conversion": {"convert_at_stage": "Nope"}},
                               headers={**lm.admin(), "If-Match": "*"})  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert "convert_at_stage" in refused.text



def _sales_rep(lm: LeadMode) -> str:
    return str(lm.sb.add_user(lm.org, "rep@sf-connect.test", name="Rita Rep"))


def test_a_lead_converted_in_salesforce_by_a_user_is_followed_by_the_sync(lm: LeadMode) -> None:
    lm.switch_to_lead()
    lm.event("created", lead("Lead", id="LM-4"))
    [sf_lead] = lm.records("Lead")
    lm.run()
    lm.bus("CompanyChanged")

    # A sales rep converts the Lead in Salesforce (with an Opportunity), not leadbridge.
    done = lm.sb.convert_lead(lm.org, sf_lead["Id"], "Closed - Converted", actor=_sales_rep(lm))
    assert done.success
    lm.run()

    # The app lead follows the Account: nothing new is reported, and the sync status shows the new records.
    assert lm.bus("CompanyChanged") == [] and lm.bus("PersonChanged") == []
    status = lm.sf.http.get("/leads/LM-4/sync-status", headers=lm.sf.auth(TENANT, "member")).json()
    assert done.account_id in str(status) and sf_lead["Id"] not in str(status)
    converts = lm.sf.http.get("/sync-log", params={"lead_id": "LM-4"}, headers=lm.admin()).json()["items"]
    assert any(e["action"] == "convert" and e["crm_id"] == done.account_id for e in converts)

    # The next stage change writes to the Opportunity the conversion made: no 502, no second Lead or Opportunity.
    moved = lm.event("stage_changed", lead("Proposal", id="LM-4"), stage="Proposal")
    assert moved["outcome"] == "applied" and moved["deal"]["crm_id"] == done.opportunity_id, moved
    assert lm.sb.get(lm.org, "Opportunity", str(done.opportunity_id))["StageName"] == "Proposal/Price Quote"
    assert len(lm.records("Lead")) == 1 and len(lm.records("Opportunity")) == 1


def test_an_event_for_a_lead_converted_in_salesforce_before_any_sync_follows_it(lm: LeadMode) -> None:
    lm.switch_to_lead()
    lm.event("created", lead("Lead", id="LM-5"))
    [sf_lead] = lm.records("Lead")
    done = lm.sb.convert_lead(lm.org, sf_lead["Id"], "Closed - Converted", actor=_sales_rep(lm))
    assert done.success

    moved = lm.event("stage_changed", lead("Qualified", id="LM-5"), stage="Qualified")

    assert moved["outcome"] == "applied", moved
    assert moved["company"]["crm_id"] == done.account_id and moved["deal"]["crm_id"] == done.opportunity_id
    assert lm.sb.get(lm.org, "Opportunity", str(done.opportunity_id))["StageName"] == "Qualification"
    assert len(lm.records("Account")) == 1 and len(lm.records("Opportunity")) == 1
    entries = lm.sf.http.get("/sync-log", params={"lead_id": "LM-5"}, headers=lm.admin()).json()["items"]
    assert [e for e in entries if e["outcome"] == "failed"] == []  # followed, not failed
    assert any(e["action"] == "convert" for e in entries)


def test_an_export_of_a_lead_converted_in_salesforce_before_any_sync_is_a_409_saying_what_to_do(lm: LeadMode) -> None:
    lm.switch_to_lead()
    lm.event("created", lead("Lead", id="LM-6"))
    [sf_lead] = lm.records("Lead")
    assert lm.sb.convert_lead(lm.org, sf_lead["Id"], "Closed - Converted", actor=_sales_rep(lm)).success

    exported = lm.sf.http.post("/leads/LM-6/export", json={"lead": lead("Qualified", id="LM-6", phone="+4570000000")},
                               headers=lm.sf.auth(TENANT, "member"))  # fmt: skip

    assert exported.status_code == 409, exported.text
    error = exported.json()["error"]
    assert error["code"] == "crm_conflict" and "converted in Salesforce" in error["message"]
    assert "next sync" in error["details"]["hint"]


def test_the_inbound_filter_holds_back_a_lead_as_company_and_as_person(lm: LeadMode) -> None:
    """In Lead mode one Salesforce Lead is the app's company and its person: a Lead the inbound filter holds back
    must not reach the app as a person either."""
    lm.switch_to_lead(initial_import=True, inbound_filter={"conditions": [
        {"object": "company", "crm_field": "Industry", "op": "eq", "value": "Technology"}]})  # fmt: skip
    tech = lm.sb.create(lm.org, "Lead", {"Company": "Nordic Robotics A/S", "LastName": "Berg",
                                         "Industry": "Technology"})  # fmt: skip
    retail = lm.sb.create(lm.org, "Lead", {"Company": "Butik Hansen", "LastName": "Hansen", "Industry": "Retail"})

    run = lm.run()

    entries = lm.sf.http.get("/sync-log", params={"run_id": run["id"]}, headers=lm.admin()).json()["items"]
    outcomes = {(e["object"], e["crm_id"]): e["outcome"] for e in entries}
    assert outcomes[("company", tech)] == "success" and outcomes[("person", tech)] == "success"
    assert outcomes[("company", retail)] == "skipped"
    assert outcomes.get(("person", retail)) == "skipped", entries
