"""WebhookProcessorFunction: applies the CRM events the intake queued (SQS WebhookQueue, partial batch responses).

Each record is handed to `leadbridge.inbound.webhook_processing.process_event`; a record that raises is reported in
`batchItemFailures`, so only it returns to the queue (and, after the queue's last attempt, goes to the dead-letter
queue). Connectors and settings are built once per batch: a batch often holds several events of one tenant.

Before that, the batch is ordered (`order_batch`: per record by when it happened, creations first) and the records
its events name are read once for the whole batch (`BatchReads`: one `get_many` per object where the connector
reads many, HubSpot's batch read), so a delivery of ten events about one record costs one CRM read, not ten.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadbridge import runtime
from leadbridge.config import webhook_processor_settings
from leadbridge.inbound.webhook_intake import QueuedWebhook
from leadbridge.inbound.webhook_processing import (
    BatchReads,
    Delivery,
    ProcessedEvent,
    RetryLater,
    UnreadableMessage,
    WebhookProcessingServices,
    log_unreadable,
    prepare_batch,
    process_event,
    read_message,
)
from leadbridge.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)
# Keep a safety margin so a claim's lease ends before Lambda would stop this invocation.
_LEASE_MARGIN = timedelta(seconds=2)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    services = runtime.webhook_processing_services()
    max_attempts = webhook_processor_settings().max_receive_count
    lease = max(timedelta(milliseconds=context.get_remaining_time_in_millis()) - _LEASE_MARGIN, timedelta(seconds=5))

    reads = BatchReads(services)
    event, messages = _ordered(event, reads)

    def handle(record: SQSRecord) -> ProcessedEvent:
        delivery = Delivery(
            attempt=int(record.attributes.approximate_receive_count or 1), max_attempts=max_attempts, lease=lease
        )
        return _handle(services, record, delivery, reads, messages.get(record.message_id))

    response = process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
    metrics.add_metric(name="WebhookCrmReads", unit=MetricUnit.Count, value=reads.reads)
    return response


def _ordered(event: dict[str, Any], reads: BatchReads) -> tuple[dict[str, Any], dict[str, QueuedWebhook]]:
    """The batch in processing order with its records read ahead (`prepare_batch`), and each readable message by its
    SQS message id, so `_handle` does not read the body again."""
    records = list(event.get("Records") or [])
    order, parsed = prepare_batch([str(r.get("body", "")) for r in records], reads)
    by_id = {str(r.get("messageId")): m for r, m in zip(records, parsed, strict=True) if m is not None}
    return {**event, "Records": [records[i] for i in order]}, by_id


def _handle(
    services: WebhookProcessingServices,
    record: SQSRecord,
    delivery: Delivery,
    reads: BatchReads,
    message: QueuedWebhook | None = None,
) -> ProcessedEvent:
    """`message`: the body as the batch's preparation read it (None: read here, and reported when unreadable)."""
    try:
        message = message or read_message(record.body)
    except UnreadableMessage as exc:
        metrics.add_metric(name="WebhookUnreadable", unit=MetricUnit.Count, value=1)
        logger.error(
            "unreadable webhook message",
            extra={"message_id": record.message_id, "reason": exc.message, "tenant_id": exc.tenant,
                   "attempt": delivery.attempt, "dead_lettered": delivery.last},
        )
        log_unreadable(services.log, exc, delivery)
        raise
    facts = {
        "message_id": record.message_id,
        "tenant_id": message.tenant_id,
        "crm": message.crm,
        "event": message.event.event,
        "event_id": message.event.event_id,
        "attempt": delivery.attempt,
    }
    try:
        result = process_event(services, message, delivery, reads)
    except RetryLater as exc:
        metrics.add_metric(name="WebhookRetry", unit=MetricUnit.Count, value=1)
        logger.warning("webhook event will be retried", extra={**facts, "code": exc.code, "reason": exc.message,
                                                               "dead_lettered": delivery.last})
        raise
    except Exception:
        metrics.add_metric(name="WebhookProcessingError", unit=MetricUnit.Count, value=1)
        logger.exception("webhook event processing failed", extra={**facts, "dead_lettered": delivery.last})
        raise
    metrics.add_metric(name=f"WebhookEvent{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info("webhook event processed", extra={**facts, "outcome": result.outcome.value,
                                                  "applied": result.applied, "reason": result.reason,
                                                  "published": result.published})
    return result
