"""What the scheduled-sync worker is asked to do and how: the job it reads from the queue (`RunJob`), its settings
(`WorkerConfig`, including the CRM request budget of a run) and what it answers (`JobResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel

from leadbridge.crm.defaults import request_budget
from leadbridge.inbound.dispatch import SyncJob
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import RunState


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
    reserve_ms: int = 15_000  # stop when less than this plus twice the slowest page remains
    lease_seconds: int = 960  # longer than one worker invocation (900 s) so a live run keeps it
    max_attempts: int = 5  # the queue's maxReceiveCount: the last attempt fails the run for good
    throttle_delay: int = 60  # seconds to wait after a 429 without Retry-After
    outbound_budget: int = 200  # lead events retried per run
    selection_save_every: int = 50

    def budget_for(self, crm: str) -> int:
        """The CRM request budget of one run: the deployment's override, else the CRM's default."""
        return self.request_budget or request_budget(crm)


class JobResult(BaseModel):
    run_id: str | None = None
    state: RunState | None = None
    detail: str = ""
