"""Bulk export to Salesforce reads and writes in batches (issue 19 target 8, issue 18): the company searches of up to
25 leads are one SOQL query, and the Accounts and Contacts of the new ones go in one `POST /composite/graph`, one
graph (all or none) per lead, so a lead
Salesforce refuses leaves nothing of itself while the others of its batch are created; every lead still gets its
single export's outcome and log entry. Through the local gateway, ExportQueue pumped to BulkExportFunction, the real
OAuth flow and the Salesforce sandbox (which serves Composite Graph as the reference documents it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.salesforce_connect import TENANT, SfConnect
from tests.support.waiting import wait_until

WRITES = ("POST", "PATCH", "DELETE")


class Bulk:
    def __init__(self, connected: SfConnect) -> None:
        self.sf = connected
        self.sb = connected.sandbox
        self.org = connected.org_id

    def export(self, leads: list[dict[str, Any]]) -> dict[str, Any]:
        accepted = self.sf.http.post("/exports", json={"leads": leads}, headers=self.sf.auth(TENANT, "member"))
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["id"]

        def run() -> dict[str, Any]:
            return dict(self.sf.http.get(f"/sync-runs/{run_id}", headers=self.sf.auth(TENANT, "member")).json())

        wait_until(lambda: run()["state"] in ("succeeded", "failed"), what="the bulk export to finish")
        return run()

    def calls(self) -> dict[str, int]:
        return dict(self.sb.call_counts(self.org))

    def log(self, run_id: str) -> list[dict[str, Any]]:
        response = self.sf.http.get("/sync-log", params={"limit": "200"}, headers=self.sf.auth(TENANT, "member"))
        return [e for e in response.json()["items"] if e.get("run_id") == run_id]


@pytest.fixture
def bulk(sfc: SfConnect) -> Iterator[Bulk]:
    sfc.connect()
    yield Bulk(sfc)


def lead(i: int, contacts: int = 1) -> dict[str, Any]:
    return {"id": f"GB-{i:03d}", "stage": "Lead", "company_name": f"Graph Batch {i:03d} ApS",
            "website": f"https://graph-batch-{i:03d}.dk",
            "contacts": [{"id": f"c{n}", "name": f"Person {i} {n}", "email": f"p{n}@graph-batch-{i:03d}.dk"}
                         for n in range(contacts)]}  # fmt: skip


def test_thirty_new_leads_take_two_queries_and_two_batch_writes(bulk: Bulk) -> None:
    before = bulk.calls()

    run = bulk.export([lead(i, contacts=2) for i in range(30)])

    assert run["state"] == "succeeded" and run["export"]["totals"]["created"] == 30, run
    made = {op: n - before.get(op, 0) for op, n in bulk.calls().items() if n != before.get(op, 0)}
    writes = {op: n for op, n in made.items() if op.split(" ", 1)[0] in WRITES}
    assert writes == {"POST /composite/graph": 2}, made  # 25 leads, then 5: not one request per lead
    assert made.get("GET /query") == 2  # the matches of a window's leads in one query, too
    accounts = {a["Name"]: a["Id"] for a in bulk.sb.all_records(bulk.org, "Account")}
    contacts = bulk.sb.all_records(bulk.org, "Contact")
    assert len(accounts) == 30 and len(contacts) == 60
    assert {c["AccountId"] for c in contacts} == set(accounts.values())
    created = [e for e in bulk.log(run["id"]) if e["object"] == "company"]
    assert len(created) == 30 and {e["action"] for e in created} == {"create"}


def test_a_lead_salesforce_refuses_leaves_nothing_and_its_batch_neighbours_are_created(bulk: Bulk) -> None:
    assert bulk.export([lead(100)])["state"] == "succeeded"  # the describes are now cached by the function
    # An admin makes a new Contact field required: only Salesforce can tell, and only leads with contacts hit it.
    bulk.sb.add_custom_field(bulk.org, "Contact", "Badge__c", "string", required=True)

    run = bulk.export([lead(1, contacts=1), lead(2, contacts=0), lead(3, contacts=1), lead(4, contacts=0)])

    assert run["state"] == "succeeded", run
    assert (run["export"]["totals"]["created"], run["export"]["totals"]["failed"]) == (2, 2), run
    names = {a["Name"] for a in bulk.sb.all_records(bulk.org, "Account")}
    assert {"Graph Batch 002 ApS", "Graph Batch 004 ApS"} <= names
    assert not {"Graph Batch 001 ApS", "Graph Batch 003 ApS"} & names  # nothing of a refused lead is left
    failed = {e["app_id"]: e for e in bulk.log(run["id"]) if e["outcome"] == "failed"}
    assert set(failed) == {"GB-001", "GB-003"}
    assert all("Badge__c" in e["error"]["message"] for e in failed.values())


def test_two_leads_of_one_company_in_a_window_make_one_account(bulk: Bulk) -> None:
    first = {**lead(200), "org_number": "41414141"}
    # Another contact at the same company (same CVR, another spelling), exported in the same request.
    second = {**lead(201), "org_number": "41414141", "company_name": "Graph Batch 200 A/S",
              "website": "https://graph-batch-200.dk"}  # fmt: skip

    run = bulk.export([first, lead(202), second])

    assert run["state"] == "succeeded", run
    totals = run["export"]["totals"]
    assert (totals["created"], totals["linked"]) == (2, 1), totals
    accounts = [a for a in bulk.sb.all_records(bulk.org, "Account") if a["AccountNumber"] == "41414141"]
    assert len(accounts) == 1  # the second lead linked to what the batch created for the first
    linked = [e for e in bulk.log(run["id"]) if e["app_id"] == "GB-201" and e["object"] == "company"]
    assert linked and linked[0]["action"] == "link" and linked[0]["crm_id"] == accounts[0]["Id"]
