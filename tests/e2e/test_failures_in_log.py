"""Every failure of a sync run is in the sync log, end to end (issue 17, finding 8): tenants connected to the
SuperOffice and Salesforce sandboxes through the real OAuth flow, runs started over HTTP (`POST /sync-runs`) and
executed by SyncWorkerFunction from the SyncQueue (the local pump, stepped by the test, failed messages visible again
at once), and what an admin sees read back over HTTP: `GET /sync-log`, `GET /sync-runs/{id}`.

- a run that fails at once (the connection went away) and a run dead-lettered after its 5 `crm_unavailable` attempts
  each leave one `sync_run` entry saying what failed and what to do;
- one bad SuperOffice selection (here: deleted in the CRM after it was configured) fails that selection (a
  `sync_selection` entry naming it), and the rest of the run succeeds, company selections included (they failed the
  whole run with `Unknown column 'personId' in archive provider ContactStaticSelection`);
- an object that is simply switched off is not an error (`errors_total == 0`), and a manual run is `manual` in
  `/sync-runs` and in the log;
- an unreadable job naming its tenant is in that tenant's log; one without a tenant is an operator log line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest

from local.stack import LocalStack
from tests.support.local_stack import stepped_stack
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env

SO_TENANT = "acme-failures"
WORKER = "SyncWorkerFunction"
ATTEMPTS = 5  # SyncQueue's maxReceiveCount (template.yaml)


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the pump stepped by the test and failed messages visible again at once."""
    yield from stepped_stack(moto_server)


@dataclass
class Tenant:
    """One connected tenant as the test drives it over HTTP."""

    crm: str
    tenant: str
    http: httpx.Client
    auth: Callable[[str], dict[str, str]]  # role -> headers
    stack: LocalStack
    # (path prefix, method) -> fault that makes every matching CRM request answer 503
    outage: Callable[[str, str], Any]
    pull_path: str  # what a company pull reads
    create_company: Callable[[str], Any]  # a company made in the CRM by a CRM user

    def configure(self, objects: dict[str, str], **sections: Any) -> None:
        current = self.http.get(f"/settings/{self.crm}", headers=self.auth("admin")).json()
        for obj, direction in objects.items():
            current["objects"][obj]["direction"] = direction
        saved = self.http.patch(
            f"/settings/{self.crm}",
            json={"objects": current["objects"], **sections},
            headers={**self.auth("admin"), "If-Match": "*"},
        )
        assert saved.status_code == 200, saved.text

    def start_run(self, **body: Any) -> str:
        started = self.http.post("/sync-runs", json=body, headers=self.auth("admin"))
        assert started.status_code == 202, started.text
        return str(started.json()["id"])

    def work(self) -> None:
        self.stack.pump.poll_once(WORKER)

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params, headers=self.auth("member"))
        assert response.status_code == 200, response.text
        return response.json()

    def log(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/sync-log", limit=200, **params)["items"])

    def run_entries(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.log() if e["run_id"] == run_id]


@pytest.fixture
def so(env: Env) -> Tenant:
    env.connect(SO_TENANT)
    with env.sandbox.lock:  # only the runs bring changes here
        env.sandbox.customers[CTX].webhooks.clear()
    sb = env.sandbox
    return Tenant(
        crm="superoffice",
        tenant=SO_TENANT,
        http=env.http,
        auth=lambda role: env.auth(SO_TENANT, role),
        stack=env.stack,
        outage=lambda path, method: sb.inject_fault("503", path_prefix=path, method=method, count=None, retry_after=0),
        pull_path="/api/v1/Contact",
        create_company=lambda name: sb.create(CTX, "contact", {"Name": name}),
    )


@pytest.fixture
def sf(sfc: SfConnect) -> Tenant:
    sfc.connect()
    sb = sfc.sandbox
    return Tenant(
        crm="salesforce",
        tenant=SF_TENANT,
        http=sfc.http,
        auth=lambda role: sfc.auth(SF_TENANT, role),
        stack=sfc.stack,
        outage=lambda path, method: sb.inject_fault("503", path_prefix=path, method=method, count=None, retry_after=0),
        pull_path="/query",
        create_company=lambda name: sb.create(sfc.org_id, "Account", {"Name": name}),
    )


@pytest.fixture(params=["superoffice", "salesforce"])
def crm(request: pytest.FixtureRequest) -> Tenant:
    tenant: Tenant = request.getfixturevalue("so" if request.param == "superoffice" else "sf")
    return tenant


def _queue(stack: LocalStack) -> str:
    return stack.resources.sync_queue_url.rsplit("/", 1)[-1]


def _dead_letters(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    return list(sqs.receive_message(QueueUrl=stack.resources.sync_dlq_url, MaxNumberOfMessages=10).get("Messages", []))


# --- a failed run and a dead-lettered run -----------------------------------------------------------------------------


def test_a_run_dead_lettered_after_its_last_crm_unavailable_attempt_is_in_the_sync_log(crm: Tenant) -> None:
    crm.configure({"company": "both", "person": "off", "deal": "off", "activity": "off"}, initial_import=True)
    crm.outage(crm.pull_path, "GET")
    run_id = crm.start_run(objects=["company"])

    for attempt in range(1, ATTEMPTS + 1):
        crm.work()
        run = crm.get(f"/sync-runs/{run_id}")
        entries = crm.run_entries(run_id)
        if attempt < ATTEMPTS:  # the queue retries: not a failure yet
            assert run["state"] != "failed" and [e for e in entries if e["action"] == "sync_run"] == [], attempt
    crm.work()  # the queue moves the job to the dead-letter queue

    assert run["state"] == "failed"
    [failure] = [e for e in crm.run_entries(run_id) if e["action"] == "sync_run"]
    assert failure["outcome"] == "failed" and failure["trigger"] == "manual" and failure["crm"] == crm.crm
    assert failure["error"]["code"] == "crm_unavailable"
    assert f"attempt {ATTEMPTS} of {ATTEMPTS}" in failure["error"]["message"]
    assert "DLQ" in failure["error"]["message"]
    assert "checkpoints" in failure["error"]["hint"]  # what to do: nothing is lost, the next run goes on
    assert failure["details"]["run"] == f"/sync-runs/{run_id}"
    assert [json.loads(m["Body"])["run_id"] for m in _dead_letters(crm.stack)] == [run_id]


def test_a_run_that_fails_at_once_says_why_and_what_to_do_in_the_sync_log(crm: Tenant) -> None:
    crm.configure({"company": "both", "person": "off", "deal": "off", "activity": "off"})
    run_id = crm.start_run()
    gone = crm.http.delete(f"/connections/{crm.crm}", headers=crm.auth("admin"))
    assert gone.status_code in (200, 204), gone.text

    crm.work()

    assert crm.get(f"/sync-runs/{run_id}")["state"] == "failed"
    [failure] = [e for e in crm.log(status="failed") if e["run_id"] == run_id]
    assert failure["action"] == "sync_run" and failure["trigger"] == "manual"
    assert failure["error"]["code"] == "not_connected" and "connect" in failure["error"]["hint"].lower()
    assert _dead_letters(crm.stack) == []  # a permanent failure is not retried


# --- errors_total, trigger names ------------------------------------------------------------------------------------


def test_a_manual_run_with_objects_switched_off_has_no_errors_and_is_manual_in_runs_and_log(crm: Tenant) -> None:
    crm.create_company("Manual Firma A/S")
    crm.configure({"company": "both", "person": "off", "deal": "off", "activity": "off"}, initial_import=True)
    run_id = crm.start_run()

    crm.work()

    run = crm.get(f"/sync-runs/{run_id}")
    assert run["state"] == "succeeded" and run["trigger"] == "manual", run
    assert run["errors_total"] == 0 and run["errors"] == [], run
    assert run["counts"]["company"]["created"] >= 1
    entries = crm.run_entries(run_id)
    assert entries and {e["trigger"] for e in entries} == {"manual"}
    assert [r["trigger"] for r in crm.get("/sync-runs")["items"] if r["id"] == run_id] == ["manual"]


# --- one bad selection ------------------------------------------------------------------------------------------------


def test_a_bad_selection_fails_alone_and_the_rest_of_the_run_succeeds(so: Tenant, env: Env) -> None:
    sb = env.sandbox
    company = sb.create(CTX, "contact", {"Name": "Selection Firma AS"})
    at_company = sb.create(
        CTX, "person", {"Firstname": "Vera", "Lastname": "Valgt", "Contact": {"ContactId": company["ContactId"]}}
    )
    elsewhere = sb.create(CTX, "contact", {"Name": "Anden Firma AS"})
    chosen = sb.create(
        CTX, "person", {"Firstname": "Per", "Lastname": "Person", "Contact": {"ContactId": elsewhere["ContactId"]}}
    )
    # A company selection (its members have no `personId` column: SuperOffice refused the old query with
    # "Unknown column 'personId' in archive provider ContactStaticSelection"), a person selection, and one a CRM
    # user deletes after it was configured.
    companies = sb.add_selection(CTX, "Firmaer", target="contact", member_ids=[company["ContactId"]])
    persons = sb.add_selection(CTX, "Personer", target="person", member_ids=[chosen["PersonId"]])
    doomed = sb.add_selection(CTX, "Gamle", target="person", member_ids=[chosen["PersonId"]])
    ids = [str(s.selection_id) for s in (companies, doomed, persons)]
    so.configure(
        {"company": "both", "person": "both", "deal": "off", "activity": "off"},
        selections={"static_selection_ids": ids},
    )
    with sb.lock:
        del sb.customers[CTX].selections[doomed.selection_id]
    run_id = so.start_run()

    so.work()

    run = so.get(f"/sync-runs/{run_id}")
    assert run["state"] == "succeeded", run
    assert run["selections"]["done"] == run["selections"]["estimated_total"] == 2
    [failed] = [e for e in so.run_entries(run_id) if e["action"] == "sync_selection"]
    assert failed["outcome"] == "failed" and failed["details"] == {"selection_id": str(doomed.selection_id)}
    assert failed["error"]["code"] == "crm_not_found" and "not found" in failed["error"]["message"]
    assert f"selection {doomed.selection_id}" in failed["error"]["hint"]
    assert "static_selection_ids" in failed["error"]["hint"]
    assert [e["message"] for e in run["errors"]] == [failed["error"]["message"]] and run["errors_total"] == 1
    came_in = [e for e in so.run_entries(run_id) if e["object"] == "person" and e["outcome"] == "success"]
    assert sorted(e["crm_id"] for e in came_in) == sorted([str(at_company["PersonId"]), str(chosen["PersonId"])])


# --- unreadable jobs --------------------------------------------------------------------------------------------------


def test_an_unreadable_job_naming_its_tenant_is_in_that_tenants_log_when_dead_lettered(so: Tenant) -> None:
    body = json.dumps({"tenant_id": SO_TENANT, "crm": "superoffice", "trigger": "schedule", "job_id": 7})
    boto3.client("sqs").send_message(QueueUrl=so.stack.resources.sync_queue_url, MessageBody=body)

    for _ in range(ATTEMPTS - 1):
        so.work()
    assert [e for e in so.log() if e["action"] == "sync_run"] == []  # retried, not yet given up
    so.work()
    so.work()

    [entry] = [e for e in so.log() if e["action"] == "sync_run"]
    assert entry["outcome"] == "failed" and entry["error"]["code"] == "unreadable_job"
    assert "job_id" in entry["error"]["message"] and entry["details"]["queue"] == _queue(so.stack)
    assert entry["details"]["message_id"] in entry["error"]["hint"]
    assert [m["Body"] for m in _dead_letters(so.stack)] == [body]


def test_a_dead_lettered_job_without_a_tenant_is_an_operator_log_line_and_metric(
    so: Tenant, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = boto3.client("sqs").send_message(QueueUrl=so.stack.resources.sync_queue_url, MessageBody="not json at all")

    for _ in range(ATTEMPTS + 1):
        so.work()

    [line] = [r for r in caplog.records if r.getMessage() == "dead-lettered sync job without a readable tenant"]
    assert vars(line)["message_id"] == sent["MessageId"] and vars(line)["queue"] == _queue(so.stack)
    metrics = [
        json.loads(out) for out in capsys.readouterr().out.splitlines() if '"SyncJobDeadLetteredWithoutTenant"' in out
    ]
    assert len(metrics) == 1 and metrics[0]["queue"] == vars(line)["queue"]
    assert [m["Body"] for m in _dead_letters(so.stack)] == ["not json at all"]
    assert all(e["action"] != "sync_run" for e in so.log())  # no tenant: no tenant's log
