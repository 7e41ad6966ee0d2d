"""LeadEventsFunction: the lead app's lead events from its EventBridge bus (rule -> LeadEventsQueue -> here).

Each SQS record is one EventBridge event whose `detail` is `{tenant_id, crm?, lead_id, event}` (docs/events.md). The
batch reports partial failures. Which events are retried and which are dropped is decided by
`leadbridge.lifecycle.event_delivery`; this handler turns records into its calls and its outcomes into logs and
metrics. A retried event lands in LeadEventsDLQ after the queue's maxReceiveCount.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadbridge import runtime
from leadbridge.lifecycle.event_delivery import (
    DeliveryOutcome,
    MalformedLeadEvent,
    deliver_lead_event,
    read_delivered_event,
)
from leadbridge.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    try:
        message = read_delivered_event(record.body)
    except MalformedLeadEvent as exc:
        logger.warning(
            "invalid lead event dropped", extra={"message_id": record.message_id, "invalid_fields": exc.invalid_fields}
        )
        metrics.add_metric(name="LeadEventInvalid", unit="Count", value=1)
        return
    logger.append_keys(tenant_id=message.tenant_id, lead_id=message.lead_id, event_type=message.event.type.value)
    delivery = deliver_lead_event(runtime.lifecycle_services(), message, correlation_id=logger.get_correlation_id())
    if delivery.outcome is DeliveryOutcome.NOT_CONNECTED:
        logger.info("lead event ignored: no single CRM connection", extra={"reason": delivery.reason})
        metrics.add_metric(name="LeadEventNotConnected", unit="Count", value=1)
    elif delivery.outcome is DeliveryOutcome.REJECTED:
        logger.warning("lead event rejected by the CRM", extra={"log_entry_id": delivery.log_entry_id})
        metrics.add_metric(name="LeadEventRejected", unit="Count", value=1)
    elif delivery.result is not None:
        result = delivery.result
        logger.info("lead event handled", extra={"outcome": result.outcome.value, "replayed": result.replayed})
        metrics.add_metric(name=f"LeadEvent_{result.outcome.value}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
