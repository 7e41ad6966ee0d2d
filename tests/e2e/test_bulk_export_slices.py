"""Bulk export slices under at-least-once delivery and the Lambda clock, step by step: the domain's worker
(`process_bulk_job`) with the local stack's real services (moto, a tenant connected to the SuperOffice sandbox),
its jobs on a queue of this test's own (not pumped, so the test delivers each job itself, and again), and the
Lambda's remaining time injected.

- A slice stops before a lead when the remaining time is short, and its continuation starts at that exact lead.
- A redelivered job starts where the run stands, never at the job's own first lead: nothing is exported twice.
- A job dead-lettered after its last failed delivery fails the run; redriving it resumes the run.
- A crash after leads were exported but before the run was saved (the run store failing) is completed by the
  redelivery, which counts those leads from their recorded outcomes without a CRM call.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from leadbridge import runtime
from leadbridge.errors import StoreUnavailable
from leadbridge.export.bulk import (
    BulkExportConfig,
    BulkExportJob,
    BulkExportServices,
    fail_bulk_job,
    lease_id,
    process_bulk_job,
    start_bulk_export,
)
from leadbridge.export.contracts import BulkExportRequest
from leadbridge.models.lead import Lead
from leadbridge.models.runs import SyncRun
from leadbridge.store.runs import SqsDelayedQueue
from tests.support.superoffice_connect import CTX, Env

TENANT = "acme-slices"
PLENTY = 10**7


class Jobs:
    """This test's own job queue (moto SQS): what the worker queued, received one at a time."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs")
        self.url = self.sqs.create_queue(QueueName=f"bulk-slices-{uuid.uuid4().hex[:8]}")["QueueUrl"]

    def take(self) -> BulkExportJob:
        messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1).get("Messages", [])
        assert len(messages) == 1, "expected a queued job"
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return BulkExportJob.model_validate_json(messages[0]["Body"])

    def empty(self) -> bool:
        return not self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1).get("Messages")


class SavesFail:
    """The real run store, whose `save` fails from the `after`-th call on (an outage or a crash before the save)."""

    def __init__(self, store: Any, after: int) -> None:
        self._store, self._left = store, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def save(self, run: SyncRun) -> None:
        self._left -= 1
        if self._left < 0:
            raise StoreUnavailable("induced: the run could not be saved")
        self._store.save(run)


@pytest.fixture
def bulk(env: Env) -> Iterator[tuple[BulkExportServices, Jobs, Env]]:
    env.connect(TENANT)
    with env.sandbox.lock:
        env.sandbox.customers[CTX].webhooks.clear()
    jobs = Jobs()
    yield dataclasses.replace(runtime.bulk_export_services(), queue=SqsDelayedQueue(jobs.url)), jobs, env


def leads(n: int) -> BulkExportRequest:
    return BulkExportRequest(leads=[Lead.model_validate({"id": f"S-{i:02d}", "companyName": f"Slice Company {i:02d}",
                                                         "cvr": f"5{i:07d}"}) for i in range(n)])  # fmt: skip


def remaining(*values: int) -> Callable[[], int]:
    """The Lambda's remaining time as successive checks see it, then plenty."""
    ticks = itertools.chain(values, itertools.repeat(PLENTY))
    return lambda: next(ticks)


def crm_calls(env: Env) -> int:
    return sum(env.sandbox.call_counts(CTX).values())


def companies(env: Env) -> list[str]:
    with env.sandbox.lock:
        return sorted(str(c["Name"]) for c in env.sandbox.customers[CTX].records["contact"].values())


def test_time_redelivery_and_a_crash_before_the_save_export_every_lead_exactly_once(
    bulk: tuple[BulkExportServices, Jobs, Env],
) -> None:
    svc, jobs, env = bulk
    run = start_bulk_export(svc, TENANT, leads(12))
    first = jobs.take()
    assert first.from_index == 0
    config = BulkExportConfig(slice_size=5, reserve_ms=1_000)

    # Time runs short before the 5th lead: 4 exported, the continuation starts at lead 4.
    after_time = process_bulk_job(svc, first, remaining_ms=remaining(PLENTY, PLENTY, PLENTY, PLENTY, 10), config=config)
    assert after_time is not None and after_time.export is not None
    progress = after_time.export
    assert (after_time.state.value, progress.next_index, progress.totals.created) == ("continued", 4, 4)
    continuation = jobs.take()
    assert continuation.from_index == 4

    # The first job delivered again: it starts where the run stands (lead 4), not at lead 0.
    redelivered = process_bulk_job(svc, first, remaining_ms=remaining(), config=config)
    assert redelivered is not None and redelivered.export is not None
    assert (redelivered.export.next_index, redelivered.export.totals.created) == (9, 9)
    assert jobs.take().from_index == 9

    # The continuation (from 4) runs leads 9..11, but the run cannot be saved at the end (a crash, an outage).
    failing = dataclasses.replace(svc, runs=SavesFail(svc.runs, after=1))
    with pytest.raises(StoreUnavailable):
        process_bulk_job(failing, continuation, remaining_ms=remaining(), config=config)
    assert len(companies(env)) == 12
    stored = svc.runs.get(TENANT, run.id)
    assert stored is not None and stored.export is not None and stored.export.next_index == 9

    # Its redelivery counts leads 9..11 from their recorded outcomes: no CRM call, no second company.
    calls = crm_calls(env)
    done = process_bulk_job(svc, continuation, remaining_ms=remaining(), config=config)
    assert done is not None and done.export is not None
    assert done.state.value == "succeeded" and crm_calls(env) == calls
    assert done.export.totals.model_dump() == {"total": 12, "done": 12, "created": 12, "linked": 0, "updated": 0,
                                               "unchanged": 0, "needs_decision": 0, "failed": 0}  # fmt: skip
    assert jobs.empty()
    assert companies(env) == [f"Slice Company {i:02d}" for i in range(12)]

    # A late copy of any job finds the run finished.
    assert process_bulk_job(svc, first, remaining_ms=remaining(), config=config) is None
    assert crm_calls(env) == calls
    entries = runtime.sync_log().query(TENANT, limit=200).items
    company_entries = [e for e in entries if e.run_id == run.id and e.object == "company"]
    assert sorted(e.app_id or "" for e in company_entries) == [f"S-{i:02d}" for i in range(12)]


def test_a_second_worker_on_the_same_run_steps_aside(bulk: tuple[BulkExportServices, Jobs, Env]) -> None:
    svc, jobs, env = bulk
    run = start_bulk_export(svc, TENANT, leads(2))
    job = jobs.take()
    leases = svc.export.leases
    assert leases is not None
    assert leases.acquire(TENANT, "superoffice", lease_id(run.id), "another-worker", 60) is None
    calls = crm_calls(env)

    assert process_bulk_job(svc, job, remaining_ms=remaining()) is None

    assert crm_calls(env) == calls and companies(env) == []
    leases.release(TENANT, "superoffice", lease_id(run.id), "another-worker")
    finished = process_bulk_job(svc, job, remaining_ms=remaining())
    assert finished is not None and finished.state.value == "succeeded"


def test_a_dead_lettered_job_fails_the_run_and_its_redrive_resumes_it(
    bulk: tuple[BulkExportServices, Jobs, Env],
) -> None:
    svc, jobs, env = bulk
    run = start_bulk_export(svc, TENANT, leads(3))
    job = jobs.take()

    fail_bulk_job(svc, job, "CrmUnavailable")  # the last delivery failed: the job goes to ExportDLQ

    failed = svc.runs.get(TENANT, run.id)
    assert failed is not None and failed.state.value == "failed" and failed.errors[-1].code == "dead_lettered"
    resumed = process_bulk_job(svc, job, remaining_ms=remaining())  # an operator redrives the DLQ
    assert resumed is not None and resumed.state.value == "succeeded" and resumed.finished_at is not None
    assert resumed.export is not None and resumed.export.totals.created == 3
    assert len(companies(env)) == 3
