"""App activities → CRM activities end to end: `POST /leads/{id}/activities` through the local gateway (template route,
JWT authorizer, ExportFunction), tenants connected through the real OAuth flows to the Salesforce sandbox (Task) and
the SuperOffice sandbox (Appointment). What was written is read back from the CRM's own store, and the sync log over
HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env

SO_TENANT = "acme-activities"
LEAD: dict[str, Any] = {
    "id": "lead-act-1",
    "stage": "Lead",
    "company_name": "Saltvand Rederi ApS",
    "website": "https://saltvand.dk",
    "contacts": [
        {"id": "c1", "first_name": "Lone", "last_name": "Vester", "email": "lone@saltvand.dk"},
        {"id": "c2", "first_name": "Per", "last_name": "Lund", "email": "per@saltvand.dk"},
    ],
}


def _activity(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "act-1",
        "type": "call",
        "subject": "Intro call",
        "description": "Wants a demo in March",
        "due_date": "2026-03-20",
        "status": "open",
        "created_at": datetime.now(UTC).isoformat(),
        "person_ref": "c2",
        **overrides,
    }


class Client:
    def __init__(self, http: httpx.Client, auth: Any, crm: str, tenant: str) -> None:
        self.http, self.auth, self.crm, self.tenant = http, auth, crm, tenant

    def turn_on_activities(self) -> None:
        admin = self.auth(self.tenant, "admin")
        current = self.http.get(f"/settings/{self.crm}", headers=admin).json()
        objects = {**current["objects"], "activity": {**current["objects"]["activity"], "direction": "to_crm"}}
        patched = self.http.patch(f"/settings/{self.crm}", json={"objects": objects},
                                  headers={**admin, "If-Match": "*"})  # fmt: skip
        assert patched.status_code == 200, patched.text

    def export(self) -> dict[str, Any]:
        response = self.http.post(f"/leads/{LEAD['id']}/export", json={"lead": LEAD},
                                  headers=self.auth(self.tenant, "member"))  # fmt: skip
        assert response.status_code == 200, response.text
        return dict(response.json())

    def post(self, body: dict[str, Any], lead_id: str = LEAD["id"]) -> httpx.Response:
        return self.http.post(f"/leads/{lead_id}/activities", json=body, headers=self.auth(self.tenant, "member"))

    def log(self) -> list[dict[str, Any]]:
        response = self.http.get("/sync-log", params={"lead_id": LEAD["id"], "object": "activity"},
                                 headers=self.auth(self.tenant, "member"))  # fmt: skip
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def test_salesforce_task_is_created_under_account_and_contact_then_completed(sfc: SfConnect) -> None:
    sfc.connect()
    client = Client(sfc.http, sfc.auth, "salesforce", SF_TENANT)
    exported = client.export()
    off = client.post(_activity())
    assert off.status_code == 409 and "objects.activity.direction" in off.json()["error"]["message"]
    client.turn_on_activities()
    org, sb = sfc.org_id, sfc.sandbox

    created = client.post(_activity())

    assert created.status_code == 200, created.text
    result = created.json()
    assert result["outcome"] == "created" and result["crm_id"].startswith("00T")
    task = sb.get(org, "Task", result["crm_id"])
    contact_id = next(p["crm_id"] for p in exported["persons"] if p["app_id"] == "c2")
    assert (task["Subject"], task["Description"], str(task["ActivityDate"])) == (
        "Intro call", "Wants a demo in March", "2026-03-20")
    assert task["WhatId"] == exported["company"]["crm_id"] and task["WhoId"] == contact_id
    assert task["Status"] == "Not Started" and task["IsClosed"] is False
    assert (task["Type"], task["TaskSubtype"]) == ("Call", "Call")  # the app's activity type
    sb.reset_call_counts(org)

    done = client.post(_activity(status="done"))

    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "updated" and done.json()["fields_written"] == ["Status"]
    task = sb.get(org, "Task", result["crm_id"])
    assert task["Status"] == "Completed" and task["IsClosed"] is True
    writes = {op: n for op, n in sb.call_counts(org).items() if op.split(" ", 1)[0] in ("POST", "PATCH")}
    assert writes == {"PATCH /sobjects/Task/{id}": 1}
    assert client.post(_activity(status="done")).json()["outcome"] == "unchanged"
    assert len(sb.all_records(org, "Task")) == 1

    entries = client.log()
    assert [(e["action"], e["outcome"]) for e in reversed(entries)] == [
        ("skip", "skipped"), ("create", "success"), ("update", "success"), ("skip", "skipped")]
    assert entries[1]["fields_written"] == ["Status"] and entries[1]["crm_id"] == result["crm_id"]


def test_salesforce_refuses_old_activities_unknown_contacts_and_bad_bodies(sfc: SfConnect) -> None:
    sfc.connect()
    client = Client(sfc.http, sfc.auth, "salesforce", SF_TENANT)
    client.turn_on_activities()
    unsynced = client.post(_activity())
    assert unsynced.status_code == 409 and "no company in the CRM" in unsynced.json()["error"]["message"]
    client.export()

    old = client.post(_activity(id="act-old", created_at=(datetime.now(UTC) - timedelta(days=3)).isoformat()))
    stranger = client.post(_activity(id="act-2", person_ref="nobody@else.dk"))
    bad = client.post({"id": "x", "type": "lunch", "subject": "", "created_at": "soon", "extra": 1})

    assert old.status_code == 200 and old.json()["outcome"] == "skipped"
    assert "before the CRM was connected" in old.json()["reason"]
    assert stranger.status_code == 422
    assert stranger.json()["error"]["details"]["errors"][0]["loc"] == ["body", "person_ref"]
    assert bad.status_code == 422
    locs = {tuple(e["loc"]) for e in bad.json()["error"]["details"]["errors"]}
    assert {("body", "type"), ("body", "subject"), ("body", "created_at"), ("body", "extra")} <= locs
    assert sfc.sandbox.all_records(sfc.org_id, "Task") == []
    assert any(e["outcome"] == "skipped" and e["details"]["activity_id"] == "act-old" for e in client.log())


def test_an_activity_made_before_a_reauthorization_is_still_sent_with_its_type(sfc: SfConnect) -> None:
    sfc.connect()
    client = Client(sfc.http, sfc.auth, "salesforce", SF_TENANT)
    client.export()
    client.turn_on_activities()
    made = datetime.now(UTC)  # after the first connection...
    assert sfc.connect()["status"] == "connected"  # ...and before an admin re-authorized Salesforce
    status = sfc.http.get("/connections/salesforce", headers=sfc.auth(SF_TENANT, "admin")).json()
    assert datetime.fromisoformat(status["connected_at"]) > made >= datetime.fromisoformat(status["first_connected_at"])

    visit = client.post(_activity(id="act-visit", type="visit", subject="Visit at the harbour",
                                  created_at=made.isoformat()))  # fmt: skip

    assert visit.status_code == 200, visit.text
    assert visit.json()["outcome"] == "created"
    task = sfc.sandbox.get(sfc.org_id, "Task", visit.json()["crm_id"])
    assert (task["Subject"], task["Type"], task["TaskSubtype"]) == ("Visit at the harbour", "Meeting", "Task")
    first = datetime.fromisoformat(status["first_connected_at"])
    older = client.post(_activity(id="act-older", created_at=(first - timedelta(seconds=1)).isoformat()))
    assert older.json()["outcome"] == "skipped"  # before the first connection: still not sent



def test_an_activity_the_app_sends_without_a_type_becomes_a_plain_task(sfc: SfConnect) -> None:
    sfc.connect()
    client = Client(sfc.http, sfc.auth, "salesforce", SF_TENANT)
    client.export()
    client.turn_on_activities()
    untyped = {k: v for k, v in _activity(id="act-untyped", subject="Rang Per").items() if k != "type"}

    created = client.post(untyped)

    assert created.status_code == 200, created.text
    task = sfc.sandbox.get(sfc.org_id, "Task", created.json()["crm_id"])
    assert (task["Subject"], task["Type"], task["TaskSubtype"]) == ("Rang Per", "Other", "Task")
    done = client.post({**untyped, "status": "done"})
    assert done.status_code == 200 and done.json()["fields_written"] == ["Status"]
    unknown = client.post({**untyped, "id": "act-lunch", "type": "lunch"})
    assert unknown.status_code == 422
    assert [e["loc"] for e in unknown.json()["error"]["details"]["errors"]] == [["body", "type"]]

def test_superoffice_appointment_is_created_and_completed(env: Env) -> None:
    env.connect(SO_TENANT)
    with env.sandbox.lock:  # webhook intake has its own tests; here the CRM's change notifications stay off
        env.sandbox.customers[CTX].webhooks.clear()
    client = Client(env.http, env.auth, "superoffice", SO_TENANT)
    exported = client.export()
    client.turn_on_activities()

    created = client.post(_activity(person_ref="c1"))

    assert created.status_code == 200, created.text
    appointment_id = int(created.json()["crm_id"])
    stored = env.sandbox.get(CTX, "appointment", appointment_id)
    person_id = next(p["crm_id"] for p in exported["persons"] if p["app_id"] == "c1")
    assert stored["Title"] == "Intro call" and stored["Description"] == "Wants a demo in March"
    assert stored["Contact"]["ContactId"] == int(exported["company"]["crm_id"])
    assert stored["Person"]["PersonId"] == int(person_id)
    assert stored["Completed"] == "NotStarted" and str(stored["StartDate"]).startswith("2026-03-20")

    done = client.post(_activity(person_ref="c1", status="done"))

    assert done.status_code == 200 and done.json()["fields_written"] == ["Completed"], done.text
    assert env.sandbox.get(CTX, "appointment", appointment_id)["Completed"] == "Completed"
    assert [e["action"] for e in reversed(client.log())] == ["create", "update"]
