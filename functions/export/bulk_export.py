"""BulkExportFunction: the jobs of ExportQueue (`POST /exports` and its continuations), one per invocation.

Each job exports one slice of a run's leads within the Lambda's remaining time and queues the next slice itself
(`leadbridge.export.bulk`). A job that fails is retried by the queue from the run's next lead; its last delivery
(ExportQueue's maxReceiveCount, 5) marks the run failed before the job goes to ExportDLQ. An unreadable job is
dropped with an error log: it names no run that could carry on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, ValidationError

from leadbridge import runtime
from leadbridge.config import load_function_settings
from leadbridge.export.bulk import BulkExportConfig, BulkExportJob, fail_bulk_job, process_bulk_job
from leadbridge.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
MAX_RECEIVE_COUNT = 5  # ExportQueue's RedrivePolicy


class BulkExportSettings(BaseModel):
    """BulkExportFunction's variables (all optional)."""

    # Leads per invocation; the next slice is a continuation message.
    slice_size: int = Field(default=200, ge=1, le=1000, alias="BULK_EXPORT_SLICE_SIZE")
    # Lambda time (ms) kept in reserve: no lead is started with less left (or twice the slowest lead so far).
    reserve_ms: int = Field(default=15_000, ge=0, alias="BULK_EXPORT_RESERVE_MS")


def _config() -> BulkExportConfig:
    # Read per invocation (cheap): tests of the local stack set them in the shared process environment.
    read = load_function_settings(BulkExportSettings)
    return BulkExportConfig(slice_size=read.slice_size, reserve_ms=read.reserve_ms)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    def handle(record: SQSRecord) -> None:
        try:
            job = BulkExportJob.model_validate_json(record.body)
        except ValidationError as exc:
            unreadable = {"message_id": record.message_id, "errors": exc.errors(include_input=False)}
            logger.error("unreadable bulk export job dropped", extra=unreadable)
            metrics.add_metric(name="BulkExportJobUnreadable", unit=MetricUnit.Count, value=1)
            return
        logger.append_keys(run_id=job.run_id, tenant_id=job.tenant_id)
        services = runtime.bulk_export_services()
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            run = process_bulk_job(services, job, remaining_ms=context.get_remaining_time_in_millis, config=_config())
        except Exception as exc:
            metrics.add_metric(name="BulkExportJobFailed", unit=MetricUnit.Count, value=1)
            logger.exception("bulk export job failed; the queue retries it",
                             extra={"attempt": attempt, "error": type(exc).__name__})  # fmt: skip
            if attempt >= MAX_RECEIVE_COUNT:
                fail_bulk_job(services, job, type(exc).__name__)
            raise
        if run is not None and run.export is not None:
            totals = run.export.totals
            # `totals` nested: "created" is a LogRecord attribute.
            facts = {"state": run.state.value, "next_index": run.export.next_index, "totals": totals.model_dump()}
            logger.info("bulk export slice done", extra=facts)
            if run.state.finished:
                metrics.add_metric(name="BulkExportLeads", unit=MetricUnit.Count, value=totals.done)
                metrics.add_metric(name="BulkExportLeadsFailed", unit=MetricUnit.Count, value=totals.failed)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
