"""What one worker invocation reports about its run (`inbound.jobs.job_result`): the run's totals only from the
invocation that ended it, so the worker's per-run metrics (records synced, CRM calls) count each run once."""

from __future__ import annotations

from datetime import UTC, datetime

from leadbridge.inbound.jobs import job_result
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import ObjectCounts, RunState, SyncRun


def _run(state: RunState) -> SyncRun:
    return SyncRun(
        id="run-1",
        tenant="acme",
        crm="superoffice",
        trigger="schedule",
        state=state,
        created_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
        counts={
            CrmObject.COMPANY: ObjectCounts(read=10, created=3, updated=2, unchanged=4, failed=1),
            CrmObject.PERSON: ObjectCounts(read=5, created=1, deleted=2, skipped=2),
        },
        crm_calls=17,
    )


def test_the_invocation_that_ends_a_run_reports_its_totals() -> None:
    for state in (RunState.SUCCEEDED, RunState.FAILED):
        result = job_result(_run(state), "finished")
        totals = ObjectCounts(read=15, created=4, updated=2, unchanged=4, deleted=2, skipped=2, failed=1)
        assert result.records == totals
        assert result.crm_calls == 17
        assert (result.run_id, result.state, result.detail) == ("run-1", state, "finished")


def test_an_invocation_that_leaves_the_run_going_reports_no_totals() -> None:
    result = job_result(_run(RunState.CONTINUED), "the invocation is about to time out")
    assert result.records is None and result.crm_calls is None
    assert result.state is RunState.CONTINUED
