"""Salesforce Outbound Messages end to end: a tenant connects the Salesforce sandbox through the real OAuth flow, the
admin reads the manual set-up step (Outbound Messages cannot be created through the API) from `GET /connections`, sets
up Outbound Messages in the sandbox with that URL, a Salesforce user changes records, the sandbox POSTs the SOAP
notifications to the local gateway (WebhookIntakeFunction answers the Ack), the pump feeds WebhookQueue to
WebhookProcessorFunction, and the app receives the changes on its EventBridge bus (a rule into an SQS queue) and reads
the sync log over HTTP.

"Once" means: one event to the app per distinct change, one sync-log entry per notification id, however often
Salesforce delivered it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leadbridge.crm.salesforce.webhooks import ACK
from local.sandbox.salesforce.outbound import Attempt
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.queues import messages_in
from tests.support.salesforce_connect import TENANT, SfConnect
from tests.support.waiting import GENEROUS_TIMEOUT, wait_until

ACCOUNT_FIELDS = ["Id", "Name", "Website", "AccountNumber", "LastModifiedById"]


class Hooks:
    """The Salesforce user and admin (sandbox), the app (bus subscription, APIs) and the plumbing between them."""

    def __init__(self, connected: SfConnect) -> None:
        self.sf = connected
        self.sb = connected.sandbox
        self.org = connected.org_id
        self.seen: list[dict[str, Any]] = []
        self.app_queue = self._subscribe_app()

    def _subscribe_app(self) -> str:
        return subscribe_app_queue(self.sf.stack.resources.event_bus_name, "app-events-sf-webhooks")

    def settings(self, **changes: Any) -> None:
        """The admin turns on Salesforce → app for company, person and deal, their single-field mappings both ways."""
        admin = self.sf.auth(TENANT, "admin")
        current = self.sf.http.get("/settings/salesforce", headers=admin)
        document = current.json()
        for obj in ("company", "person", "deal"):
            document["objects"][obj]["direction"] = "both"
            for mapping in document["field_mappings"][obj]:
                if len(mapping["app_fields"]) == 1 and not mapping["transforms"] and not mapping["custom"]:
                    mapping["direction"] = "both"
        document.update(changes)
        for key in ("version", "updated_at", "updated_by"):
            document.pop(key, None)
        document["schedule"].pop("next_run_at", None)
        saved = self.sf.http.put("/settings/salesforce", json=document,
                                 headers={**admin, "If-Match": current.headers["etag"]})  # fmt: skip
        assert saved.status_code == 200, saved.text

    def deliver(self) -> list[Attempt]:
        attempts = self.sb.tick_outbound(force=True)
        assert attempts and all(a.acked for a in attempts), [(a.status, a.error) for a in attempts]
        return attempts

    def sync_log(self) -> list[dict[str, Any]]:
        response = self.sf.http.get("/sync-log", params={"limit": 200}, headers=self.sf.auth(TENANT, "member"))
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def settled(self, note_ids: list[str], timeout: float = GENEROUS_TIMEOUT) -> None:
        """Until every notification has a sync-log entry (the processor finished it)."""
        wait_until(lambda: set(note_ids) <= {e.get("correlation_id") for e in self.sync_log()}, timeout=timeout,
                   what=f"notifications {note_ids} to be processed")  # fmt: skip

    def queue_depth(self) -> int:
        return messages_in(self.sf.stack, "WebhookQueue")

    def app_events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        self.seen += drain(self.app_queue)
        return [e["detail"] for e in self.seen if detail_type in (None, e["detail-type"])]


def notes(attempts: list[Attempt]) -> list[str]:
    return [n for a in attempts for n in a.notification_ids]


@pytest.fixture
def wh(sfc: SfConnect) -> Iterator[Hooks]:
    sfc.connect()
    hooks = Hooks(sfc)
    hooks.settings()
    yield hooks
    sfc.sandbox.clear_faults()


# --- the manual step, shown to admins -----------------------------------------------------------------------------


def test_the_admin_sees_the_outbound_message_step_with_the_url_and_members_do_not(wh: Hooks) -> None:
    admin = wh.sf.http.get("/connections/salesforce", headers=wh.sf.auth(TENANT, "admin")).json()
    member = wh.sf.status()
    listed = wh.sf.http.get("/connections", headers=wh.sf.auth(TENANT, "admin")).json()["connections"]

    setup = admin["webhook_setup"]
    assert setup["required"] is True and setup["state"] == "ManualSetupRequired"
    assert setup["target_url"] == wh.sf.webhook_url()  # the URL the intake answers on, with the connection key
    assert setup["objects"] == ["Account", "Contact", "Opportunity"]
    assert any("Outbound Message" in step for step in setup["steps"])
    assert member["webhook_setup"] is None and wh.sf.connection().connection_key not in json.dumps(member)
    by_crm = {c["crm"]: c for c in listed}
    assert by_crm["salesforce"]["webhook_setup"] == setup and by_crm["superoffice"]["webhook_setup"] is None

    # The URL shown works: an Outbound Message set up with it is acknowledged and processed.
    wh.sb.add_outbound_message(wh.org, "Account", setup["target_url"], ACCOUNT_FIELDS)
    wh.sb.create(wh.org, "Account", {"Name": "Shown Url Ltd"})
    wh.settled(notes(wh.deliver()))

    wh.sf.http.delete("/connections/salesforce", headers=wh.sf.auth(TENANT, "admin"))
    gone = wh.sf.http.get("/connections/salesforce", headers=wh.sf.auth(TENANT, "admin")).json()
    assert gone["status"] == "disconnected" and gone["webhook_setup"] is None


# --- changes reach the app once ---------------------------------------------------------------------------------


def test_an_account_change_reaches_the_app_once_though_salesforce_delivers_it_three_times(wh: Hooks) -> None:
    wh.sb.add_outbound_message(wh.org, "Account", wh.sf.webhook_url(), ACCOUNT_FIELDS)
    account = wh.sb.create(wh.org, "Account", {"Name": "Fjeld Mining Ltd", "AccountNumber": "55501"})
    created = wh.deliver()
    wh.settled(notes(created))

    wh.sb.update(wh.org, "Account", account, {"Name": "Fjeld Mining Group Ltd"})
    [changed] = wh.deliver()
    # Salesforce re-sends a message it did not see acknowledged (timeout, lost answer): same notification ids.
    for _ in range(2):
        again = httpx.post(changed.url, content=changed.body, headers={"Content-Type": "text/xml"}, timeout=10)
        assert (again.status_code, again.headers["content-type"], again.text) == (200, "text/xml", ACK)
    wh.settled(notes([changed]))
    # The intake queued both re-sends before answering; once the queue is empty, any duplicate would have shown.
    wait_until(lambda: wh.queue_depth() == 0, what="the webhook queue to drain")

    companies = [(c["action"], c["fields"].get("company_name")) for c in wh.app_events("CompanyChanged")]
    assert companies == [("created", "Fjeld Mining Ltd"), ("updated", "Fjeld Mining Group Ltd")]
    update = wh.app_events("CompanyChanged")[1]
    assert update["crm_id"] == account and update["source"] == "webhook"
    assert update["changed_fields"] == ["company_name"] and update["correlation_id"] == changed.notification_ids[0]
    entries = [e for e in wh.sync_log() if e.get("correlation_id") == changed.notification_ids[0]]
    assert [(e["trigger"], e["action"], e["outcome"]) for e in entries] == [("webhook", "read", "success")]
    assert wh.sb.tick_outbound(force=True) == []  # every notification was acknowledged


def test_won_and_lost_opportunities_reach_the_app_as_lead_won_and_lead_lost(wh: Hooks) -> None:
    wh.sb.add_outbound_message(wh.org, "Opportunity", wh.sf.webhook_url(),
                               ["Id", "Name", "StageName", "Amount", "AccountId"])  # fmt: skip
    account = wh.sb.create(wh.org, "Account", {"Name": "Deal Partner Ltd"})
    opened = {"StageName": "Prospecting", "CloseDate": "2026-06-30", "AccountId": account}
    won = wh.sb.create(wh.org, "Opportunity", {"Name": "Big deal", "Amount": 50000, **opened})
    lost = wh.sb.create(wh.org, "Opportunity", {"Name": "Small deal", "Amount": 900, **opened})
    wh.settled(notes(wh.deliver()))

    wh.sb.update(wh.org, "Opportunity", won, {"StageName": "Closed Won"})
    wh.sb.update(wh.org, "Opportunity", lost, {"StageName": "Closed Lost"})
    wh.settled(notes(wh.deliver()))

    wh.app_events()  # drain the app's queue
    outcomes = sorted((e["detail-type"], e["detail"]["crm_id"]) for e in wh.seen
                      if e["detail-type"] in ("LeadWon", "LeadLost"))  # fmt: skip
    assert outcomes == sorted([("LeadWon", won), ("LeadLost", lost)])
    [won_event] = wh.app_events("LeadWon")
    assert won_event["parent_crm_id"] == account and won_event["fields"]["title"] == "Big deal"
    deals = Counter((d["crm_id"], d["action"]) for d in wh.app_events("DealChanged"))
    assert deals == {(won, "created"): 1, (won, "updated"): 1, (lost, "created"): 1, (lost, "updated"): 1}


def test_a_deleted_account_is_reported_deleted(wh: Hooks) -> None:
    wh.sb.add_outbound_message(wh.org, "Account", wh.sf.webhook_url(), ACCOUNT_FIELDS)
    account = wh.sb.create(wh.org, "Account", {"Name": "Soon Gone Ltd"})
    wh.settled(notes(wh.deliver()))
    wh.sb.update(wh.org, "Account", account, {"Website": "https://soon-gone.example"})
    # Salesforce sends no message for a deletion; a notification read after the delete finds the record gone.
    wh.sb.delete(wh.org, "Account", account)
    wh.settled(notes(wh.deliver()))
    assert [(e["object"], e["crm_id"]) for e in wh.app_events("RecordDeleted")] == [("company", account)]


def test_lead_mode_brings_salesforce_leads_in_as_companies(wh: Hooks) -> None:
    company = [{"app_fields": ["company_name"], "crm_field": "Company", "direction": "both"},
               {"app_fields": ["website"], "crm_field": "Website", "direction": "both"}]  # fmt: skip
    person = [{"app_fields": ["first_name"], "crm_field": "FirstName", "direction": "both"},
              {"app_fields": ["last_name"], "crm_field": "LastName", "direction": "both"}]  # fmt: skip
    wh.settings(
        objects={"company": {"crm_object": "Lead", "direction": "both"},
                 "person": {"crm_object": "Lead", "direction": "to_crm"},
                 "deal": {"crm_object": "Opportunity", "direction": "off"},
                 "activity": {"crm_object": "Task", "direction": "off"}},
        field_mappings={"company": company, "person": person, "deal": [], "activity": []},
    )  # fmt: skip
    wh.sb.add_outbound_message(wh.org, "Lead", wh.sf.webhook_url(), ["Id", "Company", "LastName"])
    lead = wh.sb.create(wh.org, "Lead", {"Company": "Webform Lead ApS", "LastName": "Dahl",
                                         "Website": "https://webform-lead.dk"})  # fmt: skip

    wh.settled(notes(wh.deliver()))

    [changed] = wh.app_events("CompanyChanged")
    assert changed["crm_id"] == lead and changed["action"] == "created"
    # The status mapping switched to Lead mode's with the objects: the Lead's status is the app stage.
    assert changed["fields"] == {"company_name": "Webform Lead ApS", "website": "https://webform-lead.dk",
                                 "stage": "Lead"}


# --- disconnect and reconnect of the same org (issue 18) -----------------------------------------------------------


def test_outbound_messages_flow_again_after_a_disconnect_and_a_reconnect_of_the_same_org(wh: Hooks) -> None:
    admin = wh.sf.auth(TENANT, "admin")
    url = wh.sf.http.get("/connections/salesforce", headers=admin).json()["webhook_setup"]["target_url"]
    wh.sb.add_outbound_message(wh.org, "Account", url, ACCOUNT_FIELDS)  # the admin's one-time set-up in Setup
    account = wh.sb.create(wh.org, "Account", {"Name": "Steady Url ApS"})
    wh.settled(notes(wh.deliver()))

    disconnected = wh.sf.http.delete("/connections/salesforce", headers=admin)
    assert disconnected.status_code == 200, disconnected.text
    result = disconnected.json()
    # Nothing can be removed through the API: the admin is told what to remove, or that it may stay.
    assert result["webhook_removed"] is False
    steps = result["webhook_manual_removal"]
    assert len(steps) == 2 and url in steps[0] and "Outbound Message" in steps[0] and "same Salesforce org" in steps[1]

    wh.sb.update(wh.org, "Account", account, {"Name": "Steady Url Holding ApS"})
    [dropped] = wh.deliver()  # acknowledged: Salesforce does not retry for 24 hours
    assert dropped.url == url and wh.sb.tick_outbound(force=True) == []
    [skipped] = [e for e in wh.sync_log() if e["outcome"] == "skipped" and e["trigger"] == "webhook"]
    assert skipped["error"]["code"] == "connection_disconnected"
    assert "Reconnect the same CRM account" in skipped["error"]["message"]
    assert "remove the webhook" in skipped["error"]["message"]

    assert wh.sf.connect() == {"status": "connected", "crm": "salesforce"}

    again = wh.sf.http.get("/connections/salesforce", headers=admin).json()
    assert again["webhook_setup"]["target_url"] == url  # the URL entered in Setup still is the one to use
    wh.sb.update(wh.org, "Account", account, {"Name": "Steady Url Group ApS"})
    back = wh.deliver()
    assert [a.url for a in back] == [url] and back[0].status == 200
    wh.settled(notes(back))
    names = [(c["action"], c["fields"].get("company_name")) for c in wh.app_events("CompanyChanged")]
    assert names == [("created", "Steady Url ApS"), ("updated", "Steady Url Group ApS")]
    entries = [e for e in wh.sync_log() if e.get("correlation_id") == back[0].notification_ids[0]]
    assert [(e["trigger"], e["outcome"]) for e in entries] == [("webhook", "success")]
