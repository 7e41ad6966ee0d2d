"""Bulk export (`POST /exports`, issue 19 target 8) end to end: the local gateway (ExportFunction), ExportQueue pumped
to BulkExportFunction, tenants connected to the SuperOffice and Salesforce sandboxes through the real OAuth flow.

50 leads, a mix of new companies, exact matches (same org number), possible matches (same name, nothing to confirm)
and an invalid custom field value (outside a restricted list): 202 with the run, the run finishes, its totals are
right, every lead has one sync-log entry of its outcome with the run's id, the CRM holds exactly one company per new
lead, and a retried request (same Idempotency-Key) or a redelivered slice exports nothing again. The slice size is
set small (BULK_EXPORT_SLICE_SIZE) so the run goes through several continuation messages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest

from tests.support.queues import messages_in
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env
from tests.support.waiting import wait_until

SO_TENANT = "acme-bulk"
NEW, EXACT, POSSIBLE, INVALID = 30, 8, 6, 6  # 50 leads
# A custom field value the CRM's field cannot hold: not a number (SuperOffice), outside a restricted picklist
# (Salesforce).
BAD_VALUE = {"superoffice": {"size": "51-200"}, "salesforce": {"industry": "Mining"}}


@dataclass
class Crm:
    """One connected CRM as the test sees it: the gateway, and the CRM's own records and request counts."""

    name: str
    tenant: str
    http: httpx.Client
    auth: Callable[[str], dict[str, str]]
    create_company: Callable[[str, str | None], str]  # (name, org number) -> CRM id
    companies: Callable[[], list[dict[str, Any]]]
    company_name: Callable[[dict[str, Any]], str]
    requests: Callable[[], int]
    stack: Any

    def post_exports(self, body: Any, **headers: str) -> httpx.Response:
        return self.http.post("/exports", json=body, headers={**self.auth("member"), **headers})

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/sync-runs/{run_id}", headers=self.auth("member"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def finished(self, run_id: str) -> dict[str, Any]:
        wait_until(lambda: self.run(run_id)["state"] in ("succeeded", "failed"), what="the bulk export to finish")
        return self.run(run_id)

    def log(self, **params: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, "limit": "200", **({"cursor": cursor} if cursor else {})}
            response = self.http.get("/sync-log", params=query, headers=self.auth("member"))
            assert response.status_code == 200, response.text
            items += response.json()["items"]
            cursor = response.json()["next_cursor"]
            if not cursor:
                return items


def so_lead(i: int, **overrides: Any) -> dict[str, Any]:
    base = {"id": f"B-{i:03d}", "stage": "Lead", "companyName": f"Bulk Company {i:03d}", "cvr": f"7{i:07d}",
            "website": f"https://bulk-{i:03d}.dk", "size": "120",
            "contacts": [{"id": "c1", "name": f"Person {i}", "email": f"p{i}@bulk-{i:03d}.dk"}]}  # fmt: skip
    return {**base, **overrides}


def sf_lead(i: int, **overrides: Any) -> dict[str, Any]:
    base = {"id": f"B-{i:03d}", "stage": "Lead", "company_name": f"Bulk Company {i:03d}", "org_number": f"7{i:07d}",
            "website": f"https://bulk-{i:03d}.dk", "industry": "Energy",
            "contacts": [{"id": "c1", "name": f"Person {i}", "email": f"p{i}@bulk-{i:03d}.dk"}]}  # fmt: skip
    return {**base, **overrides}


@pytest.fixture
def so_crm(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crm]:
    sb = env.sandbox
    # The size ("51-200") goes into a number field: a value that is not a number is refused before any write.
    sb.define_udef(CTX, "contact", "RabitIQ:4", "Size", "Number")
    env.connect(SO_TENANT)
    with sb.lock:
        sb.customers[CTX].webhooks.clear()  # no webhook reads of our own writes while counting
    monkeypatch.setenv("BULK_EXPORT_SLICE_SIZE", "7")

    def create(name: str, org_nr: str | None) -> str:
        return str(sb.create(CTX, "contact", {"Name": name, **({"OrgNr": org_nr} if org_nr else {})})["ContactId"])

    def companies() -> list[dict[str, Any]]:
        with sb.lock:
            return [dict(c) for c in sb.customers[CTX].records["contact"].values()]

    yield Crm("superoffice", SO_TENANT, env.http, lambda role: env.auth(SO_TENANT, role), create, companies,
              lambda c: str(c.get("Name")), lambda: sum(sb.call_counts(CTX).values()), env.stack)  # fmt: skip


@pytest.fixture
def sf_crm(sfc: SfConnect, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crm]:
    sb, org = sfc.sandbox, sfc.org_id
    sb.add_custom_field(org, "Account", "Segment__c", "picklist", picklist=["Software", "Energy"], restricted=True)
    sfc.connect()
    admin = sfc.auth(SF_TENANT)
    doc = sfc.http.get("/settings/salesforce", headers=admin).json()
    segment = {"app_fields": ["industry"], "crm_field": "Segment__c", "custom": True, "direction": "to_crm"}
    company = [*doc["field_mappings"]["company"], segment]
    saved = sfc.http.patch("/settings/salesforce", json={"field_mappings": {"company": company}},
                           headers={**admin, "If-Match": "*"})  # fmt: skip
    assert saved.status_code == 200, saved.text
    monkeypatch.setenv("BULK_EXPORT_SLICE_SIZE", "7")

    def create(name: str, org_nr: str | None) -> str:
        return sb.create(org, "Account", {"Name": name, **({"AccountNumber": org_nr} if org_nr else {})})

    yield Crm("salesforce", SF_TENANT, sfc.http, lambda role: sfc.auth(SF_TENANT, role), create,
              lambda: sb.all_records(org, "Account"), lambda c: str(c.get("Name")),
              lambda: sum(sb.call_counts(org).values()), sfc.stack)  # fmt: skip


@pytest.fixture(params=["superoffice", "salesforce"])
def crm(request: pytest.FixtureRequest) -> Crm:
    return request.getfixturevalue("so_crm" if request.param == "superoffice" else "sf_crm")  # type: ignore[no-any-return]


def mixed_leads(crm: Crm) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """50 leads; and what each should become (`created`, `linked`, `needs_decision`, `failed`)."""
    make = so_lead if crm.name == "superoffice" else sf_lead
    name_key = "companyName" if crm.name == "superoffice" else "company_name"
    org_key = "cvr" if crm.name == "superoffice" else "org_number"
    leads: list[dict[str, Any]] = []
    expected: dict[str, str] = {}
    for i in range(50):
        if i < NEW:
            lead, outcome = make(i), "created"
        elif i < NEW + EXACT:
            lead, outcome = make(i), "linked"
            crm.create_company(f"Existing {i:03d} A/S", lead[org_key])  # the same org number: exact
        elif i < NEW + EXACT + POSSIBLE:
            # The same name as a CRM company, nothing else to confirm it: only a possible match.
            lead = make(i, website=None, contacts=[], **{org_key: None, name_key: f"Nearly {i:03d}"})
            crm.create_company(f"Nearly {i:03d} I/S", None)
            outcome = "needs_decision"
        else:
            lead, outcome = make(i, **BAD_VALUE[crm.name]), "failed"
        leads.append(lead)
        expected[lead["id"]] = outcome
    return leads, expected


def test_fifty_leads_export_in_the_background_with_right_totals_one_entry_each_and_no_duplicates(crm: Crm) -> None:
    leads, expected = mixed_leads(crm)
    companies_before = len(crm.companies())

    accepted = crm.post_exports({"leads": leads}, **{"Idempotency-Key": "bulk-1"})

    assert accepted.status_code == 202, accepted.text
    queued = accepted.json()
    assert accepted.headers["location"] == f"/sync-runs/{queued['id']}"
    assert queued["kind"] == "export" and queued["state"] in ("queued", "running", "continued", "succeeded")
    assert queued["export"]["totals"]["total"] == 50
    run = crm.finished(queued["id"])
    assert run["state"] == "succeeded", run
    assert run["errors_total"] == INVALID, run["errors"][:3]
    totals = run["export"]["totals"]
    assert totals == {"total": 50, "done": 50, "created": NEW, "linked": EXACT, "updated": 0, "unchanged": 0,
                      "needs_decision": POSSIBLE, "failed": INVALID}  # fmt: skip
    assert run["export"]["slices"] >= 8 and run["continuations"] >= 7  # 50 leads in slices of 7
    assert run["errors_total"] == INVALID and all(e["code"] == "invalid_input" for e in run["errors"])

    # One entry per lead says what became of it (persons written get their own entries, as in a single export).
    entries = [e for e in crm.log() if e.get("run_id") == run["id"]]
    # The log read for just this run (`run_id`) is the same entries, newest first, across pages.
    by_run = crm.log(run_id=run["id"])
    assert [e["id"] for e in by_run] == [e["id"] for e in entries] and len(by_run) >= 50
    per_lead = [e for e in entries if not (e["object"] == "person" and e["outcome"] == "success")]
    assert Counter(e["app_id"] for e in per_lead) == Counter(list(expected))
    outcome_of = {e["app_id"]: e for e in per_lead}
    for lead_id, outcome in expected.items():
        entry = outcome_of[lead_id]
        if outcome == "created":
            assert (entry["action"], entry["outcome"]) == ("create", "success")
        elif outcome == "linked":
            assert (entry["action"], entry["outcome"]) == ("link", "success")
            assert entry["match"]["decision"] == "link_exact"
        elif outcome == "needs_decision":
            assert entry["outcome"] == "skipped" and entry["match"]["decision"] == "refused_possible_matches"
            assert entry["match"]["candidates"], entry  # names the candidates
        else:
            assert entry["outcome"] == "failed" and entry["error"]["code"] == "invalid_input"
            bad = next(iter(BAD_VALUE[crm.name].values()))
            assert bad in entry["error"]["message"] and entry["error"]["hint"], entry["error"]

    # Exactly one company per new lead; linked and set-aside leads created none.
    companies = crm.companies()
    assert len(companies) == companies_before + NEW
    names = Counter(crm.company_name(c) for c in companies)
    assert all(names[f"Bulk Company {i:03d}"] == 1 for i in range(NEW))

    # The same request again (same Idempotency-Key): the same run, nothing exported again.
    requests_before = crm.requests()
    again = crm.post_exports({"leads": leads}, **{"Idempotency-Key": "bulk-1"})
    assert again.status_code == 202, again.text
    assert again.json()["id"] == run["id"] and again.json()["state"] == "succeeded"
    # A redelivered slice (the first job and a continuation, sent again) finds the run done: nothing twice.
    queue_url = crm.stack.resources.queue_urls["ExportQueue"]
    for start in (0, 7):
        job = {"kind": "bulk_export", "run_id": run["id"], "tenant_id": crm.tenant, "crm": crm.name,
               "from_index": start}  # fmt: skip
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(job))
    wait_until(lambda: messages_in(crm.stack, "ExportQueue") == 0, what="the redelivered jobs to be handled")
    assert crm.requests() == requests_before
    assert len(crm.companies()) == companies_before + NEW
    assert len([e for e in crm.log() if e.get("run_id") == run["id"]]) == len(entries)
    assert crm.run(run["id"])["export"]["totals"] == totals

    # The run is listed among the connection's runs.
    listed = crm.http.get("/sync-runs", headers=crm.auth("member")).json()["items"]
    assert [r["kind"] for r in listed if r["id"] == run["id"]] == ["export"]


def test_a_second_bulk_export_of_the_same_leads_writes_nothing(crm: Crm) -> None:
    leads = [(so_lead if crm.name == "superoffice" else sf_lead)(i) for i in range(5)]
    first = crm.finished(crm.post_exports({"leads": leads}).json()["id"])
    assert first["export"]["totals"]["created"] == 5
    requests_before = crm.requests()

    second = crm.finished(crm.post_exports({"leads": leads}).json()["id"])  # no key: a new run

    assert second["id"] != first["id"]
    assert {e["run_id"] for e in crm.log(run_id=second["id"])} == {second["id"]}
    assert len(crm.log(run_id=second["id"])) == 5 and len(crm.log(run_id=first["id"])) >= 5
    assert second["export"]["totals"] == {"total": 5, "done": 5, "created": 0, "linked": 0, "updated": 0,
                                          "unchanged": 5, "needs_decision": 0, "failed": 0}  # fmt: skip
    assert crm.requests() == requests_before  # an unchanged lead makes no CRM call


@pytest.mark.parametrize(
    ("body", "loc", "status"),
    [
        ({}, ["body", "leads"], 422),
        ({"leads": []}, ["body", "leads"], 422),
        ({"leads": [{"id": "x", "companyName": "A"}], "match": "link"}, ["body", "match"], 422),
        ({"leads": [{"id": "x", "companyName": "A"}, {"id": "y", "colour": "red"}]}, ["body", "leads", 1, "colour"],
         422),
        ({"leads": [{"id": "x"}, {"id": "x"}]}, ["body", "leads", 1, "id"], 422),
        ({"leads": [{"id": "a#b"}]}, ["body", "leads", 0, "id"], 422),
        ({"leads": [{"id": f"L{i}"} for i in range(1001)]}, ["body", "leads"], 422),
    ],
)
def test_bad_bodies_are_4xx_naming_the_field_and_queue_nothing(
    so_crm: Crm, body: dict[str, Any], loc: list[Any], status: int
) -> None:
    response = so_crm.post_exports(body)

    assert response.status_code == status, response.text
    errors = response.json()["error"]["details"]["errors"]
    assert any(e["loc"] == loc for e in errors), errors
    assert messages_in(so_crm.stack, "ExportQueue") == 0


def test_the_same_idempotency_key_with_another_body_is_a_422(so_crm: Crm) -> None:
    first = so_crm.post_exports({"leads": [so_lead(1)]}, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 202, first.text

    other = so_crm.post_exports({"leads": [so_lead(2)]}, **{"Idempotency-Key": "k-1"})

    assert other.status_code == 422, other.text
    assert other.json()["error"]["details"]["errors"][0]["loc"] == ["header", "idempotency-key"]
    so_crm.finished(first.json()["id"])
