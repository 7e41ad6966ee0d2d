"""HubSpot end to end, as a lead app's admin and its users meet it: connect through the local gateway (template
routes, JWT authorizer, handlers) and the HubSpot sandbox's install page; the settings' field lists, stages and owners
read from the portal; a lead exported (company matched or created, contacts upserted and associated); lifecycle
events moving a deal through the default pipeline; a scheduled sync bringing a portal user's edit to the app and
never the app's own write; disconnect revoking the grant. Asserted over HTTP and in the sandbox's own records and
per-operation call counts; moto for the table, the queues and the token vault.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from local.pump import BatchOutcome
from local.stack import LocalStack
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.change_feed import without_settle_window
from tests.support.hubspot_connect import ADMIN_EMAIL, PORTAL_NAME, REP_EMAIL, TENANT, HsConnect, hs_sandbox, hsc
from tests.support.local_stack import stepped_stack

__all__ = ["hs_sandbox", "hsc"]  # the fixtures this module uses, imported for pytest

WORKER = "SyncWorkerFunction"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CONNECTOR_SCOPES = {
    "oauth", "crm.objects.owners.read",
    *(f"crm.objects.{o}.{a}" for o in ("contacts", "companies", "deals") for a in ("read", "write")),
    *(f"crm.schemas.{o}.read" for o in ("contacts", "companies", "deals")),
}  # fmt: skip

LEAD: dict[str, Any] = {
    "id": "lead-hs-1",
    "stage": "Lead",
    "company_name": "Fjeldstue Analytics ApS",
    "website": "https://www.fjeldstue-analytics.dk",
    "phone": "+45 33 12 34 56",
    "org_number": "39005678",
    "location": "Danmark",
    "city": "Aarhus",
    "contacts": [
        {"id": "c1", "first_name": "Mette", "last_name": "Holm", "email": "mette@fjeldstue-analytics.dk",
         "title": "CTO"},
        {"id": "c2", "name": "Jens Bak", "email": "jens@fjeldstue-analytics.dk"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the pump stepped by the test (no background consumers) and immediate redelivery."""
    yield from stepped_stack(moto_server)


@pytest.fixture(autouse=True)
def feed_shows_changes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    without_settle_window(monkeypatch)


class Hub:
    """A connected tenant and what the tests read back from the portal."""

    def __init__(self, connected: HsConnect) -> None:
        self.c = connected
        self.sb = connected.sandbox
        self.hub = connected.hub_id

    def admin(self) -> dict[str, str]:
        return {**self.c.auth(TENANT, "admin"), "If-Match": "*"}

    def settings(self) -> dict[str, Any]:
        response = self.c.http.get("/settings/hubspot", headers=self.c.auth(TENANT, "admin"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def patch_settings(self, body: dict[str, Any]) -> httpx.Response:
        return self.c.http.patch("/settings/hubspot", json=body, headers=self.admin())

    def export(self, lead: dict[str, Any]) -> httpx.Response:
        return self.c.http.post(f"/leads/{lead['id']}/export", json={"lead": lead, "choice": {"mode": "auto"}},
                                headers=self.c.auth(TENANT, "member"), timeout=30)  # fmt: skip

    def event(self, kind: str, lead: dict[str, Any], **extra: Any) -> dict[str, Any]:
        response = self.c.http.post(f"/leads/{lead['id']}/events", json={"type": kind, "lead": lead, **extra},
                                    headers=self.c.auth(TENANT, "member"), timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        return dict(response.json())

    def record(self, obj: str, record_id: str) -> dict[str, str]:
        [found] = [r.properties for r in self.sb.records(self.hub, obj) if r.id == record_id]
        return found

    def associated(self, from_obj: str, from_id: str, to_obj: str) -> set[str]:
        portal = self.sb.portal(self.hub)
        return {key[3] for key in portal.associations if key[:3] == (from_obj, from_id, to_obj)}


@pytest.fixture
def hub(hsc: HsConnect) -> Iterator[Hub]:
    hsc.connect()
    yield Hub(hsc)


def test_connect_asks_for_exactly_the_scopes_it_needs_and_shows_the_portal(hsc: HsConnect) -> None:
    url = hsc.sign_in_url()
    query = parse_qs(urlsplit(url).query)
    assert set(query["scope"][0].split(" ")) == CONNECTOR_SCOPES
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{hsc.stack.gateway_url}/oauth/hubspot/callback"]

    assert hsc.connect() == {"status": "connected", "crm": "hubspot"}

    status = hsc.status()
    assert status["status"] == "connected" and status["account_id"] == str(hsc.hub_id)
    assert str(hsc.hub_id) in status["account_name"] or status["account_name"] == PORTAL_NAME
    # HubSpot's webhooks are the app's (one target URL for every portal): nothing to register per portal.
    assert status["webhook_status"] == "registered"
    grant = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=hsc.connection().secret_name)["SecretString"])  # fmt: skip
    assert grant["account_id"] == str(hsc.hub_id) and grant["refresh_token"] and grant["expires_at"]
    assert grant["user_email"] == ADMIN_EMAIL
    # The token endpoint was called with a form body (the sandbox refuses anything else) on the 2026-03 path.
    assert hsc.sandbox.call_counts("oauth").get("POST /oauth/2026-03/token") == 1


def test_setup_lists_the_portal_fields_stages_and_owners(hub: Hub) -> None:
    member = hub.c.auth(TENANT, "member")
    fields = hub.c.http.get("/crm/hubspot/fields/company", headers=member)
    assert fields.status_code == 200, fields.text
    by_name = {f["name"]: f for f in fields.json()}
    assert by_name["cvr"]["custom"] is True and by_name["name"]["custom"] is False
    stages = hub.c.http.get("/crm/hubspot/stages", headers=member)
    assert stages.status_code == 200, stages.text
    kinds = {s["id"]: s.get("kind") for s in stages.json()}
    assert kinds["closedwon"] == "won" and kinds["closedlost"] == "lost"
    users = hub.c.http.get("/crm/hubspot/users", headers=member)
    assert users.status_code == 200, users.text
    assert {u["id"] for u in users.json()} == set(hub.c.owner_ids.values())  # owner ids, never user ids

    settings = hub.settings()
    assert settings["objects"]["company"]["crm_object"] == "companies"
    mapped = {m["crm_field"] for m in settings["field_mappings"]["company"]}
    assert {"name", "domain"} <= mapped


def test_export_creates_the_company_and_its_contacts_in_two_writes_then_is_unchanged(hub: Hub) -> None:
    response = hub.export(LEAD)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "exported" and result["company"]["action"] == "created"
    company_id = result["company"]["crm_id"]
    company = hub.record("companies", company_id)
    assert company["name"] == "Fjeldstue Analytics ApS" and company["domain"] == "fjeldstue-analytics.dk"
    assert company["city"] == "Aarhus"
    assert f"/{hub.hub}/" in result["company"]["url"] and company_id in result["company"]["url"]
    contacts = {r.properties["email"]: r for r in hub.sb.records(hub.hub, "contacts")}
    assert set(contacts) == {"mette@fjeldstue-analytics.dk", "jens@fjeldstue-analytics.dk"}
    assert contacts["jens@fjeldstue-analytics.dk"].properties["lastname"] == "Bak"
    assert contacts["mette@fjeldstue-analytics.dk"].properties["jobtitle"] == "CTO"
    assert hub.associated("companies", company_id, "contacts") == {c.id for c in contacts.values()}
    assert [p["action"] for p in result["persons"]] == ["created", "created"]
    # One company create and one batch create of its contacts with their associations inline.
    writes = {op: n for op, n in hub.c.calls("POST", "PATCH", "PUT", "DELETE").items()
              if not op.endswith("/search") and not op.endswith("/batch/read")}  # fmt: skip
    assert writes == {"POST /crm/v3/objects/companies": 1, "POST /crm/v3/objects/contacts/batch/create": 1}, writes

    before = hub.c.writes()
    again = hub.export(LEAD)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    assert hub.c.writes() == before


def test_an_existing_company_is_matched_by_its_domain(hub: Hub) -> None:
    existing = hub.sb.add_record(hub.hub, "companies", {"name": "Fjeldstue Analytics A/S",
                                                        "domain": "fjeldstue-analytics.dk"})  # fmt: skip
    response = hub.export({**LEAD, "id": "lead-hs-2"})
    assert response.status_code == 200, response.text
    assert response.json()["company"]["crm_id"] == existing.id
    assert response.json()["company"]["action"] in ("linked", "updated")
    assert len(hub.sb.records(hub.hub, "companies")) == 1


def test_a_value_hubspot_would_refuse_is_refused_before_any_write(hub: Hub) -> None:
    hub.sb.add_property(hub.hub, "companies", "region", "Region", "enumeration", "select",
                        options=[("north", "North"), ("south", "South")])  # fmt: skip
    settings = hub.settings()
    mappings = [*settings["field_mappings"]["company"],
                {"app_fields": ["city"], "crm_field": "region", "direction": "to_crm"}]  # fmt: skip
    saved = hub.patch_settings({"field_mappings": {**settings["field_mappings"], "company": mappings}})
    assert saved.status_code == 200, saved.text

    response = hub.export({**LEAD, "id": "lead-hs-3"})

    assert response.status_code == 422, response.text
    assert "region" in json.dumps(response.json()["error"])
    assert hub.c.writes() == 0 and hub.sb.records(hub.hub, "companies") == []


def test_lifecycle_events_move_the_deal_through_the_pipeline_and_close_it_won(hub: Hub) -> None:
    lead = {"id": "HS-L1", "stage": "Lead", "companyName": "Nordlys Sol ApS", "website": "https://nordlys-sol.dk",
            "dealTitle": "Solar park", "dealAmount": "125000", "expectedClose": "2026-09-30",
            "contacts": [{"id": "c1", "name": "Ane Berg", "email": "ane@nordlys-sol.dk"}]}  # fmt: skip

    created = hub.event("created", lead, occurred_at=T0.isoformat())

    assert created["outcome"] == "applied", created
    deal_id, company_id = created["deal"]["crm_id"], created["company"]["crm_id"]
    deal = hub.record("deals", deal_id)
    assert deal["dealname"] == "Solar park" and deal["amount"] == "125000" and deal["pipeline"] == "default"
    assert hub.associated("deals", deal_id, "companies") == {company_id}

    won = hub.event("won", {**lead, "stage": "Won"}, occurred_at=(T0 + timedelta(minutes=5)).isoformat())

    assert won["outcome"] == "applied" and won["deal"]["fields_written"] == ["dealstage"]
    closed = hub.record("deals", deal_id)
    assert closed["dealstage"] == "closedwon" and closed["hs_is_closed_won"] == "true"


class Sync:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.queue = subscribe_app_queue(os.environ["EVENT_BUS_NAME"], "bus-capture-hs")
        drain(self.queue)

    def configure(self) -> None:
        document = self.hub.settings()
        for obj in ("company", "person"):
            document["objects"][obj]["direction"] = "both"
            for mapping in document["field_mappings"][obj]:
                if len(mapping["app_fields"]) == 1 and not mapping["transforms"] and not mapping["custom"]:
                    mapping["direction"] = "both"
        saved = self.hub.patch_settings({"objects": document["objects"], "field_mappings": document["field_mappings"],
                                         "initial_import": True})  # fmt: skip
        assert saved.status_code == 200, saved.text

    def run(self, **body: Any) -> dict[str, Any]:
        http, auth = self.hub.c.http, self.hub.c.auth
        started = http.post("/sync-runs", json=body, headers=auth(TENANT, "admin"))
        assert started.status_code == 202, started.text
        outcome: BatchOutcome = self.hub.c.stack.pump.poll_once(WORKER)
        assert outcome.deleted and not outcome.failed
        return dict(http.get(f"/sync-runs/{started.json()['id']}", headers=auth(TENANT, "member")).json())

    def bus_events(self, detail_type: str) -> list[dict[str, Any]]:
        return [e["detail"] for e in drain(self.queue) if e["detail-type"] == detail_type]


def test_scheduled_sync_brings_a_portal_edit_and_never_the_apps_own_write(hub: Hub) -> None:
    sync = Sync(hub)
    imported = hub.sb.add_record(hub.hub, "companies", {"name": "Import Firma A/S", "domain": "importfirma.dk"})
    sync.configure()
    exported = hub.export(LEAD)
    assert exported.status_code == 200, exported.text

    first = sync.run(objects=["company"])

    assert first["state"] == "succeeded" and first["mode"] == "first", first
    assert {e["crm_id"] for e in sync.bus_events("CompanyChanged")} == {imported.id}  # the export is no news
    hub.sb.update_record(hub.hub, "companies", imported.id, {"name": "Import Firma Holding A/S"})
    hub.sb.archive_record(hub.hub, "companies", exported.json()["company"]["crm_id"])

    second = sync.run(objects=["company"])

    assert second["state"] == "succeeded" and second["mode"] == "incremental", second
    [update] = sync.bus_events("CompanyChanged")
    assert update["crm_id"] == imported.id and update["changed_fields"] == ["company_name"]
    assert second["counts"]["company"]["deleted"] == 1
    assert sync.run(objects=["company"])["counts"]["company"].get("updated", 0) == 0


def test_disconnect_revokes_the_grant(hub: Hub) -> None:
    token = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=hub.c.connection().secret_name)["SecretString"])["refresh_token"]  # fmt: skip
    response = hub.c.http.delete("/connections/hubspot", headers=hub.c.auth(TENANT, "admin"))
    assert response.status_code in (200, 204), response.text
    assert hub.c.status()["status"] == "disconnected"
    assert hub.sb.refresh_grants[token].revoked
    assert REP_EMAIL  # the rep never connected: only the admin's grant existed


def test_the_preview_shows_what_an_export_writes_and_the_match_explains_itself(hub: Hub) -> None:
    saved = hub.patch_settings({"matching": {"org_nr_field": "cvr"}})
    assert saved.status_code == 200, saved.text
    preview = hub.c.http.post("/settings/hubspot/preview", json={"lead": LEAD}, headers=hub.c.auth(TENANT, "member"))
    assert preview.status_code == 200, preview.text
    company = preview.json()["plan"]["company"]["fields"]
    assert company["name"] == "Fjeldstue Analytics ApS" and company["domain"] == "fjeldstue-analytics.dk"
    assert preview.json()["matching"]["org_nr_field"] == "cvr"
    existing = hub.sb.add_record(hub.hub, "companies", {"name": "Fjeldstue Analytics A/S", "cvr": "39005678"})
    hub.sb.add_record(hub.hub, "companies", {"name": "Fjeldstue Holding", "cvr": "11111111"})

    match = hub.c.http.post(f"/leads/{LEAD['id']}/match", json={"lead": LEAD}, headers=hub.c.auth(TENANT, "member"))

    assert match.status_code == 200, match.text
    body = match.json()
    assert body["verdict"] == "exact"
    best = body["candidates"][0]
    assert best["crm_id"] == existing.id and "org_number" in best["reasons"] and best["confidence"] == 1.0
    assert f"/{hub.hub}/" in best["url"]
    exported = hub.export(LEAD).json()
    assert exported["company"]["crm_id"] == existing.id and len(hub.sb.records(hub.hub, "companies")) == 2


def test_lost_closes_the_deal_lost(hub: Hub) -> None:
    lead = {"id": "HS-L2", "stage": "Lead", "companyName": "Tabt Sag ApS", "dealTitle": "Pilot",
            "contacts": [{"id": "c1", "name": "Bo Holm", "email": "bo@tabtsag.dk"}]}  # fmt: skip
    deal_id = hub.event("created", lead, occurred_at=T0.isoformat())["deal"]["crm_id"]

    lost = hub.event("lost", {**lead, "stage": "Lost"}, occurred_at=(T0 + timedelta(minutes=1)).isoformat())

    assert lost["outcome"] == "applied" and lost["deal"]["fields_written"] == ["dealstage"]
    closed = hub.record("deals", deal_id)
    assert closed["dealstage"] == "closedlost" and closed["hs_is_closed"] == "true"
    assert closed["hs_is_closed_won"] == "false"


def test_an_activity_becomes_a_task_on_the_company_and_contact_and_the_log_says_so(hub: Hub) -> None:
    exported = hub.export(LEAD).json()
    current = hub.settings()
    objects = {**current["objects"], "activity": {**current["objects"]["activity"], "direction": "to_crm"}}
    assert hub.patch_settings({"objects": objects}).status_code == 200
    activity = {"id": "act-hs-1", "type": "call", "subject": "Intro call", "description": "Wants a demo",
                "due_date": "2026-03-20", "status": "open", "created_at": datetime.now(UTC).isoformat(),
                "person_ref": "c2"}  # fmt: skip
    post = f"/leads/{LEAD['id']}/activities"
    member = hub.c.auth(TENANT, "member")

    created = hub.c.http.post(post, json=activity, headers=member)

    assert created.status_code == 200, created.text
    task_id = created.json()["crm_id"]
    task = hub.record("tasks", task_id)
    assert task["hs_task_subject"] == "Intro call" and task["hs_task_status"] != "COMPLETED"
    person = next(p["crm_id"] for p in exported["persons"] if p["app_id"] == "c2")
    assert hub.associated("tasks", task_id, "companies") == {exported["company"]["crm_id"]}
    assert hub.associated("tasks", task_id, "contacts") == {person}

    done = hub.c.http.post(post, json={**activity, "status": "done"}, headers=member)

    assert done.status_code == 200 and done.json()["outcome"] == "updated", done.text
    assert hub.record("tasks", task_id)["hs_task_status"] == "COMPLETED"
    log = hub.c.http.get("/sync-log", params={"lead_id": LEAD["id"], "object": "activity"}, headers=member).json()
    assert [(e["action"], e["outcome"]) for e in reversed(log["items"])] == [("create", "success"),
                                                                             ("update", "success")]


def test_a_run_cut_short_by_hubspot_resumes_where_it_stopped_without_loss_or_duplicates(hub: Hub) -> None:
    sync = Sync(hub)
    ids = [r.id for r in hub.sb.add_records(hub.hub, "companies", [{"name": f"Firma {i:03d} ApS"}
                                                                   for i in range(450)])]  # fmt: skip
    sync.configure()
    # HubSpot answers the first page of companies, then fails every search for longer than the retries wait.
    fault = hub.sb.faults.add(502, count=None, scope=str(hub.hub), path_prefix="/crm/v3/objects/companies/search",
                              after=1)  # fmt: skip
    http, member = hub.c.http, hub.c.auth(TENANT, "member")
    started = http.post("/sync-runs", json={"objects": ["company"]}, headers=hub.c.auth(TENANT, "admin"))
    assert started.status_code == 202, started.text

    cut = hub.c.stack.pump.poll_once(WORKER)

    assert cut.failed and not cut.deleted  # the job goes back to the queue: SQS delivers it again
    first_part = {e["crm_id"] for e in sync.bus_events("CompanyChanged")}
    assert 0 < len(first_part) < len(ids)
    hub.sb.faults.clear(fault.id)

    resumed = hub.c.stack.pump.poll_once(WORKER)

    assert resumed.deleted and not resumed.failed
    run = http.get(f"/sync-runs/{started.json()['id']}", headers=member).json()
    assert run["state"] == "succeeded", run
    rest = [e["crm_id"] for e in sync.bus_events("CompanyChanged")]
    assert sorted(first_part | set(rest)) == sorted(ids)  # none lost
    assert not first_part & set(rest) and len(rest) == len(set(rest))  # none reported twice
