"""What the scheduled-sync worker is asked to do and how: the job it reads from the queue (`RunJob`), its settings
(`WorkerConfig`, including the CRM request budget of a run) and what it answers (`JobResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from leadbridge.crm.defaults import request_budget
from leadbridge.inbound.dispatch import SyncJob
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import ObjectCounts, RunState, SyncRun


class RunJob(SyncJob):
    """A `SyncJob` as the worker reads it: dispatcher jobs have only the base fields; manual runs and continuations
    name their run and what to sync."""

    run_id: str | None = None
    objects: list[CrmObject] | None = None
    full: bool = False
    continuation: int = 0

    @property
    def effective_run_id(self) -> str:
        # A redelivered dispatcher job keeps its job id, so a retry resumes the same run.
        return self.run_id or self.job_id


@dataclass(frozen=True)
class WorkerConfig:
    overlap: timedelta = timedelta(minutes=5)
    housekeeping_every: timedelta = timedelta(hours=24)
    request_budget: int | None = None  # None: the CRM's default, declared by its provider
    reserve_ms: int = 15_000  # stop when less than this plus twice the slowest step (slice, read, ...) remains
    lease_seconds: int = 960  # longer than one worker invocation (900 s) so a live run keeps it
    max_attempts: int = 5  # the queue's maxReceiveCount: the last attempt fails the run for good
    throttle_delay: int = 60  # seconds to wait after a 429 without Retry-After
    outbound_budget: int = 200  # lead events retried per run
    selection_save_every: int = 50
    apply_slice: int = 500  # records applied between two time checks (a page is applied in slices of this many)

    def budget_for(self, crm: str) -> int:
        """The CRM request budget of one run: the deployment's override, else the CRM's default."""
        return self.request_budget or request_budget(crm)


class JobResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    run_id: str | None = None
    state: RunState | None = None
    detail: str = ""
    # Set only by the invocation that ended the run, so a run's totals are counted once however many continuations
    # it took (the worker's metrics: records synced and CRM calls per run).
    records: ObjectCounts | None = None
    crm_calls: int | None = None


def job_result(run: SyncRun, detail: str) -> JobResult:
    """What one invocation did with `run`; with the run's totals when the run is over."""
    if not run.state.finished:
        return JobResult(run_id=run.id, state=run.state, detail=detail)
    totals = ObjectCounts()
    for counts in run.counts.values():
        for name, value in counts:
            setattr(totals, name, getattr(totals, name) + value)
    return JobResult(run_id=run.id, state=run.state, detail=detail, records=totals, crm_calls=run.crm_calls)
