"""The scheduled-sync dispatcher over moto: due connections are found through the index, queued once, advanced.

Driven through the DispatcherFunction handler with a real EventBridge scheduled event, as the schedule invokes it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import boto3
import pytest

from leadbridge import runtime
from leadbridge.crm.defaults import default_settings
from leadbridge.errors import StoreUnavailable
from leadbridge.inbound.dispatch import RESERVE_MS, SyncJob, dispatch_due
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.settings import Frequency, Schedule
from leadbridge.settings.schedule import next_run
from leadbridge.store.due import DueConnectionIndex
from leadbridge.store.queue import SqsQueue
from leadbridge.store.settings import DynamoSettingsStore, SettingsChange
from local.lambda_runtime import FunctionRuntime

PAST = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/DispatcherEveryMinute"],
        "detail": {},
    }


def _connect(tenant: str, schedule: Schedule, *, due_at: datetime = PAST) -> None:
    runtime.connection_store().save(
        Connection(
            tenant_id=tenant,
            crm="superoffice",
            status=ConnectionStatus.CONNECTED,
            account_id=f"Cust-{tenant}",
            api_base="http://127.0.0.1:1/Cust/api/",
            secret_name=f"leadbridge/test/{tenant}",
            connected_by="admin-1",
            connected_at=PAST,
            connection_key=f"key-{tenant}",
            next_run_at=due_at,
        )
    )
    document = default_settings("superoffice").model_copy(update={"schedule": schedule, "version": 1})
    DynamoSettingsStore(runtime.table()).save(
        tenant, document, SettingsChange(version=1, updated_by="admin-1", updated_at=PAST, sections=["schedule"])
    )


def _queued_jobs(queue_url: str) -> list[SyncJob]:
    sqs = boto3.client("sqs")
    jobs: list[SyncJob] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return jobs
        for message in messages:
            jobs.append(SyncJob.model_validate_json(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def dispatcher(aws: Any, sam_template: Any):
    runtime.reset()
    functions = FunctionRuntime(sam_template)

    def invoke() -> dict[str, Any]:
        invocation = functions.invoke("DispatcherFunction", _scheduled_event())
        assert invocation.ok, invocation.error
        return invocation.result

    yield invoke
    runtime.reset()


@pytest.mark.parametrize("frequency", [Frequency.EVERY_15_MINUTES, Frequency.HOURLY, Frequency.DAILY, Frequency.WEEKLY])
def test_each_frequency_queues_one_job_and_advances_to_the_schedules_next_run(dispatcher, aws, frequency):
    schedule = Schedule(
        frequency=frequency, start_date=date(2026, 1, 5), start_time=time(9, 30), timezone="Europe/Copenhagen"
    )
    _connect("acme", schedule)

    before = datetime.now(UTC)
    report = dispatcher()
    after = datetime.now(UTC)

    assert report["queued"] == 1
    [job] = _queued_jobs(aws.environment["SYNC_QUEUE_URL"])
    assert (job.tenant_id, job.crm, job.trigger) == ("acme", "superoffice", "schedule")
    assert job.scheduled_for == PAST
    stored = runtime.connection_store().get("acme", "superoffice")
    assert stored is not None and stored.next_run_at is not None
    # The next run is the schedule's next run after the dispatch instant (bounded by the calls around it).
    assert next_run(schedule, before) <= stored.next_run_at <= next_run(schedule, after)
    assert stored.next_run_at > after
    # Not due any more: a second invocation queues nothing.
    assert dispatcher()["queued"] == 0
    assert _queued_jobs(aws.environment["SYNC_QUEUE_URL"]) == []


def test_only_due_connections_are_queued(dispatcher, aws):
    hourly = Schedule(frequency=Frequency.HOURLY, start_date=date(2026, 1, 1))
    _connect("due-1", hourly)
    _connect("due-2", hourly, due_at=datetime.now(UTC) - timedelta(seconds=5))
    _connect("later", hourly, due_at=datetime.now(UTC) + timedelta(minutes=10))

    assert dispatcher()["queued"] == 2
    assert sorted(j.tenant_id for j in _queued_jobs(aws.environment["SYNC_QUEUE_URL"])) == ["due-1", "due-2"]


def test_a_schedule_switched_to_manual_is_taken_off_the_index_without_a_job(dispatcher, aws):
    _connect("acme", Schedule(frequency=Frequency.MANUAL))
    report = dispatcher()
    assert (report["due"], report["queued"], report["unscheduled"]) == (1, 0, 1)
    assert _queued_jobs(aws.environment["SYNC_QUEUE_URL"]) == []
    assert dispatcher()["due"] == 0


def test_overlapping_dispatchers_queue_each_connection_once(aws):
    runtime.reset()
    hourly = Schedule(frequency=Frequency.HOURLY, start_date=date(2026, 1, 1))
    for n in range(5):
        _connect(f"t{n}", hourly)
    index = DueConnectionIndex(runtime.table())
    # Both invocations read the due list before either claims: the conditional claim lets only one queue each.
    seen_by_first = list(index.due(datetime.now(UTC)))
    queue = SqsQueue(aws.environment["SYNC_QUEUE_URL"])
    second = dispatch_due(datetime.now(UTC), index=index, schedule_of=lambda t, c: hourly, queue=queue)
    first_claims = [
        index.claim(d, next_run_at=datetime.now(UTC) + timedelta(hours=1), now=datetime.now(UTC)) for d in seen_by_first
    ]

    assert second.queued == 5
    assert first_claims == [False] * 5
    assert len(_queued_jobs(aws.environment["SYNC_QUEUE_URL"])) == 5


def test_jobs_the_queue_refuses_stay_due_for_the_next_invocation(aws):
    runtime.reset()
    hourly = Schedule(frequency=Frequency.HOURLY, start_date=date(2026, 1, 1))
    _connect("acme", hourly)
    index = DueConnectionIndex(runtime.table())
    missing_queue = SqsQueue(aws.environment["SYNC_QUEUE_URL"] + "-deleted")

    with pytest.raises(StoreUnavailable):
        dispatch_due(datetime.now(UTC), index=index, schedule_of=lambda t, c: hourly, queue=missing_queue)

    stored = runtime.connection_store().get("acme", "superoffice")
    assert stored is not None and stored.next_run_at == PAST
    retry = dispatch_due(
        datetime.now(UTC),
        index=index,
        schedule_of=lambda t, c: hourly,
        queue=SqsQueue(aws.environment["SYNC_QUEUE_URL"]),
    )
    assert retry.queued == 1
    assert [j.tenant_id for j in _queued_jobs(aws.environment["SYNC_QUEUE_URL"])] == ["acme"]


def test_disconnected_connections_are_not_dispatched(dispatcher, aws):
    _connect("acme", Schedule(frequency=Frequency.HOURLY, start_date=date(2026, 1, 1)))
    runtime.connection_store().transition(
        "acme", "superoffice", expected=ConnectionStatus.CONNECTED, status=ConnectionStatus.DISCONNECTED
    )
    assert dispatcher()["due"] == 0
    assert json.dumps(_queued_jobs(aws.environment["SYNC_QUEUE_URL"])) == "[]"


def test_an_invocation_short_of_time_claims_no_more_and_the_next_one_queues_the_rest(aws):
    runtime.reset()
    hourly = Schedule(frequency=Frequency.HOURLY, start_date=date(2026, 1, 1))
    chunk = 10  # JOB_CHUNK's behaviour with fewer connections to make
    for n in range(chunk + 3):
        _connect(f"t{n:03d}", hourly)
    index = DueConnectionIndex(runtime.table())
    queue = SqsQueue(aws.environment["SYNC_QUEUE_URL"])
    countdown = iter([60_000, RESERVE_MS - 1])  # the Lambda's clock: plenty for the first chunk, then too little

    first = dispatch_due(
        datetime.now(UTC),
        index=index,
        schedule_of=lambda t, c: hourly,
        queue=queue,
        remaining_ms=lambda: next(countdown),
        chunk_size=chunk,
    )
    second = dispatch_due(datetime.now(UTC), index=index, schedule_of=lambda t, c: hourly, queue=queue,
                          chunk_size=chunk)  # fmt: skip

    assert (first.queued, first.left_due) == (chunk, 3)
    assert (second.queued, second.left_due) == (3, 0)
    jobs = _queued_jobs(aws.environment["SYNC_QUEUE_URL"])
    assert sorted(j.tenant_id for j in jobs) == [f"t{n:03d}" for n in range(chunk + 3)]
