"""Lead lifecycle events end to end: `POST /leads/{id}/events` through the local gateway (template route, JWT
authorizer, ExportFunction), a tenant connected to the SuperOffice sandbox through the real OAuth flow, moto for the
table. What happened is checked in the CRM itself (the sandbox's stored sales and contacts, its call counts) and in
the sync log, not only in the response.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadbridge import runtime
from leadbridge.lifecycle import retry_pending_outbound
from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from tests.support.lead_documents import STATUS_MAPPING, lead
from tests.support.superoffice_connect import CTX, Env

TENANT = "acme-events"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
SELLER = 205  # a second CRM user (associate) the app's "u-seller" maps to
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def lc(env: Env) -> Iterator[Lifecycle]:
    sb = env.sandbox
    sb.add_user(CTX, "seller@cust40001.test", associate_id=SELLER, full_name="Sam Seller")
    env.connect(TENANT)
    # Two-way by default (issue 17): the CRM's webhooks for leadbridge's own writes would make the webhook processor
    # read the records back while this module counts the events' CRM calls; webhooks have their own tests.
    with sb.lock:
        sb.customers[CTX].webhooks.clear()
    lifecycle = Lifecycle(env)
    lifecycle.configure(status_mapping=STATUS_MAPPING, owners={"user_map": {"u-seller": str(SELLER)}})
    yield lifecycle


class Lifecycle:
    def __init__(self, connected: Env) -> None:
        self.env = connected
        self.sb: SuperOfficeSandbox = connected.sandbox

    def configure(self, **sections: Any) -> None:
        admin = self.env.auth(TENANT, "admin")
        current = self.env.http.get("/settings/superoffice", headers=admin)
        assert current.status_code == 200, current.text
        patched = self.env.http.patch(
            "/settings/superoffice", json=sections, headers={**admin, "If-Match": current.headers["etag"]}
        )
        assert patched.status_code == 200, patched.text

    def send(self, kind: str, lead: dict[str, Any], *, tenant: str = TENANT, **extra: Any) -> httpx.Response:
        body = {"type": kind, "lead": lead, **extra}
        return self.env.http.post(
            f"/leads/{lead['id']}/events", json=body, headers=self.env.auth(tenant, "member"), timeout=30
        )

    def ok(self, kind: str, lead: dict[str, Any], **extra: Any) -> dict[str, Any]:
        response = self.send(kind, lead, **extra)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def sale(self, crm_id: str) -> dict[str, Any]:
        return dict(self.sb.get(CTX, "sale", int(crm_id)))

    def sales(self) -> list[dict[str, Any]]:
        with self.sb.lock:
            return list(self.sb.customers[CTX].records["sale"].values())

    def writes(self) -> int:
        return sum(n for call, n in self.sb.call_counts(CTX).items() if call.split(" ", 1)[0] in WRITES)

    def calls(self) -> int:
        return sum(self.sb.call_counts(CTX).values())

    def log(self, lead_id: str) -> list[dict[str, Any]]:
        response = self.env.http.get("/sync-log", params={"lead_id": lead_id}, headers=self.env.auth(TENANT, "member"))
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


# --- created / stage changed ------------------------------------------------------------------------------------------


def test_a_new_lead_is_not_sent_and_reaching_the_create_stage_creates_company_persons_and_one_sale(
    lc: Lifecycle,
) -> None:
    writes = lc.writes()

    new = lc.ok("created", lead(), occurred_at=at(0))

    assert new["outcome"] == "skipped" and new["reason"] == "stage 'New' is before create stage 'Lead'"
    assert lc.writes() == writes and lc.sales() == []
    skipped = next(e for e in lc.log("L-1") if e["id"] == new["log_entry_id"])
    assert skipped["trigger"] == "lead_event" and skipped["outcome"] == "skipped"

    promoted = lc.ok("stage_changed", lead(stage="Lead"), stage="Lead", occurred_at=at(1))

    assert promoted["outcome"] == "applied", promoted
    assert promoted["company"]["action"] == "created" and [p["action"] for p in promoted["persons"]] == ["created"]
    assert promoted["deal"]["action"] == "created"
    sale = lc.sale(promoted["deal"]["crm_id"])
    assert sale["Contact"]["ContactId"] == int(promoted["company"]["crm_id"])  # under the exported company
    assert sale["Person"]["PersonId"] == int(promoted["persons"][0]["crm_id"])
    assert (sale["Heading"], sale["Amount"], sale["Status"]) == ("Havblik L-1", 25000, "Open")
    assert sale["Rating"]["Id"] == 1  # the mapped CRM stage of "Lead"
    entries = {(e["object"], e["action"]) for e in lc.log("L-1") if e["trigger"] == "lead_event"}
    assert {("company", "create"), ("person", "create"), ("deal", "create")} <= entries
    deal_entry = next(e for e in lc.log("L-1") if e["id"] == promoted["log_entry_id"])
    assert deal_entry["object"] == "deal" and deal_entry["crm_calls"] > 0 and "Stage" in deal_entry["fields_written"]

    qualified = lc.ok("stage_changed", lead(stage="Lead"), stage="Qualified", occurred_at=at(2))

    # The stage's probability goes with it (issue 17): SuperOffice lists stage 2 at 25 %.
    assert qualified["deal"] == {**promoted["deal"], "action": "updated", "fields_written": ["Stage", "Probability"]}
    assert qualified["company"]["action"] == "unchanged"
    assert lc.sale(promoted["deal"]["crm_id"])["Rating"]["Id"] == 2
    assert lc.sale(promoted["deal"]["crm_id"])["Probability"] == 25
    assert len(lc.sales()) == 1


# --- won / lost / deleted / transferred -------------------------------------------------------------------------------


def test_won_marks_the_sale_sold_and_a_replayed_event_id_returns_the_first_outcome(lc: Lifecycle) -> None:
    created = lc.ok("created", lead("L-2", stage="Proposal"), occurred_at=at(0))
    sale_id = created["deal"]["crm_id"]
    assert lc.sale(sale_id)["Rating"]["Id"] == 3

    won = lc.ok("won", lead("L-2", stage="Won"), occurred_at=at(5), event_id="evt-won-1")

    assert won["outcome"] == "applied" and won["deal"]["fields_written"] == ["Status"]
    assert lc.sale(sale_id)["Status"] == "Sold"  # seed 001: contract signed → sale won
    calls = lc.calls()

    replay = lc.ok("won", lead("L-2", stage="Won"), occurred_at=at(5), event_id="evt-won-1")

    assert replay["replayed"] is True and {**replay, "replayed": False} == won
    assert lc.calls() == calls  # the CRM was not asked again


def test_an_older_event_never_overrides_a_newer_one(lc: Lifecycle) -> None:
    lc.ok("created", lead("L-3", stage="Lead"), occurred_at=at(0))
    won = lc.ok("won", lead("L-3", stage="Won"), occurred_at=at(10))
    writes = lc.writes()

    late = lc.ok("stage_changed", lead("L-3", stage="Qualified"), stage="Qualified", occurred_at=at(5))

    assert late["outcome"] == "skipped" and "older than the last event" in late["reason"]
    assert lc.writes() == writes
    assert lc.sale(won["deal"]["crm_id"])["Status"] == "Sold"


def test_lost_marks_the_sale_lost_or_deletes_it_as_configured(lc: Lifecycle) -> None:
    marked = lc.ok("created", lead("L-4", stage="Lead"), occurred_at=at(0))
    lost = lc.ok("lost", lead("L-4", stage="Lost"), occurred_at=at(1))
    assert lost["deal"]["fields_written"] == ["Status"] and lc.sale(marked["deal"]["crm_id"])["Status"] == "Lost"

    lc.configure(status_mapping={**STATUS_MAPPING, "on_lost": "delete"})
    doomed = lc.ok("created", lead("L-5", stage="Lead"), occurred_at=at(0))
    deleted = lc.ok("lost", lead("L-5", stage="Lost"), occurred_at=at(1))

    assert deleted["deal"]["action"] == "deleted"
    assert [s["SaleId"] for s in lc.sales()] == [int(marked["deal"]["crm_id"])]  # only L-4's sale is left
    assert doomed["deal"]["crm_id"] != marked["deal"]["crm_id"]
    # on_deleted defaults to "nothing": deleting the lead in the app leaves the CRM alone.
    writes = lc.writes()
    nothing = lc.ok("deleted", lead("L-4", stage="Lost"), occurred_at=at(2))
    assert nothing["outcome"] == "skipped" and nothing["reason"] == "status_mapping.on_deleted is 'nothing'"
    assert lc.writes() == writes


def test_transferred_sets_the_mapped_crm_user_as_owner_of_sale_and_company(lc: Lifecycle) -> None:
    created = lc.ok("created", lead("L-6", stage="Lead"), occurred_at=at(0))

    moved = lc.ok("transferred", lead("L-6", stage="Lead"), owner="u-seller", occurred_at=at(1))

    assert moved["outcome"] == "applied" and moved["company"]["action"] == "updated"
    assert lc.sale(created["deal"]["crm_id"])["Associate"]["AssociateId"] == SELLER
    assert lc.sb.get(CTX, "contact", int(created["company"]["crm_id"]))["Associate"]["AssociateId"] == SELLER
    unmapped = lc.ok("transferred", lead("L-6"), owner="u-nobody", occurred_at=at(2))
    assert unmapped["outcome"] == "skipped" and "u-nobody" in unmapped["reason"]


# --- rules, matching ---------------------------------------------------------------------------------------------


def test_a_lead_outside_the_selective_sync_rules_is_skipped_with_the_reason(lc: Lifecycle) -> None:
    lc.configure(selective_sync={"enabled": True, "conditions": [{"field": "score", "op": "gte", "value": 50}]})
    writes = lc.writes()

    cold = lc.ok("created", lead("L-7", stage="Lead", score=10), occurred_at=at(0))

    assert cold["outcome"] == "skipped" and "company.score does not satisfy gte 50" in cold["reason"]
    assert lc.writes() == writes
    assert lc.ok("created", lead("L-8", stage="Lead", score=90), occurred_at=at(0))["outcome"] == "applied"


def test_only_possible_company_matches_need_a_decision_and_nothing_is_written(lc: Lifecycle) -> None:
    lc.sb.create(CTX, "contact", {"Name": "Tvivl Handel I/S"})
    writes = lc.writes()
    vague = lead("L-9", stage="Lead", companyName="Tvivl Handel", website=None, cvr=None, contacts=[])

    response = lc.ok("created", vague, occurred_at=at(0), event_id="evt-vague")

    assert response["outcome"] == "needs_decision" and response["match"]["verdict"] == "possible"
    assert lc.writes() == writes and lc.sales() == []


# --- retryable failures: queued, then applied by the retry run ------------------------------------------------------


def test_a_503_queues_the_event_and_the_retry_run_applies_it_later(lc: Lifecycle) -> None:
    created = lc.ok("created", lead("L-10", stage="Lead"), occurred_at=at(0))
    # SuperOffice keeps failing the sale update through every retry of the HTTP client.
    lc.sb.inject_fault("503", path_prefix="/api/v1/Sale", method="PATCH", count=4, retry_after=0)

    queued = lc.send("won", lead("L-10", stage="Won"), occurred_at=at(1))

    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert body["outcome"] == "queued" and body["retry"]["attempts"] == 1
    assert lc.sale(created["deal"]["crm_id"])["Status"] == "Open"
    failure = next(e for e in lc.log("L-10") if e["id"] == body["log_entry_id"])
    assert failure["outcome"] == "failed" and failure["error"]["code"] == "crm_unavailable"
    services = runtime.lifecycle_services()
    due_at = datetime.fromisoformat(body["retry"]["next_attempt_at"])

    early = retry_pending_outbound(services, TENANT, "superoffice", now=due_at - timedelta(seconds=1), budget=10)
    assert (early.due, early.remaining) == (0, 1)

    run = retry_pending_outbound(services, TENANT, "superoffice", now=due_at, budget=10)

    assert (run.due, run.applied, run.remaining) == (1, 1, 0)
    assert lc.sale(created["deal"]["crm_id"])["Status"] == "Sold"
    assert services.outbound.pending(TENANT, "superoffice") == []


# --- errors -----------------------------------------------------------------------------------------------------------


def test_bad_events_are_422s_naming_the_field(lc: Lifecycle) -> None:
    unknown = lc.send("promoted", lead("L-11"))
    assert unknown.status_code == 422
    assert ["body", "type"] in [e["loc"] for e in unknown.json()["error"]["details"]["errors"]]
    no_stage = lc.send("stage_changed", lead("L-11", stage=None))
    assert no_stage.status_code == 422 and no_stage.json()["error"]["details"]["errors"][0]["loc"] == ["body", "stage"]
    bad_time = lc.send("won", lead("L-11"), occurred_at="yesterday")
    assert ["body", "occurred_at"] in [e["loc"] for e in bad_time.json()["error"]["details"]["errors"]]
    mismatch = lc.env.http.post(
        "/leads/OTHER/events", json={"type": "won", "lead": lead("L-11")}, headers=lc.env.auth(TENANT, "member")
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["details"]["errors"][0]["loc"] == ["body", "lead", "id"]


def test_no_connection_is_a_409_and_a_crm_rejection_a_502_with_the_log_entry(lc: Lifecycle) -> None:
    nobody = lc.send("created", lead("L-12", stage="Lead"), tenant="nobody-connected")
    assert nobody.status_code == 409 and nobody.json()["error"]["code"] == "not_connected"

    lc.sb.inject_fault("400", path_prefix="/api/v1/Sale", method="POST", count=1)
    rejected = lc.send("created", lead("L-12", stage="Lead"), occurred_at=at(0))

    assert rejected.status_code == 502, rejected.text
    error = rejected.json()["error"]
    entry = next(e for e in lc.log("L-12") if e["id"] == error["details"]["log_entry_id"])
    assert entry["object"] == "deal" and entry["outcome"] == "failed" and entry["error"]["code"] == "crm_rejected"
    # The retry creates the sale under the company the first attempt already linked: no second company.
    retried = lc.ok("created", lead("L-12", stage="Lead"), occurred_at=at(0))
    assert retried["company"]["action"] == "unchanged" and retried["deal"]["action"] == "created"
