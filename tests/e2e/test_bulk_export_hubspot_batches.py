"""Bulk export to HubSpot writes a window of leads together (issue 19 target 8: "HubSpot batch"): the companies of
up to 25 leads in one `companies/batch/create` (and one `batch/update` for changed ones), then their contacts in one
`contacts/batch/create` (and `batch/update`), each new contact associated with its new company inline. HubSpot has
no transactions: a lead HubSpot refuses in part keeps what was written (the company is linked, as after a single
export's refusal) and its log entry says what was written, what was refused and what was not sent; its neighbours
are exported whole. Through the local gateway, ExportQueue pumped to BulkExportFunction, the real OAuth flow and the
HubSpot sandbox (batch endpoints with 207 per-item errors traced by `objectWriteTraceId`, as the reference says)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.bulk_exports import run_bulk_export, run_log
from tests.support.hubspot_connect import TENANT, HsConnect, hs_sandbox, hsc

__all__ = ["hs_sandbox", "hsc"]  # the fixtures this module uses, imported for pytest

WRITES = ("POST", "PATCH", "PUT", "DELETE")
READS = ("/search", "/batch/read")  # POSTs that read


class Bulk:
    def __init__(self, connected: HsConnect) -> None:
        self.c = connected
        self.sb = connected.sandbox
        self.hub = connected.hub_id

    def export(self, leads: list[dict[str, Any]]) -> dict[str, Any]:
        return run_bulk_export(self.c.http, self.c.auth(TENANT, "member"), leads)

    def calls(self) -> dict[str, int]:
        return dict(self.sb.call_counts(self.hub))

    def made_since(self, before: dict[str, int]) -> dict[str, int]:
        return {op: n - before.get(op, 0) for op, n in self.calls().items() if n != before.get(op, 0)}

    def log(self, run_id: str) -> list[dict[str, Any]]:
        return run_log(self.c.http, self.c.auth(TENANT, "member"), run_id)

    def companies(self) -> dict[str, Any]:
        return {r.properties["name"]: r for r in self.sb.records(self.hub, "companies")}

    def contacts_of(self, company_id: str) -> dict[str, dict[str, str]]:
        portal = self.sb.portal(self.hub)
        ids = {key[3] for key in portal.associations if key[:3] == ("companies", company_id, "contacts")}
        return {r.properties["email"]: r.properties for r in self.sb.records(self.hub, "contacts") if r.id in ids}


def writes_of(made: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in made.items() if op.split(" ", 1)[0] in WRITES and not op.endswith(READS)}


@pytest.fixture
def bulk(hsc: HsConnect) -> Iterator[Bulk]:
    hsc.connect()
    yield Bulk(hsc)


def lead(i: int, contacts: int = 1) -> dict[str, Any]:
    return {"id": f"HB-{i:03d}", "stage": "Lead", "company_name": f"Hub Batch {i:03d} ApS",
            "website": f"https://hub-batch-{i:03d}.dk",
            "contacts": [{"id": f"c{n}", "name": f"Person {i} {n}", "email": f"p{n}@hub-batch-{i:03d}.dk"}
                         for n in range(contacts)]}  # fmt: skip


def changed(body: dict[str, Any], n: int) -> dict[str, Any]:
    """The lead a week later: another phone, its first contact's new title, and a new contact."""
    contacts = [{**body["contacts"][0], "title": f"CEO {n}"}, *body["contacts"][1:]]
    contacts.append({"id": "new", "name": f"New Person {n}", "email": f"new@hub-batch-{n:03d}.dk"})
    return {**body, "phone": f"+45 33 12 {n:04d}", "contacts": contacts}


def test_thirty_new_leads_take_one_company_and_one_contact_batch_create_per_window(bulk: Bulk) -> None:
    before = bulk.calls()

    run = bulk.export([lead(i, contacts=2) for i in range(30)])

    assert run["state"] == "succeeded" and run["export"]["totals"]["created"] == 30, run
    made = bulk.made_since(before)
    # 25 leads, then 5; a single export makes 2 writes per lead (the company, then its contacts).
    assert writes_of(made) == {"POST /crm/v3/objects/companies/batch/create": 2,
                               "POST /crm/v3/objects/contacts/batch/create": 2}, made  # fmt: skip
    companies = bulk.companies()
    assert len(companies) == 30
    for i in range(30):
        company = companies[f"Hub Batch {i:03d} ApS"]
        assert company.properties["domain"] == f"hub-batch-{i:03d}.dk"
        assert set(bulk.contacts_of(company.id)) == {f"p0@hub-batch-{i:03d}.dk", f"p1@hub-batch-{i:03d}.dk"}
    entries = bulk.log(run["id"])
    assert sorted(e["action"] for e in entries if e["object"] == "company") == ["create"] * 30
    assert len([e for e in entries if e["object"] == "person" and e["action"] == "create"]) == 60
    assert run["crm_calls"] == sum(made.values())  # the run counts every request its windows made


def test_thirty_changed_leads_are_read_and_written_per_window_then_are_unchanged(bulk: Bulk) -> None:
    first = [lead(100 + i) for i in range(30)]
    assert bulk.export(first)["export"]["totals"]["created"] == 30
    before = bulk.calls()

    run = bulk.export([changed(body, 100 + i) for i, body in enumerate(first)])

    totals = run["export"]["totals"]
    assert run["state"] == "succeeded" and (totals["updated"], totals["failed"]) == (30, 0), run
    made = bulk.made_since(before)
    # Per window: the companies' phones, the contacts' titles and the new contacts, one batch call each; the
    # contacts of the window's companies read once (to match each new contact by e-mail before creating it).
    assert writes_of(made) == {"POST /crm/v3/objects/companies/batch/update": 2,
                               "POST /crm/v3/objects/contacts/batch/update": 2,
                               "POST /crm/v3/objects/contacts/batch/create": 2}, made  # fmt: skip
    assert sum(made.values()) <= 2 * 6, made  # with the window's reads: not 4 or more requests per lead
    companies = bulk.companies()
    for i in range(30):
        company = companies[f"Hub Batch {100 + i:03d} ApS"]
        assert company.properties["phone"].replace(" ", "").endswith(f"3312{100 + i:04d}"), company.properties
        mine = bulk.contacts_of(company.id)
        assert set(mine) == {f"p0@hub-batch-{100 + i:03d}.dk", f"new@hub-batch-{100 + i:03d}.dk"}
        assert mine[f"p0@hub-batch-{100 + i:03d}.dk"]["jobtitle"] == f"CEO {100 + i}"
    entries = bulk.log(run["id"])
    assert sorted(e["action"] for e in entries if e["object"] == "company") == ["update"] * 30
    persons = sorted((e["app_id"], e["action"]) for e in entries if e["object"] == "person")
    assert persons == sorted((f"HB-{100 + i}", a) for i in range(30) for a in ("update", "create")), persons

    before = bulk.calls()
    again = bulk.export([changed(body, 100 + i) for i, body in enumerate(first)])  # nothing changed since

    assert again["export"]["totals"]["unchanged"] == 30
    assert writes_of(bulk.made_since(before)) == {}


def test_a_contact_hubspot_refuses_fails_its_lead_saying_what_was_written_and_the_retry_completes_it(
    bulk: Bulk,
) -> None:
    # The e-mail of the second lead's second contact belongs to a contact of another company already: HubSpot
    # refuses the create (contacts are unique by e-mail), which only HubSpot can tell.
    bulk.sb.add_record(bulk.hub, "contacts", {"email": "p1@hub-batch-201.dk", "lastname": "Elsewhere"})
    leads = [lead(200, contacts=2), lead(201, contacts=2), lead(202, contacts=2)]
    before = bulk.calls()

    run = bulk.export(leads)

    totals = run["export"]["totals"]
    assert (totals["created"], totals["failed"]) == (2, 1), run
    assert set(writes_of(bulk.made_since(before)).values()) == {1}  # still one batch call per object
    companies = bulk.companies()
    half = companies["Hub Batch 201 ApS"]  # HubSpot keeps what it wrote: the company and the other contact
    assert set(bulk.contacts_of(half.id)) == {"p0@hub-batch-201.dk"}
    for n in (200, 202):
        assert len(bulk.contacts_of(companies[f"Hub Batch {n} ApS"].id)) == 2  # the neighbours, whole
    [failed] = [e for e in bulk.log(run["id"]) if e["outcome"] == "failed"]
    assert failed["app_id"] == "HB-201" and failed["object"] == "person" and failed["crm_id"] == half.id
    assert failed["error"]["code"] == "crm_conflict"
    assert failed["error"]["message"].startswith("person 2 (c1)"), failed
    assert "Written in the CRM: the company, person 1 (c0)" in failed["error"]["hint"], failed

    # The user corrects the e-mail and exports the lead again: the company and the contact written are linked.
    fixed = {**leads[1], "contacts": [leads[1]["contacts"][0], {**leads[1]["contacts"][1],
                                                                "email": "p1b@hub-batch-201.dk"}]}  # fmt: skip
    again = bulk.export([fixed])

    assert again["export"]["totals"]["updated"] + again["export"]["totals"]["unchanged"] == 1, again
    assert bulk.companies()["Hub Batch 201 ApS"].id == half.id and len(bulk.companies()) == 3  # no duplicate
    assert set(bulk.contacts_of(half.id)) == {"p0@hub-batch-201.dk", "p1b@hub-batch-201.dk"}
    persons = {e["match"]["person"]: e["action"] for e in bulk.log(again["id"]) if e["object"] == "person"}
    assert persons == {"c0": "link", "c1": "create"}, persons


def test_leads_matching_companies_already_in_hubspot_are_read_and_written_per_window(bulk: Bulk) -> None:
    leads = []
    for i in range(10):
        body = {**lead(300 + i), "phone": f"+45 33 13 {i:04d}"}
        body["contacts"][0]["title"] = "Founder"
        company = bulk.sb.add_record(bulk.hub, "companies", {"name": f"Hub Batch {300 + i:03d} A/S",
                                                             "domain": f"hub-batch-{300 + i:03d}.dk"})  # fmt: skip
        person = bulk.sb.add_record(bulk.hub, "contacts", {"email": f"p0@hub-batch-{300 + i:03d}.dk",
                                                           "lastname": "Someone", "jobtitle": "Intern"})  # fmt: skip
        bulk.sb.associate(bulk.hub, "companies", company.id, "contacts", person.id)
        leads.append(body)
    before = bulk.calls()

    run = bulk.export(leads)

    totals = run["export"]["totals"]
    assert run["state"] == "succeeded" and totals["linked"] == 10 and totals["failed"] == 0, run
    made = bulk.made_since(before)
    assert writes_of(made) == {"POST /crm/v3/objects/companies/batch/update": 1,
                               "POST /crm/v3/objects/contacts/batch/update": 1}, made  # fmt: skip
    reads = {op: n for op, n in made.items() if op not in writes_of(made) and "/properties/" not in op
             and not op.endswith("/labels")}  # metadata: once per container  # fmt: skip
    # The window's search (one request per criterion), its matched companies read whole (to compare what the export
    # would overwrite), and their contacts (associations, the contacts, theirs): per window, not per lead.
    assert reads == {"POST /crm/v3/objects/companies/search": 3, "POST /crm/v3/objects/companies/batch/read": 1,
                     "POST /crm/v4/associations/companies/contacts/batch/read": 1,
                     "POST /crm/v3/objects/contacts/batch/read": 1,
                     "POST /crm/v4/associations/contacts/companies/batch/read": 1}, reads
    by_domain = {c.properties["domain"]: c for c in bulk.companies().values()}
    assert len(by_domain) == 10  # matched, none created
    for i in range(10):
        company = by_domain[f"hub-batch-{300 + i:03d}.dk"]
        assert company.properties["phone"].replace(" ", "").endswith(f"3313{i:04d}")
        contacts = bulk.contacts_of(company.id)
        assert len(contacts) == 1 and contacts[f"p0@hub-batch-{300 + i:03d}.dk"]["jobtitle"] == "Founder"
    entries = [e for e in bulk.log(run["id"]) if e["object"] == "company"]
    assert {e["action"] for e in entries} == {"link"}
