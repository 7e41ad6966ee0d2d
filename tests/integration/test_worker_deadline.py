"""A sync never outlives its Lambda (issue #19, target 4): a page longer than one invocation's time is applied in
slices across invocations, each stopping before its deadline, and continues from the exact record.

Same parts as tests/integration/test_sync_worker.py (tests/support/sync_world.py: the SuperOffice sandbox over HTTP,
DynamoDB and SQS in moto),
with pages of 50 and slices of 10. Time is an injected countdown, never slept: each invocation starts with
`INVOCATION_MS` left and every record the inbound kernel reads costs `RECORD_MS` (the kernel reads the record states
of each slice once, so that is where the cost is charged). The worker times its steps by that same countdown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from leadbridge.inbound.ports import InboundServices
from leadbridge.inbound.worker import RunJob, WorkerConfig
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import RunState
from local.aws import LocalResources
from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.superoffice_connector import CTX
from tests.support.sync_world import (
    CRM,
    TENANT,
    HookedConnector,
    World,
    assert_no_spec_violations,
    by_record,
    new_world,
)

PAGE = 50
SLICE = 10
RECORD_MS = 100  # a slice costs 1 s
RESERVE_MS = 1_000
INVOCATION_MS = 6_000  # room for 4 slices: the reserve plus twice the slowest slice must be left before each


class Countdown:
    """One invocation's `get_remaining_time_in_millis`."""

    def __init__(self, total_ms: int) -> None:
        self.left = total_ms

    def __call__(self) -> int:
        return self.left


class Clock:
    """The countdown of the invocation under way; the kernel's record reads spend it."""

    def __init__(self) -> None:
        self.invocation = Countdown(0)
        self.lowest: list[int] = []  # per invocation: the least time it had left at any point

    def start(self, total_ms: int = INVOCATION_MS) -> Countdown:
        self.invocation = Countdown(total_ms)
        self.lowest.append(total_ms)
        return self.invocation

    def spend(self, ms: int) -> None:
        self.invocation.left -= ms
        self.lowest[-1] = min(self.lowest[-1], self.invocation.left)


class CostlyStates:
    """The record-state store, each record read costing `RECORD_MS` of the invocation's time."""

    def __init__(self, target: Any, clock: Clock) -> None:
        self._target = target
        self._clock = clock

    def get_many(self, tenant: str, crm: str, keys: Sequence[Any]) -> Any:
        self._clock.spend(RECORD_MS * len(keys))
        return self._target.get_many(tenant, crm, keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class ReadLog(HookedConnector):
    """The connector, noting each page read: (object, page token)."""

    def __init__(self, connector: Any) -> None:
        super().__init__(connector)
        self.reads: list[tuple[CrmObject, str | None]] = []

    def changes_since(self, *args: Any, **kwargs: Any) -> Any:
        obj, _since, *rest = args
        self.reads.append((obj, rest[0] if rest else kwargs.get("page_token")))
        return super().changes_since(*args, **kwargs)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    with SuperOfficeSandbox(webhook_delay_factor=0.01) as server:
        yield server


@pytest.fixture
def timed(aws: LocalResources, sandbox: SuperOfficeSandbox) -> Iterator[tuple[World, Clock]]:
    world = new_world(aws, sandbox, page_size=PAGE, config=WorkerConfig(reserve_ms=RESERVE_MS, apply_slice=SLICE))
    world.connector = ReadLog(world.connector.connector)
    clock = Clock()
    inbound = world.inbound
    world.inbound = InboundServices(
        links=inbound.links,
        states=CostlyStates(inbound.states, clock),
        feed=inbound.feed,
        log=inbound.log,
    )
    yield world, clock
    sandbox.clear_faults()
    assert_no_spec_violations(sandbox)


def run_to_the_end(world: World, clock: Clock, job: RunJob) -> list[RunState | None]:
    """Invocations of the job and its continuations (as the queue would deliver them) until the run is over."""
    states = []
    while True:
        result = world.run(job, remaining=clock.start())
        states.append(result.state)
        if result.state is not RunState.CONTINUED:
            return states
        [job] = world.queued()
        assert len(states) < 20, "the run does not get anywhere"


def test_a_page_longer_than_an_invocation_is_applied_across_invocations_from_the_exact_record(
    timed: tuple[World, Clock],
) -> None:
    world, clock = timed
    ids = [world.company(f"Slice {i:02d}") for i in range(60)]  # two pages: 50 and 10
    job = world.job()

    first = world.run(job, remaining=clock.start())

    # Four slices fit: the invocation stopped inside the first page, at its 40th record, before its deadline.
    assert first.state is RunState.CONTINUED
    assert len(world.feed()) == 40
    checkpoint = world.checkpoints.get(TENANT, CRM, CrmObject.COMPANY)
    assert checkpoint.in_progress and checkpoint.page_token is None  # still the first page
    assert (checkpoint.page_applied_through, checkpoint.page_applied) == (str(ids[39]), 40)
    assert world.sync_run(job.job_id).progress[CrmObject.COMPANY].done == 40

    [continuation] = world.queued()
    states = run_to_the_end(world, clock, continuation)

    assert states == [RunState.SUCCEEDED]
    assert min(clock.lowest) > 0, f"an invocation ran past its deadline: {clock.lowest}"
    run = world.sync_run(job.job_id)
    assert run.state is RunState.SUCCEEDED and run.continuations == 1
    counts = run.counts[CrmObject.COMPANY]
    assert (counts.created, counts.updated, counts.failed) == (60, 0, 0)
    assert run.progress[CrmObject.COMPANY].done == 60
    grouped = by_record(world.feed())
    assert sorted(grouped) == sorted(f"company:{i}" for i in ids)
    assert all(len(events) == 1 for events in grouped.values())  # every record reported exactly once
    assert sorted(e["crm_id"] for e in world.bus.of("CompanyChanged")) == sorted(str(i) for i in ids)
    # Reads: both pages, the first page again by the continuation, and the first invocation's read ahead of the
    # second page, wasted when it stopped inside the first: one read each.
    reads = [token for obj, token in world.connector.reads if obj is CrmObject.COMPANY]  # type: ignore[attr-defined]
    assert len(reads) == 4 and reads.count(None) == 2
    done = world.checkpoints.get(TENANT, CRM, CrmObject.COMPANY)
    assert not done.in_progress and done.page_applied_through is None and done.since is not None


def test_when_the_last_applied_record_is_gone_the_page_is_applied_again_without_reporting_twice(
    timed: tuple[World, Clock],
) -> None:
    world, clock = timed
    ids = [world.company(f"Gone {i:02d}") for i in range(60)]
    job = world.job()
    assert world.run(job, remaining=clock.start()).state is RunState.CONTINUED
    assert world.checkpoints.get(TENANT, CRM, CrmObject.COMPANY).page_applied_through == str(ids[39])
    world.sb.delete(CTX, "contact", ids[39])  # the record the continuation was to go on after

    [continuation] = world.queued()
    states = run_to_the_end(world, clock, continuation)

    # The whole page is read and applied again (a no-op for the 39 applied), which takes one more continuation here.
    assert states[-1] is RunState.SUCCEEDED
    assert min(clock.lowest) > 0, f"an invocation ran past its deadline: {clock.lowest}"
    grouped = by_record(world.feed())
    assert sorted(grouped) == sorted(f"company:{i}" for i in ids)
    gone = f"company:{ids[39]}"
    assert all(len(events) == 1 for key, events in grouped.items() if key != gone)
    # Created in the first invocation, then deleted by absence at the end of this first run (reconcile).
    assert [e.action.value for e in grouped[gone]] == ["created", "deleted"]
    counts = world.sync_run(job.job_id).counts[CrmObject.COMPANY]
    assert (counts.created, counts.deleted, counts.failed) == (60, 1, 0)


def test_a_slow_page_read_counts_as_a_step(timed: tuple[World, Clock]) -> None:
    """Waiting for the CRM is timed like a slice: after a read that took most of the invocation the run stops
    instead of starting another read it has no time for."""
    world, clock = timed
    for i in range(60):
        world.company(f"Slow read {i:02d}")
    world.connector.after_page = lambda page: clock.spend(2_000) if page == 1 else None
    job = world.job()

    result = world.run(job, remaining=clock.start())

    # The read (2 s) and the first slice (1 s) are one step of 3 s: with 3 s left, less than the reserve plus twice
    # that, it stops after one slice instead of counting on 1 s slices.
    assert result.state is RunState.CONTINUED
    assert len(world.feed()) == SLICE
    assert min(clock.lowest) > 0
