"""A sync job delivered to the worker: reading it and the dead-letter bookkeeping (leadbridge.inbound.job_delivery)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from leadbridge.config import SyncWorkerSettings, load_function_settings
from leadbridge.inbound.job_delivery import JobDelivery, UnreadableJob, job_facts, read_job, worker_config

JOB = {
    "job_id": "job-1",
    "tenant_id": "acme",
    "crm": "superoffice",
    "trigger": "schedule",
    "scheduled_for": "2026-03-01T09:00:00Z",
    "enqueued_at": "2026-03-01T09:00:01Z",
}


@pytest.mark.parametrize(("attempt", "dead_lettered"), [(1, False), (4, False), (5, True), (6, True)])
def test_the_delivery_at_the_queues_max_receive_count_is_the_last(attempt: int, dead_lettered: bool) -> None:
    assert JobDelivery("m-1", "{}", attempt=attempt, max_attempts=5).dead_lettered is dead_lettered


def test_a_dispatcher_job_is_read_and_its_facts_name_the_run() -> None:
    delivery = JobDelivery("m-1", json.dumps(JOB), attempt=2)
    job = read_job(delivery)
    assert job.effective_run_id == "job-1"  # a dispatcher job's run is named after the job, so a retry resumes it
    assert job_facts(job, delivery) == {
        "message_id": "m-1",
        "tenant_id": "acme",
        "crm": "superoffice",
        "run_id": "job-1",
        "trigger": "schedule",
        "continuation": 0,
        "attempt": 2,
    }


@pytest.mark.parametrize("body", ["not json", json.dumps({**JOB, "trigger": "whim"}), json.dumps({"job_id": "j"})])
def test_an_unreadable_job_is_raised_with_its_errors_not_dropped(body: str) -> None:
    delivery = JobDelivery("m-1", body, attempt=5, max_attempts=5)
    with pytest.raises(UnreadableJob) as caught:
        read_job(delivery)
    assert caught.value.delivery.dead_lettered
    assert 1 <= len(caught.value.errors) <= 5
    assert all("input" not in error and "url" not in error for error in caught.value.errors)  # no payload echoed


def test_the_worker_config_comes_from_the_functions_variables_and_empty_ones_take_the_default() -> None:
    defaults = worker_config(load_function_settings(SyncWorkerSettings, {}))
    assert (defaults.request_budget, defaults.overlap, defaults.max_attempts) == (None, timedelta(minutes=5), 5)
    tuned = worker_config(
        load_function_settings(
            SyncWorkerSettings,
            {"SYNC_REQUEST_BUDGET": "40", "SYNC_OVERLAP_SECONDS": "60", "SYNC_MAX_RECEIVE_COUNT": "", "OTHER": "x"},
        )
    )
    assert (tuned.request_budget, tuned.overlap, tuned.max_attempts) == (40, timedelta(seconds=60), 5)
