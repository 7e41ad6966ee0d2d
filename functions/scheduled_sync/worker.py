"""SyncWorkerFunction: runs the sync jobs of the SyncQueue (dispatcher schedules, manual runs, continuations).

One job per invocation (BatchSize 1: a run may use the whole Lambda time), reported through partial batch responses.
A job that cannot be read, or fails retryably, is reported failed and returns to the queue; after the queue's
`maxReceiveCount` it lands in the dead-letter queue, and every failure is logged with the job's ids.

Environment (optional): `SYNC_REQUEST_BUDGET` (CRM requests per run; default per CRM), `SYNC_OVERLAP_SECONDS`
(checkpoint overlap, default 300), `SYNC_MAX_RECEIVE_COUNT` (the queue's maxReceiveCount, default 5).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from leadbridge import runtime
from leadbridge.inbound.worker import JobResult, RunJob, WorkerConfig, process_job
from leadbridge.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


def _config() -> WorkerConfig:
    budget = os.environ.get("SYNC_REQUEST_BUDGET")
    return WorkerConfig(
        request_budget=int(budget) if budget else None,
        overlap=timedelta(seconds=int(os.environ.get("SYNC_OVERLAP_SECONDS") or 300)),
        max_attempts=int(os.environ.get("SYNC_MAX_RECEIVE_COUNT") or 5),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = _config()

    def handle(record: SQSRecord) -> JobResult:
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            job = RunJob.model_validate_json(record.body)
        except ValidationError as exc:
            metrics.add_metric(name="SyncJobUnreadable", unit=MetricUnit.Count, value=1)
            logger.error(
                "unreadable sync job",
                extra={
                    "message_id": record.message_id,
                    "attempt": attempt,
                    "dead_lettered": attempt >= config.max_attempts,
                    "errors": exc.errors(include_url=False, include_input=False)[:5],
                },
            )
            raise
        facts = {
            "message_id": record.message_id,
            "tenant_id": job.tenant_id,
            "crm": job.crm,
            "run_id": job.effective_run_id,
            "trigger": job.trigger,
            "continuation": job.continuation,
            "attempt": attempt,
        }
        logger.append_keys(run_id=job.effective_run_id, tenant_id=job.tenant_id)
        try:
            result = process_job(
                runtime.worker_services(),
                job,
                remaining_ms=context.get_remaining_time_in_millis,
                attempt=attempt,
                config=config,
                correlation_id=job.effective_run_id,
            )
        except Exception as exc:
            metrics.add_metric(name="SyncJobFailed", unit=MetricUnit.Count, value=1)
            logger.exception(
                "sync job failed; the queue retries it",
                extra={**facts, "error": type(exc).__name__, "dead_lettered": attempt >= config.max_attempts},
            )
            raise
        metrics.add_metric(name="SyncJobsProcessed", unit=MetricUnit.Count, value=1)
        logger.info("sync job done", extra={**facts, **result.model_dump(mode="json")})
        return result

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
