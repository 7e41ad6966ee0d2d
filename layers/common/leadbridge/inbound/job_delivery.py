"""One SQS delivery of a sync job to the worker: reading it, running it, and the dead-letter bookkeeping.

A job that cannot be read, or fails retryably, is raised so the queue delivers it again; the delivery that reaches
the queue's maxReceiveCount is the last one (the queue then moves the job to its dead-letter queue), and every failure
says whether it was that one (`dead_lettered`). The handler (functions/scheduled_sync/worker.py) only turns SQS
records into `JobDelivery`s and outcomes into logs and metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from leadbridge.config import SyncWorkerSettings
from leadbridge.inbound.worker import JobResult, RunJob, WorkerConfig, WorkerServices, process_job
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger


@dataclass(frozen=True)
class JobDelivery:
    """Where a message is in its queue life: `attempt` is SQS's receive count (1 on the first delivery)."""

    message_id: str
    body: str
    attempt: int = 1
    max_attempts: int = 5  # the queue's maxReceiveCount

    @property
    def dead_lettered(self) -> bool:
        """Failing this delivery moves the job to the dead-letter queue."""
        return self.attempt >= self.max_attempts


class UnreadableJob(Exception):
    """The message is not a sync job. Raised (not dropped) so it ends in the dead-letter queue for inspection."""

    def __init__(self, delivery: JobDelivery, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"unreadable sync job {delivery.message_id}")
        self.delivery = delivery
        self.errors = errors


def worker_config(settings: SyncWorkerSettings) -> WorkerConfig:
    return WorkerConfig(
        request_budget=settings.request_budget,
        overlap=timedelta(seconds=settings.overlap_seconds),
        max_attempts=settings.max_receive_count,
    )


def read_job(delivery: JobDelivery) -> RunJob:
    try:
        return RunJob.model_validate_json(delivery.body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)[:5]  # the input may carry a token: left out
        raise UnreadableJob(delivery, [dict(error) for error in errors]) from exc


def unreadable_job_entry(delivery: JobDelivery, exc: UnreadableJob, *, queue: str) -> SyncLogEntry | None:
    """The sync log entry of an unreadable job on its last delivery (the queue then dead-letters it), when the
    message still names its tenant and CRM; None when it does not: then only an operator log line and a metric can
    say so (the handler's `dead-lettered sync job without a readable tenant`)."""
    try:
        body = json.loads(delivery.body)
    except ValueError:
        return None
    tenant = body.get("tenant_id") if isinstance(body, dict) else None
    crm = body.get("crm") if isinstance(body, dict) else None
    if not (isinstance(tenant, str) and tenant and isinstance(crm, str) and crm):
        return None
    wrong = ", ".join(".".join(str(part) for part in error.get("loc", ())) or "body" for error in exc.errors)
    return SyncLogEntry(
        tenant=tenant,
        crm=crm,
        direction=Direction.FROM_CRM,
        trigger=Trigger.MANUAL if body.get("trigger") == "manual" else Trigger.SCHEDULE,
        action=Action.SYNC_RUN,
        outcome=Outcome.FAILED,
        error=LogError(
            code="unreadable_job",
            message=f"A sync job could not be read ({wrong or 'invalid'}) and was moved to the dead-letter queue.",
            hint=f"Nothing was synced by this job; the next scheduled run syncs as usual. Report message "
            f"{delivery.message_id} of {queue} to support if this repeats.",
        ),
        run_id=body.get("run_id") if isinstance(body.get("run_id"), str) else None,
        details={"queue": queue, "message_id": delivery.message_id, "attempt": delivery.attempt},
    )


def job_facts(job: RunJob, delivery: JobDelivery) -> dict[str, Any]:
    """The ids every log line about this delivery carries."""
    return {
        "message_id": delivery.message_id,
        "tenant_id": job.tenant_id,
        "crm": job.crm,
        "run_id": job.effective_run_id,
        "trigger": job.trigger,
        "continuation": job.continuation,
        "attempt": delivery.attempt,
    }


def run_job(
    services: WorkerServices,
    job: RunJob,
    delivery: JobDelivery,
    *,
    config: WorkerConfig,
    remaining_ms: Callable[[], int],
) -> JobResult:
    """Run the read job. Raises on a retryable failure, so the queue delivers it again (see `process_job`)."""
    return process_job(
        services,
        job,
        remaining_ms=remaining_ms,
        attempt=delivery.attempt,
        config=config,
        correlation_id=job.effective_run_id,
    )
