"""SyncWorkerFunction: runs the sync jobs of the SyncQueue (dispatcher schedules, manual runs, continuations).

One job per invocation (BatchSize 1: a run may use the whole Lambda time), reported through partial batch responses.
Reading a job, running it and the dead-letter bookkeeping are `leadbridge.inbound.job_delivery`'s; this handler turns
SQS records into deliveries and outcomes into logs and metrics. Its variables (`SYNC_REQUEST_BUDGET`,
`SYNC_OVERLAP_SECONDS`, `SYNC_MAX_RECEIVE_COUNT`) are read once into `leadbridge.config.SyncWorkerSettings`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadbridge import collector, runtime
from leadbridge.inbound.job_delivery import (
    JobDelivery,
    UnreadableJob,
    job_facts,
    read_job,
    run_job,
    unreadable_job_entry,
)
from leadbridge.inbound.worker import JobResult
from leadbridge.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
# Last at init: a run applies thousands of records, and the collector's defaults cost it over a second per 20,000.
collector.settle_after_init()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    config = runtime.worker_config()

    def handle(record: SQSRecord) -> JobResult:
        delivery = JobDelivery(
            message_id=record.message_id,
            body=record.body,
            attempt=int(record.attributes.approximate_receive_count or 1),
            max_attempts=config.max_attempts,
        )
        try:
            job = read_job(delivery)
        except UnreadableJob as exc:
            queue = _queue_name(record)
            metrics.add_metric(name="SyncJobUnreadable", unit=MetricUnit.Count, value=1)
            logger.error(
                "unreadable sync job",
                extra={
                    "queue": queue,
                    "message_id": delivery.message_id,
                    "attempt": delivery.attempt,
                    "dead_lettered": delivery.dead_lettered,
                    "errors": exc.errors,
                },
            )
            if delivery.dead_lettered:
                _report_dead_letter(delivery, exc, queue)
            raise
        facts = job_facts(job, delivery)
        logger.append_keys(run_id=job.effective_run_id, tenant_id=job.tenant_id)
        try:
            result = run_job(
                runtime.worker_services(), job, delivery, config=config,
                remaining_ms=context.get_remaining_time_in_millis,
            )  # fmt: skip
        except Exception as exc:
            metrics.add_metric(name="SyncJobFailed", unit=MetricUnit.Count, value=1)
            logger.exception(
                "sync job failed; the queue retries it",
                extra={**facts, "error": type(exc).__name__, "dead_lettered": delivery.dead_lettered},
            )
            raise
        metrics.add_metric(name="SyncJobsProcessed", unit=MetricUnit.Count, value=1)
        if result.records is not None:  # this invocation ended the run: its totals, once per run
            metrics.add_metric(name="SyncRecordsCreated", unit=MetricUnit.Count, value=result.records.created)
            metrics.add_metric(name="SyncRecordsUpdated", unit=MetricUnit.Count, value=result.records.updated)
            metrics.add_metric(name="SyncRecordsDeleted", unit=MetricUnit.Count, value=result.records.deleted)
            metrics.add_metric(name="SyncRecordsFailed", unit=MetricUnit.Count, value=result.records.failed)
            metrics.add_metric(name="SyncCrmCalls", unit=MetricUnit.Count, value=result.crm_calls or 0)
        logger.info("sync job done", extra={**facts, **result.model_dump(mode="json")})
        return result

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


def _queue_name(record: SQSRecord) -> str:
    """The queue's name from the record's source ARN (`arn:aws:sqs:<region>:<account>:<name>`)."""
    return (record.event_source_arn or "").rsplit(":", 1)[-1] or "unknown"


def _report_dead_letter(delivery: JobDelivery, exc: UnreadableJob, queue: str) -> None:
    """The last delivery of an unreadable job: its tenant's sync log says so when the message names the tenant;
    otherwise nobody's log can, so an operator log line and a metric (dimension `queue`) name the queue and the
    message id."""
    entry = unreadable_job_entry(delivery, exc, queue=queue)
    if entry is not None:
        try:
            runtime.sync_log().write(entry)
            return
        except Exception:  # the operator line below still tells someone
            logger.exception("could not write the dead-lettered job to the sync log", extra={"queue": queue})
    with single_metric(
        name="SyncJobDeadLetteredWithoutTenant", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="queue", value=queue)
    logger.error(
        "dead-lettered sync job without a readable tenant",
        extra={
            "queue": queue,
            "message_id": delivery.message_id,
            "attempt": delivery.attempt,
            "errors": exc.errors,
            "what_to_do": f"inspect message {delivery.message_id} in the dead-letter queue of {queue}; "
            "it never reached a run",
        },
    )
