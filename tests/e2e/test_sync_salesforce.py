"""Scheduled two-way sync against Salesforce end to end: a tenant connected to the Salesforce sandbox through the real
OAuth flow, runs started over HTTP (`POST /sync-runs`) and executed by SyncWorkerFunction from the SyncQueue (the
local pump, stepped by the test), the change feed read over HTTP (`GET /changes`), and the bus events read back through
an EventBridge rule into a capture queue in moto.

Salesforce specifics exercised through the CRM-agnostic worker: incremental reads by `SystemModstamp` (SOQL paged
with `nextRecordsUrl`, the sandbox serving 2 records a page), deletions from `sobjects/{T}/deleted`, closed-won
Opportunities as `LeadWon`, and the Lead object chosen instead of Account.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.pump import BatchOutcome
from local.sandbox.salesforce import SalesforceSandbox
from local.stack import LocalStack
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.change_feed import without_settle_window
from tests.support.local_stack import stepped_stack
from tests.support.salesforce_connect import TENANT, SfConnect
from tests.support.waiting import wait_until

WORKER = "SyncWorkerFunction"


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the pump stepped by the test (no background consumers) and immediate redelivery."""
    yield from stepped_stack(moto_server)


@pytest.fixture(scope="module")
def sf_sandbox() -> Iterator[SalesforceSandbox]:
    """Small query pages, so every pull goes through `nextRecordsUrl` paging."""
    with SalesforceSandbox(outbound_background=False, query_batch_size=2) as server:
        yield server


class Sync:
    def __init__(self, connected: SfConnect) -> None:
        self.sf = connected
        self.sb = connected.sandbox
        self.org = connected.org_id
        self.stack = connected.stack
        self.events_queue = self._capture_bus()

    def _capture_bus(self) -> str:
        return subscribe_app_queue(os.environ["EVENT_BUS_NAME"], "bus-capture-sf")

    def bus_events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        return [e for e in drain(self.events_queue) if detail_type in (None, e["detail-type"])]

    def configure(self, company_object: str = "Account", **sections: Any) -> None:
        """Company, person and deal both ways, their plain single-field mappings too, an initial import."""
        admin = self.sf.auth(TENANT, "admin")
        document = self.sf.http.get("/settings/salesforce", headers=admin).json()
        document["objects"]["company"]["crm_object"] = company_object
        for obj in ("company", "person", "deal"):
            document["objects"][obj]["direction"] = "both"
            for mapping in document["field_mappings"][obj]:
                if len(mapping["app_fields"]) == 1 and not mapping["transforms"] and not mapping["custom"]:
                    mapping["direction"] = "both"
        document.update(initial_import=True, **sections)
        patch = {k: document[k] for k in ("objects", "field_mappings", "initial_import", *sections)}
        saved = self.sf.http.patch("/settings/salesforce", json=patch, headers={**admin, "If-Match": "*"})
        assert saved.status_code == 200, saved.text

    def run(self, **body: Any) -> dict[str, Any]:
        started = self.sf.http.post("/sync-runs", json=body, headers=self.sf.auth(TENANT, "admin"))
        assert started.status_code == 202, started.text
        outcome: BatchOutcome = self.stack.pump.poll_once(WORKER)
        assert outcome.deleted and not outcome.failed
        shown = self.sf.http.get(f"/sync-runs/{started.json()['id']}", headers=self.sf.auth(TENANT, "member"))
        return dict(shown.json())

    def changes(self, at_least: int = 1) -> list[dict[str, Any]]:
        """The whole feed, read in pages of 3, once it holds `at_least` changes (the feed's settle window is off in
        this module: every run has finished when the test reads)."""
        items: list[dict[str, Any]] = []

        def enough() -> bool:
            items.clear()
            cursor = None
            while True:
                params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
                page = self.sf.http.get("/changes", params=params, headers=self.sf.auth(TENANT, "member")).json()
                items.extend(page["items"])
                cursor = page["next_cursor"]
                if not page["has_more"]:
                    return len(items) >= at_least

        wait_until(enough, what=f"{at_least} changes in the feed")
        return items


@pytest.fixture(autouse=True)
def feed_shows_changes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    without_settle_window(monkeypatch)


@pytest.fixture
def sync(sfc: SfConnect) -> Iterator[Sync]:
    sfc.connect()
    s = Sync(sfc)
    s.bus_events()
    yield s


def test_first_run_imports_then_incremental_runs_bring_only_changes_and_deletions(sync: Sync) -> None:
    names = [f"Import Firma {i} A/S" for i in range(5)]
    ids = [sync.sb.create(sync.org, "Account", {"Name": n, "Website": f"https://firma{i}.dk"})
           for i, n in enumerate(names)]  # fmt: skip
    sync.configure()

    first = sync.run(objects=["company"])

    assert first["state"] == "succeeded" and first["mode"] == "first", first
    assert first["counts"]["company"]["created"] == 5 and first["counts"]["company"]["failed"] == 0
    feed = sync.changes(at_least=5)
    assert {c["fields"]["company_name"]: c["crm_id"] for c in feed if c["type"] == "CompanyChanged"} == dict(
        zip(names, ids, strict=True))
    assert {e["detail"]["crm_id"] for e in sync.bus_events("CompanyChanged")} == set(ids)
    calls_before = sync.sb.call_counts(sync.org)

    sync.sb.update(sync.org, "Account", ids[2], {"Name": "Import Firma 2 Holding A/S"})
    sync.sb.delete(sync.org, "Account", ids[4])
    second = sync.run(objects=["company"])

    assert second["state"] == "succeeded" and second["mode"] == "incremental", second
    assert second["counts"]["company"]["updated"] == 1 and second["counts"]["company"]["deleted"] == 1
    changed = sync.bus_events()
    expected = {("CompanyChanged", ids[2]), ("RecordDeleted", ids[4])}
    published = [(e["detail-type"], e["detail"]["crm_id"]) for e in changed if e["detail-type"] != "SyncRunFinished"]
    assert sorted(published) == sorted(expected)
    update = next(e["detail"] for e in changed if e["detail-type"] == "CompanyChanged")
    assert update["action"] == "updated" and update["changed_fields"] == ["company_name"]
    # The deletion came from Salesforce's getDeleted list (sobjects/Account/deleted), asked once in the run.
    calls = {k: v - calls_before.get(k, 0) for k, v in sync.sb.call_counts(sync.org).items()}
    assert calls.get("GET /sobjects/Account/deleted", 0) == 1, calls
    feed = sync.changes(at_least=7)
    assert sorted((c["type"], c["crm_id"]) for c in feed[-2:]) == sorted(expected)

    third = sync.run(objects=["company"])
    assert third["counts"]["company"].get("updated", 0) == 0 and sync.bus_events("CompanyChanged") == []


def test_a_closed_won_opportunity_reaches_the_app_as_lead_won(sync: Sync) -> None:
    account = sync.sb.create(sync.org, "Account", {"Name": "Vinder ApS"})
    deal = sync.sb.create(sync.org, "Opportunity", {"Name": "Big deal", "StageName": "Prospecting",
                                                    "CloseDate": "2026-06-30", "AccountId": account})  # fmt: skip
    sync.configure()
    assert sync.run(objects=["company", "deal"])["state"] == "succeeded"
    assert [e["detail"]["crm_id"] for e in sync.bus_events("DealChanged")] == [deal]

    sync.sb.update(sync.org, "Opportunity", deal, {"StageName": "Closed Won"})
    run = sync.run(objects=["deal"])

    assert run["counts"]["deal"]["updated"] == 1
    [won] = [e["detail"] for e in sync.bus_events("LeadWon")]
    assert won["crm_id"] == deal and won["parent_crm_id"] == account and won["fields"]["title"] == "Big deal"


def test_lead_mode_imports_salesforce_leads_as_companies(sync: Sync) -> None:
    sync.sb.create(sync.org, "Account", {"Name": "Not A Lead Ltd"})
    lead = sync.sb.create(sync.org, "Lead", {"Company": "Webform ApS", "LastName": "Dahl",
                                             "Website": "https://webform.dk"})  # fmt: skip
    company = [{"app_fields": ["company_name"], "crm_field": "Company", "direction": "both"},
               {"app_fields": ["website"], "crm_field": "Website", "direction": "both"}]  # fmt: skip
    admin = sync.sf.auth(TENANT, "admin")
    saved = sync.sf.http.patch("/settings/salesforce", headers={**admin, "If-Match": "*"}, json={
        "objects": {"company": {"crm_object": "Lead", "direction": "both"},
                    "person": {"crm_object": "Lead", "direction": "to_crm"},
                    "deal": {"crm_object": "Opportunity", "direction": "off"},
                    "activity": {"crm_object": "Task", "direction": "off"}},
        "field_mappings": {"company": company, "person": [], "deal": [], "activity": []},
        "initial_import": True})  # fmt: skip
    assert saved.status_code == 200, saved.text

    run = sync.run()

    assert run["state"] == "succeeded" and run["counts"]["company"]["created"] == 1, run
    [changed] = [e["detail"] for e in sync.bus_events("CompanyChanged")]
    assert changed["crm_id"] == lead
    # The status mapping switched to Lead mode's with the objects: the Lead's status is the app stage.
    assert changed["fields"] == {"company_name": "Webform ApS", "website": "https://webform.dk", "stage": "Lead"}
