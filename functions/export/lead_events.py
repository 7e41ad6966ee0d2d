"""LeadEventsFunction: the lead app's lead events from its EventBridge bus (rule -> LeadEventsQueue -> here).

Each SQS record is one EventBridge event whose `detail` is `{tenant_id, crm?, lead_id, event}` (docs/events.md). The
batch reports partial failures: only records that may succeed later (lead busy, store or CRM hiccup outside the
pending-outbound path, unexpected errors) are retried; after maxReceiveCount they land in LeadEventsDLQ.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from leadbridge import runtime
from leadbridge.errors import ConnectionMissing, CrmRejected, InvalidInput, NeedsReauth
from leadbridge.lifecycle import events as lifecycle
from leadbridge.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    try:
        envelope = json.loads(record.body)
        message = lifecycle.LeadEventMessage.model_validate(
            envelope.get("detail") if isinstance(envelope, dict) else None
        )
        lifecycle.check_event(message.event, message.lead_id)
    except (ValueError, ValidationError, InvalidInput) as exc:
        # A malformed event never becomes valid: acknowledge it instead of retrying it into the DLQ.
        problems = exc.errors() if isinstance(exc, ValidationError) else getattr(exc, "errors", [])
        locs = [".".join(str(p) for p in e.get("loc", [])) for e in problems] if isinstance(problems, list) else []
        logger.warning("invalid lead event dropped", extra={"message_id": record.message_id, "invalid_fields": locs})
        metrics.add_metric(name="LeadEventInvalid", unit="Count", value=1)
        return
    services = runtime.lifecycle_services()
    tenant = message.tenant_id
    logger.append_keys(tenant_id=tenant, lead_id=message.lead_id, event_type=message.event.type.value)
    try:
        crm = message.crm or services.export.active_crm(tenant)
    except (ConnectionMissing, InvalidInput) as exc:
        # No connection, or several and the event does not say which: nothing to apply it to.
        logger.info("lead event ignored: no single CRM connection", extra={"reason": exc.code})
        metrics.add_metric(name="LeadEventNotConnected", unit="Count", value=1)
        return
    try:
        result = lifecycle.handle_event(
            services, tenant, message.event, crm=crm, correlation_id=logger.get_correlation_id()
        )
    except ConnectionMissing:
        logger.info("lead event for a tenant without a CRM connection ignored")
        metrics.add_metric(name="LeadEventNotConnected", unit="Count", value=1)
        return
    except NeedsReauth as exc:
        # Kept until an admin reconnects: the retry run applies it then.
        result = lifecycle.defer(services, tenant, crm, message.event, exc)
    except CrmRejected as exc:
        # Logged in the sync log (entry id in the details) where the app sees it; retrying cannot help.
        logger.warning("lead event rejected by the CRM", extra={"log_entry_id": exc.details.get("log_entry_id")})
        metrics.add_metric(name="LeadEventRejected", unit="Count", value=1)
        return
    logger.info("lead event handled", extra={"outcome": result.outcome.value, "replayed": result.replayed})
    metrics.add_metric(name=f"LeadEvent_{result.outcome.value}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
