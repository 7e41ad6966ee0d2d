"""Scheduled sync end to end: a tenant connected to the SuperOffice sandbox through the real OAuth flow, runs started
over HTTP (`POST /sync-runs`) or by the dispatcher, executed by SyncWorkerFunction from the SyncQueue (the local
queue pump, stepped by the test), the change feed read over HTTP (`GET /changes`), and the bus events read back
through an EventBridge rule into a capture queue in moto.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from leadbridge import runtime
from leadbridge.models.connection import WebhookStatus
from local.pump import BatchOutcome
from local.stack import LocalStack
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.change_feed import without_settle_window
from tests.support.lead_documents import STATUS_MAPPING, lead
from tests.support.local_stack import stepped_stack
from tests.support.superoffice_connect import CTX, Env
from tests.support.waiting import wait_until

TENANT = "acme-sync"
WORKER = "SyncWorkerFunction"


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the pump stepped by the test (no background consumers) and immediate redelivery."""
    yield from stepped_stack(moto_server)


class Sync:
    def __init__(self, connected: Env) -> None:
        self.env = connected
        self.sb = connected.sandbox
        self.stack = connected.stack
        self.events_queue = self._capture_bus()

    def _capture_bus(self) -> str:
        return subscribe_app_queue(os.environ["EVENT_BUS_NAME"], "bus-capture")

    def bus_events(self) -> list[dict[str, Any]]:
        return drain(self.events_queue)

    def configure(self, **sections: Any) -> None:
        admin = self.env.auth(TENANT, "admin")
        current = self.env.http.get("/settings/superoffice", headers=admin)
        patched = self.env.http.patch(
            "/settings/superoffice", json=sections, headers={**admin, "If-Match": current.headers["etag"]}
        )
        assert patched.status_code == 200, patched.text

    def work(self) -> BatchOutcome:
        return self.stack.pump.poll_once(WORKER)

    def get(self, path: str, role: str = "member", **params: Any) -> Any:
        response = self.env.http.get(path, params=params, headers=self.env.auth(TENANT, role))
        assert response.status_code == 200, response.text
        return response.json()

    def changes(self, at_least: int = 1) -> list[dict[str, Any]]:
        """The whole feed, read in small pages, once it holds `at_least` changes (the feed's settle window is off in
        this module: every run has finished when the test reads)."""
        items: list[dict[str, Any]] = []

        def enough() -> bool:
            items.clear()
            cursor = None
            while True:
                page = self.get("/changes", limit=2, **({"cursor": cursor} if cursor else {}))
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
def sync(env: Env) -> Iterator[Sync]:
    env.connect(TENANT)
    with env.sandbox.lock:  # the webhook processor has its own tests; here only the scheduled sync brings changes
        env.sandbox.customers[CTX].webhooks.clear()
    s = Sync(env)
    both = {"crm_object": "Contact", "direction": "both"}
    s.configure(objects={"company": both, "person": {"crm_object": "Person", "direction": "both"},
                         "deal": {"crm_object": "Sale", "direction": "to_crm"},
                         "activity": {"crm_object": "Appointment", "direction": "off"}},
                initial_import=True, status_mapping=STATUS_MAPPING)  # fmt: skip
    # Company fields flow back too (the defaults only write to the CRM).
    current = s.get("/settings/superoffice", role="admin")
    for mapping in current["field_mappings"]["company"]:
        if len(mapping["app_fields"]) == 1 and not mapping["transforms"]:
            mapping["direction"] = "both"
    s.configure(field_mappings=current["field_mappings"])
    s.bus_events()
    yield s


def test_a_manual_run_over_http_brings_the_crm_into_the_feed_and_reports_its_counts(sync: Sync) -> None:
    names = [f"Http Firma {i}" for i in range(4)]
    for name in names:
        sync.sb.create(CTX, "contact", {"Name": name})
    admin = sync.env.auth(TENANT, "admin")

    refused = sync.env.http.post("/sync-runs", json={}, headers=sync.env.auth(TENANT, "member"))
    bad = sync.env.http.post("/sync-runs", json={"objects": ["planet"], "full": "maybe"}, headers=admin)
    started = sync.env.http.post("/sync-runs", json={"objects": ["company", "person"]}, headers=admin)
    second = sync.env.http.post("/sync-runs", json={}, headers=admin)

    assert refused.status_code == 403
    assert bad.status_code == 422
    assert {"objects", "full"} <= {str(part) for e in bad.json()["error"]["details"]["errors"] for part in e["loc"]}
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["state"] == "queued" and run["trigger"] == "manual" and started.headers["location"].endswith(run["id"])
    assert second.status_code == 409 and second.json()["error"]["details"]["run_id"] == run["id"]

    outcome = sync.work()

    assert outcome.deleted and not outcome.failed
    shown = sync.get(f"/sync-runs/{run['id']}")
    assert shown["state"] == "succeeded" and shown["mode"] == "first"
    assert shown["counts"]["company"]["created"] >= 4 and shown["counts"]["company"]["failed"] == 0
    assert shown["progress"]["company"]["done"] == shown["progress"]["company"]["estimated_total"]
    assert shown["crm_calls"] > 0 and shown["request_budget"] == 20_000
    listed = sync.get("/sync-runs")
    assert listed["items"][0]["id"] == run["id"]
    feed = sync.changes(at_least=4)
    assert set(names) <= {c["fields"].get("company_name") for c in feed if c["type"] == "CompanyChanged"}
    assert len({c["id"] for c in feed}) == len(feed)
    bus = sync.bus_events()
    finished = [e["detail"] for e in bus if e["detail-type"] == "SyncRunFinished"]
    assert [f["run_id"] for f in finished] == [run["id"]] and finished[0]["state"] == "succeeded"
    assert {e["detail"]["id"] for e in bus if e["detail-type"] == "CompanyChanged"} == {
        c["id"] for c in feed if c["type"] == "CompanyChanged"
    }
    # A new run is accepted once this one ended; bad ids and cursors are clear 4xx.
    assert sync.env.http.post("/sync-runs", json={}, headers=admin).status_code == 202
    assert sync.env.http.get("/sync-runs/no-such-run", headers=admin).status_code == 404
    foreign = sync.env.http.get(f"/sync-runs/{run['id']}", headers=sync.env.auth("other-tenant", "admin"))
    assert foreign.status_code == 404
    garbage = sync.env.http.get("/changes", params={"cursor": "garbage"}, headers=admin)
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "invalid_cursor"


def test_the_dispatcher_queues_a_due_connection_and_the_worker_runs_it(sync: Sync) -> None:
    sync.sb.create(CTX, "contact", {"Name": "Scheduled Firma"})
    sync.configure(schedule={"frequency": "every_15_minutes", "timezone": "Europe/Copenhagen"})
    runtime.connection_store().set_next_run(TENANT, "superoffice", datetime.now(UTC) - timedelta(minutes=1))

    dispatched = sync.stack.scheduler.fire_now("DispatcherFunction")
    assert dispatched.ok and dispatched.result["queued"] == 1, dispatched.result

    sync.work()

    [run] = sync.get("/sync-runs")["items"]
    assert run["trigger"] == "schedule" and run["state"] == "succeeded"
    assert "Scheduled Firma" in {c["fields"].get("company_name") for c in sync.changes()}
    connection = runtime.connection_store().get(TENANT, "superoffice")
    assert connection is not None and connection.next_run_at is not None
    assert connection.next_run_at > datetime.now(UTC) and connection.last_success_at is not None


def test_a_lead_event_the_crm_refused_is_pushed_by_the_next_run(sync: Sync) -> None:
    member = sync.env.auth(TENANT, "member")
    created = sync.env.http.post(
        "/leads/L-70/events", json={"type": "created", "lead": lead("L-70", stage="Lead")}, headers=member, timeout=30
    )
    assert created.status_code == 200, created.text
    sale_id = int(created.json()["deal"]["crm_id"])
    sync.sb.inject_fault("503", path_prefix="/api/v1/Sale", method="PATCH", count=4, retry_after=0)
    queued = sync.env.http.post(
        "/leads/L-70/events", json={"type": "won", "lead": lead("L-70", stage="Won")}, headers=member, timeout=30
    )
    assert queued.status_code == 202 and queued.json()["outcome"] == "queued"
    # Time passes: the retry is due.
    outbound = runtime.outbound_store()
    for item in outbound.pending(TENANT, "superoffice"):
        item.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        outbound.save(item)

    started = sync.env.http.post("/sync-runs", json={}, headers=sync.env.auth(TENANT, "admin"))
    sync.work()

    run = sync.get(f"/sync-runs/{started.json()['id']}")
    assert run["state"] == "succeeded" and run["outbound"]["applied"] == 1, run
    assert sync.sb.get(CTX, "sale", sale_id)["Status"] == "Sold"
    assert outbound.pending(TENANT, "superoffice") == []


def test_a_failed_webhook_registration_is_retried_by_the_run(sync: Sync) -> None:
    connection = runtime.connection_store().get(TENANT, "superoffice")
    assert connection is not None
    failed = connection.model_copy(update={"webhook_status": WebhookStatus.FAILED, "webhook_id": None})
    runtime.connection_store().save(failed)

    sync.env.http.post("/sync-runs", json={"objects": ["company"]}, headers=sync.env.auth(TENANT, "admin"))
    sync.work()

    assert sync.env.status(TENANT)["webhook_status"] == "registered"
    assert len(sync.sb.customer(CTX).webhooks) == 1


def test_an_unreadable_job_ends_in_the_dead_letter_queue(sync: Sync) -> None:
    sqs = boto3.client("sqs")
    resources = sync.stack.resources
    sqs.send_message(QueueUrl=resources.sync_queue_url, MessageBody='{"job_id": "half a job"}')

    for _ in range(8):
        sync.work()
    dead = sqs.receive_message(QueueUrl=resources.sync_dlq_url, MaxNumberOfMessages=10).get("Messages", [])

    assert [m["Body"] for m in dead] == ['{"job_id": "half a job"}']


def test_runs_without_a_connection_are_409_saying_what_waits_for_one(env: Env) -> None:
    admin = env.auth(TENANT, "admin")
    for response in (env.http.get("/sync-runs", headers=admin), env.http.post("/sync-runs", json={}, headers=admin)):
        assert response.status_code == 409 and response.json()["error"]["code"] == "not_connected", response.text
        assert "synced" in response.json()["error"]["message"] and "exported" not in response.json()["error"]["message"]
