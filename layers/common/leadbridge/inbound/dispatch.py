"""The scheduled-sync dispatcher: due connections → one queued sync job each, next run advanced.

Runs every minute (EventBridge schedule). Finds due connections through the GSI1 "due" index (no scan), claims each
one by advancing its `next_run_at` with a conditional write (so a connection is queued at most once per due time,
even with overlapping invocations), and sends the jobs to the sync queue in batches. When the queue refuses a batch,
the claims of that batch are released so the next invocation retries them: a due run is delayed, never lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from leadbridge.errors import StoreUnavailable
from leadbridge.models.settings import Schedule
from leadbridge.settings.schedule import next_run
from leadbridge.store.due import DueConnection
from leadbridge.store.ports import MessageQueue
from leadbridge.store.queue import QueueMessage

JOB_CHUNK = 100  # claims per queue hand-off: bounds what one queue failure puts back
# No new chunk is claimed with less Lambda time left than this: a claimed chunk must reach the queue before the
# function is stopped, else its connections would wait for their next due time. The rest stays due for the next
# invocation, a minute later.
RESERVE_MS = 10_000


class DueIndex(Protocol):
    def due(self, now: datetime) -> Iterator[DueConnection]: ...

    def claim(self, due: DueConnection, *, next_run_at: datetime | None, now: datetime) -> bool: ...

    def release(self, due: DueConnection) -> None: ...


ScheduleLookup = Callable[[str, str], Schedule | None]


class SyncJob(BaseModel):
    """The message a sync worker receives."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    job_id: str
    tenant_id: str
    crm: str
    trigger: Literal["schedule", "manual"]
    scheduled_for: datetime
    enqueued_at: datetime

    def message(self) -> QueueMessage:
        return QueueMessage(
            body=self.model_dump_json(),
            attributes={"tenant": self.tenant_id, "crm": self.crm, "trigger": self.trigger},
        )


class DispatchReport(BaseModel):
    model_config = ConfigDict(defer_build=True)

    due: int = 0
    queued: int = 0
    unscheduled: int = 0  # due, but the schedule is now manual: taken off the index, nothing queued
    already_claimed: int = 0  # another invocation got there first
    released: int = 0  # queue refused the batch: put back for the next invocation
    left_due: int = 0  # not looked at: the invocation was short of time; still due for the next invocation
    jobs: list[SyncJob] = []


def dispatch_due(
    now: datetime,
    *,
    index: DueIndex,
    schedule_of: ScheduleLookup,
    queue: MessageQueue,
    remaining_ms: Callable[[], int] | None = None,
    chunk_size: int = JOB_CHUNK,
) -> DispatchReport:
    """Queue one sync job per due connection and advance each to its next run, chunk by chunk (`chunk_size` claims
    per queue hand-off) while the invocation has `RESERVE_MS` left (`remaining_ms`: the Lambda's countdown). Raises
    StoreUnavailable (after releasing the claims it could not hand off) when the queue refuses jobs, so the invocation
    is reported failed."""
    report = DispatchReport()
    failure: StoreUnavailable | None = None
    due_iter = index.due(now)
    while chunk := list(islice(due_iter, chunk_size)):
        if remaining_ms is not None and remaining_ms() < RESERVE_MS:
            report.left_due = len(chunk) + sum(1 for _ in due_iter)
            break
        claimed: list[tuple[DueConnection, SyncJob]] = []
        for due in chunk:
            report.due += 1
            schedule = schedule_of(due.tenant_id, due.crm)
            following = next_run(schedule, now) if schedule is not None else None
            if not index.claim(due, next_run_at=following, now=now):
                report.already_claimed += 1
                continue
            if following is None:
                report.unscheduled += 1
                continue
            job = SyncJob(
                job_id=str(uuid.uuid4()),
                tenant_id=due.tenant_id,
                crm=due.crm,
                trigger="schedule",
                scheduled_for=due.next_run_at,
                enqueued_at=now,
            )
            claimed.append((due, job))
        if not claimed:
            continue
        try:
            queue.send_all([job.message() for _, job in claimed])
        except StoreUnavailable as exc:
            for due, _ in claimed:
                index.release(due)
            report.released += len(claimed)
            failure = exc
            continue
        report.queued += len(claimed)
        report.jobs.extend(job for _, job in claimed)
    if failure is not None:
        raise failure
    return report
