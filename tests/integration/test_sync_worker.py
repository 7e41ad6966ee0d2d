"""The scheduled-sync worker (`leadbridge.inbound.worker.process_job`) against the SuperOffice sandbox over real HTTP
and DynamoDB/SQS in moto: what the app receives (change feed, bus events) and what the run reports, across pages, kills,
concurrent CRM edits, deletions, selections, continuations, throttling and the request budget.

The connector is the real `SuperOfficeConnector` with a small page size, so a handful of records spans several pages.
The bus is the publisher port recording what it delivered: the worker's own events, and the changes the relay puts on
it from the change feed through the table's stream (tests/support/feed_relay.py; the EventBridge adapter has its own
tests; the e2e tests read real events through a bus rule). The world (stores, kill switch, hooked connector) is
tests/support/sync_world.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest

from leadbridge.inbound.worker import WorkerConfig
from leadbridge.models.connection import ConnectionStatus
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import RunMode, RunState
from local.aws import LocalResources
from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.superoffice_connector import ADMIN_ID, CTX
from tests.support.sync_world import (
    CRM,
    PLENTY,
    TENANT,
    Killed,
    World,
    assert_no_spec_violations,
    by_record,
    inbound_settings,
    new_world,
)

PAGE = 5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01) as server:
        yield server


@pytest.fixture
def world(aws: LocalResources, sandbox: SuperOfficeSandbox) -> Iterator[World]:
    yield new_world(aws, sandbox, page_size=PAGE)
    sandbox.clear_faults()
    assert_no_spec_violations(sandbox)


# --- incremental pull, initial import ---------------------------------------------------------------------------------


def test_first_run_imports_everything_with_progress_then_runs_read_only_what_changed(world: World) -> None:
    ids = [world.company(f"Firma {i:02d}") for i in range(12)]  # three pages

    first = world.run()

    run = world.sync_run(first.run_id)
    assert run.state is RunState.SUCCEEDED and run.mode is RunMode.FIRST
    assert run.counts[CrmObject.COMPANY].created == 12 and run.counts[CrmObject.COMPANY].failed == 0
    assert run.progress[CrmObject.COMPANY].done == 12 and run.progress[CrmObject.COMPANY].estimated_total == 12
    assert run.progress[CrmObject.COMPANY].percent == 100.0
    assert sorted(e.crm_id for e in world.feed()) == sorted(str(i) for i in ids)
    assert {e.fields["company_name"] for e in world.feed()} == {f"Firma {i:02d}" for i in range(12)}

    world.sb.update(CTX, "contact", ids[3], {"Name": "Firma 03 renamed"})
    new_id = world.company("Firma new")
    second = world.run()

    run2 = world.sync_run(second.run_id)
    assert run2.state is RunState.SUCCEEDED and run2.mode is RunMode.INCREMENTAL
    company = run2.counts[CrmObject.COMPANY]
    assert (company.created, company.updated, company.failed) == (1, 1, 0)
    new_events = world.feed()[12:]
    assert [(e.crm_id, e.action.value) for e in new_events] == sorted(
        [(str(ids[3]), "updated"), (str(new_id), "created")], key=lambda p: int(p[0])
    )
    assert new_events[0].changed_fields == ["company_name"] or new_events[1].changed_fields == ["company_name"]
    finished = world.bus.of("SyncRunFinished")
    assert [f["run_id"] for f in finished] == [first.run_id, second.run_id]
    assert finished[1]["counts"]["company"]["updated"] == 1 and finished[1]["state"] == "succeeded"
    # The checkpoint never runs ahead of the run: min(newest change seen, pull start).
    checkpoint = world.checkpoints.get(TENANT, CRM, CrmObject.COMPANY)
    assert checkpoint.since is not None and run2.started_at is not None and checkpoint.since <= run2.finished_at  # type: ignore[operator]
    assert not checkpoint.in_progress


def test_without_initial_import_the_first_run_starts_from_now(world: World) -> None:
    world.settings = inbound_settings(initial_import=False)
    world.backdate("contact", world.company("Old AS"), days=3)

    first = world.run()
    assert world.feed() == [] and world.sync_run(first.run_id).state is RunState.SUCCEEDED

    new_id = world.company("New AS")
    world.run()
    assert [e.crm_id for e in world.feed()] == [str(new_id)]


# --- kills, concurrent edits ------------------------------------------------------------------------------------------


# Every store call the kernel makes for a page, in its order; the kill lands in the third of five pages.
KERNEL_CALLS = ["get_many", "by_crm_ids", "append", "write_many", "save_many"]


@pytest.mark.parametrize("method", KERNEL_CALLS)
def test_a_run_killed_at_any_point_of_a_page_resumes_without_loss_or_duplicates(world: World, method: str) -> None:
    ids = [world.company(f"Kill {i:02d}") for i in range(23)]  # five pages of five
    world.kills.kill_at = (method, 3)
    job = world.job()
    world.sb.reset_call_counts(CTX)

    with pytest.raises(Killed):
        world.run(job)
    assert world.sync_run(job.job_id).state is RunState.RUNNING  # the process died mid-run
    world.run(job)  # the queue delivers the same job again

    run = world.sync_run(job.job_id)
    assert run.state is RunState.SUCCEEDED
    grouped = by_record(world.feed())
    assert sorted(grouped) == sorted(f"company:{i}" for i in ids), f"lost after a kill in {method}"
    # At least once: a change reported just before the kill may come again, with the same id (apps dedupe by it).
    assert all(len({e.id for e in events}) == 1 for events in grouped.values()), f"duplicates after a kill in {method}"
    assert {e["crm_id"] for e in world.bus.of("CompanyChanged")} == {str(i) for i in ids}
    # Resumed at the page that was cut: at most that page and the one read ahead are read twice.
    read = world.connector.records_read[CrmObject.COMPANY]
    assert 23 <= read <= 23 + 2 * PAGE, read


@pytest.mark.parametrize("save", [2, 3, 5])
def test_a_checkpoint_save_made_while_the_next_page_is_applied_fails_the_invocation_and_nothing_is_lost(
    world: World, save: int
) -> None:
    # A page's checkpoint is stored in the background while the next page is applied; its failure (here: the
    # process dies in that thread) must stop the invocation, and the redelivered job must bring in every record.
    ids = [world.company(f"Saved {i:02d}") for i in range(23)]  # five pages of five
    world.kills.kill_at = ("checkpoints.save", save)
    job = world.job()

    with pytest.raises(Killed):
        world.run(job)
    assert world.kills.kill_at is None  # the kill happened
    world.run(job)

    assert world.sync_run(job.job_id).state is RunState.SUCCEEDED
    grouped = by_record(world.feed())
    assert sorted(grouped) == sorted(f"company:{i}" for i in ids)
    assert all(len({e.id for e in events}) == 1 for events in grouped.values())
    # Resumed from the last checkpoint stored: at most the pages after it are read again.
    assert 23 <= world.connector.records_read[CrmObject.COMPANY] <= 23 + 3 * PAGE


def test_changes_made_during_the_run_are_neither_missed_nor_duplicated(world: World) -> None:
    ids = [world.company(f"Live {i:02d}") for i in range(15)]  # three pages
    edits: dict[str, int] = {}

    def edit_during_run(page: int) -> None:
        if page == 2:  # the first page is applied, the second just read
            world.sb.update(CTX, "contact", ids[1], {"Name": "Live 01 edited behind the cursor"})
            world.sb.update(CTX, "contact", ids[13], {"Name": "Live 13 edited ahead of the cursor"})
            edits["new"] = world.company("Live created during the run")

    world.connector.after_page = edit_during_run
    world.run()
    world.connector.after_page = None
    world.run()  # the next run picks up what the first could not see

    grouped = by_record(world.feed())
    assert len(grouped) == 16
    names = {key: [e.fields["company_name"] for e in events] for key, events in grouped.items()}
    assert names[f"company:{ids[1]}"] == ["Live 01", "Live 01 edited behind the cursor"]
    assert names[f"company:{ids[13]}"][-1] == "Live 13 edited ahead of the cursor"
    assert len(names[f"company:{ids[13]}"]) == len(set(names[f"company:{ids[13]}"]))
    assert names[f"company:{edits['new']}"] == ["Live created during the run"]
    assert all(len(v) == 1 for k, v in names.items() if k not in (f"company:{ids[1]}", f"company:{ids[13]}"))
    assert len({e.id for e in world.feed()}) == len(world.feed())


# --- deletions --------------------------------------------------------------------------------------------------------


def test_deletions_soft_by_the_crm_and_hard_by_absence_at_a_full_run(world: World) -> None:
    a, b, c = (world.company(n) for n in ("Alpha", "Beta", "Gamma"))
    pa = world.person(a, "Petra")
    world.run()
    assert {e.crm_id for e in world.feed() if e.object is CrmObject.PERSON} == {str(pa)}

    world.sb.soft_delete(CTX, "contact", b)  # recycle bin: the archive reports deletedDate
    incremental = world.run()
    deleted = [e for e in world.feed() if e.type.value == "RecordDeleted"]
    assert [(e.object, e.crm_id) for e in deleted] == [(CrmObject.COMPANY, str(b))]
    assert world.sync_run(incremental.run_id).counts[CrmObject.COMPANY].deleted == 1

    world.sb.delete(CTX, "person", pa)  # gone without a trace: only absence tells
    world.sb.delete(CTX, "contact", c)
    world.run()
    assert len([e for e in world.feed() if e.type.value == "RecordDeleted"]) == 1  # an incremental run cannot see it

    full = world.run(world.job(trigger="manual", full=True))
    run = world.sync_run(full.run_id)
    deleted = [(e.object, e.crm_id) for e in world.feed() if e.type.value == "RecordDeleted"]
    assert sorted(deleted[1:]) == sorted([(CrmObject.PERSON, str(pa)), (CrmObject.COMPANY, str(c))])
    assert run.mode is RunMode.FULL and run.counts[CrmObject.PERSON].deleted == 1
    assert world.bus.of("RecordDeleted")[-1]["crm_id"] in (str(pa), str(c))
    world.run(world.job(trigger="manual", full=True))
    assert len([e for e in world.feed() if e.type.value == "RecordDeleted"]) == 3  # reported once


# --- selections and favourites (seed 003) -----------------------------------------------------------------------------


def test_selections_and_favourites_are_merged_without_duplicates_and_former_employees_ignored(world: World) -> None:
    fav_company = world.company("Favourite AS")
    other = world.company("Other AS")
    p1 = world.person(fav_company, "Current")
    p2 = world.person(fav_company, "Former", Retired=True)
    p3 = world.person(fav_company, "Also current")
    p4 = world.person(other, "Favourite person")
    p5 = world.person(other, "Selected")
    p6 = world.person(other, "Later selected")
    nowhere = world.person(other, "Nowhere")
    for person in (p1, p2, p3, p4, p5, p6, nowhere):  # long-standing CRM data, not recent changes
        world.backdate("person", person, days=3)
    world.backdate("contact", fav_company, days=3)
    world.backdate("contact", other, days=3)
    s1 = world.sb.add_selection(CTX, "Key people", target="person", member_ids=[p5, p1])
    s2 = world.sb.add_selection(CTX, "Next wave", target="person", member_ids=[p6])
    world.sb.add_favourites(CTX, ADMIN_ID, contact_ids=[fav_company], person_ids=[p4])
    world.settings = inbound_settings(
        initial_import=False, static_selection_ids=[str(s1.selection_id)], favourite_companies=True
    )

    first = world.run()

    persons = [e.crm_id for e in world.feed() if e.object is CrmObject.PERSON]
    assert sorted(persons) == sorted(str(p) for p in (p1, p3, p5))  # p2 left the company; p4 not asked for yet
    assert world.sync_run(first.run_id).selections.done == 3  # type: ignore[union-attr]

    world.run()  # nothing changed: selections sync at housekeeping, not every run
    assert len(world.feed()) == 3

    world.settings = inbound_settings(
        initial_import=False,
        static_selection_ids=[str(s1.selection_id), str(s2.selection_id)],
        favourite_companies=True,
        favourite_persons=True,
    )
    world.run()
    persons = [e.crm_id for e in world.feed() if e.object is CrmObject.PERSON]
    assert sorted(persons) == sorted(str(p) for p in (p1, p3, p5, p4, p6))
    assert str(p2) not in persons


# --- time, throttling, budget, lease, failures ------------------------------------------------------------------------


def test_out_of_time_the_run_continues_itself_under_the_same_run_id(world: World) -> None:
    ids = [world.company(f"Slow {i:02d}") for i in range(12)]
    pages_read = Counter[str]()

    def remaining() -> int:
        pages_read["checks"] += 1
        return PLENTY if world.connector.pages < 1 else 1_000  # after the first page: about to time out

    job = world.job()
    result = world.run(job, remaining=remaining)

    assert result.state is RunState.CONTINUED
    assert world.sync_run(job.job_id).state is RunState.CONTINUED
    [continuation] = world.queued()
    assert continuation.run_id == job.job_id and continuation.continuation == 1
    assert len(world.feed()) == PAGE

    done = world.run(continuation)

    run = world.sync_run(job.job_id)
    assert done.state is RunState.SUCCEEDED and run.continuations == 1
    assert sorted(e.crm_id for e in world.feed()) == sorted(str(i) for i in ids)
    assert run.counts[CrmObject.COMPANY].created == 12
    assert [f["run_id"] for f in world.bus.of("SyncRunFinished")] == [job.job_id]


def test_a_throttling_crm_makes_the_run_continue_after_its_retry_after(world: World) -> None:
    for i in range(3):
        world.company(f"Busy {i}")
    world.sb.inject_fault("429", count=None, path_prefix="/api/v1/Contact", method="GET", ctx=CTX, retry_after=7)
    job = world.job()

    result = world.run(job)

    assert result.state is RunState.CONTINUED and "throttled" in result.detail
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=world.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # visible after Retry-After, not before
    world.sb.clear_faults()

    world.run(world.job(job_id=job.job_id, run_id=job.job_id, continuation=1))
    assert world.sync_run(job.job_id).state is RunState.SUCCEEDED and len(world.feed()) == 3


def test_the_request_budget_ends_the_run_and_the_next_run_goes_on_from_the_checkpoint(world: World) -> None:
    for i in range(12):
        world.company(f"Budget {i:02d}")
    world.config = WorkerConfig(request_budget=8)  # ids count (1) + the first page (1 + 5) + a little

    first = world.run()

    run = world.sync_run(first.run_id)
    assert run.state is RunState.SUCCEEDED and run.budget_exhausted
    assert run.crm_calls >= 8 and any(e.code == "budget_exhausted" for e in run.errors)
    read_first = len(world.feed())
    assert 0 < read_first < 12
    world.config = WorkerConfig()
    world.run()
    assert sorted(e.fields["company_name"] for e in world.feed()) == [f"Budget {i:02d}" for i in range(12)]


def test_one_run_per_connection_a_scheduled_job_waits_for_the_running_one(world: World) -> None:
    assert world.runs.acquire(TENANT, CRM, "manual-run", seconds=600) is None

    skipped = world.run()

    assert "manual-run" in skipped.detail and skipped.state is None
    assert world.runs.list(TENANT, CRM).items == []
    world.runs.release(TENANT, CRM, "manual-run")
    assert world.run().state is RunState.SUCCEEDED


def test_a_connection_that_needs_reauthorisation_fails_the_run_with_sync_failed(world: World) -> None:
    world.save_connection(ConnectionStatus.NEEDS_REAUTH)

    result = world.run()

    run = world.sync_run(result.run_id)
    assert run.state is RunState.FAILED and run.errors[-1].code == "needs_reauth"
    [failed] = world.bus.of("SyncFailed")
    assert failed["run_id"] == result.run_id and failed["error"]["code"] == "needs_reauth"
    connection = world.connections.get(TENANT, CRM)
    assert connection is not None and connection.last_error and "needs_reauth" in connection.last_error
    assert world.runs.acquire(TENANT, CRM, "next", seconds=60) is None  # the lease was released


def test_a_crm_outage_is_retried_by_the_queue_and_the_last_attempt_fails_the_run(world: World) -> None:
    world.company("Down AS")
    world.sb.inject_fault("503", count=None, path_prefix="/api/v1/Contact", ctx=CTX)
    job = world.job()

    with pytest.raises(Exception, match="SuperOffice"):
        world.run(job, attempt=1)
    assert world.sync_run(job.job_id).state is RunState.RUNNING and world.bus.of("SyncFailed") == []

    with pytest.raises(Exception, match="SuperOffice"):
        world.run(job, attempt=5)
    run = world.sync_run(job.job_id)
    assert run.state is RunState.FAILED and "DLQ" in run.errors[-1].message
    assert [f["run_id"] for f in world.bus.of("SyncFailed")] == [job.job_id]


def test_runs_list_newest_first_with_a_cursor(world: World) -> None:
    results = [world.run() for _ in range(3)]

    page1 = world.runs.list(TENANT, CRM, limit=2)
    page2 = world.runs.list(TENANT, CRM, limit=2, cursor=page1.next_cursor)

    assert [r.id for r in page1.items + page2.items] == [r.run_id for r in reversed(results)]
    assert json.loads(page1.items[0].model_dump_json())["state"] == "succeeded"
