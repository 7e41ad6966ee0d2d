"""ChangeEventsRelayFunction: puts the changes the change feed appends on the app's bus (the feed is the bus's
outbox: `leadbridge.inbound.change_relay`).

The table's stream delivers the new feed chunks only (the event source's filter in template.yaml); each stream record
is one chunk, handed to `relay_chunk`. A record whose events the bus did not take is reported in `batchItemFailures`
(even when all are: `raise_on_entire_batch_failure` off): Lambda delivers the batch again from it, until it is
delivered or older than the event source's `MaximumRecordAgeInSeconds`, after which Lambda sends the batch's
description to ChangeEventsDLQ. A chunk that cannot be read is logged and counted (`ChangeEventsUnreadable`), not
retried: no retry would read it, and it would hold up the shard behind it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from leadbridge import runtime
from leadbridge.inbound.change_relay import RelayRetry, relay_chunk
from leadbridge.observability import logger, metrics, tracer
from leadbridge.store.changes import appended_chunk

# A bus outage fails every record: still a partial batch response (the records to deliver again), not a function
# error that would make Lambda bisect the batch and raise the errors alarm.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    services = runtime.change_relay_services()

    def handle(record: DynamoDBRecord) -> None:
        try:
            chunk = appended_chunk(record.dynamodb.new_image if record.dynamodb else {})
        except ValueError:  # pydantic's ValidationError too: no retry can read it, and it would hold up the shard
            metrics.add_metric(name="ChangeEventsUnreadable", unit=MetricUnit.Count, value=1)
            logger.exception("unreadable change feed chunk; its changes stay on the feed, not on the bus",
                             extra={"event_id": record.event_id})
            return
        if chunk is None:  # the event source's filter lets only feed chunks through
            logger.warning("not a change feed chunk", extra={"event_id": record.event_id})
            return
        try:
            delivered = relay_chunk(services, chunk)
        except RelayRetry:
            metrics.add_metric(name="ChangeEventsRetried", unit=MetricUnit.Count, value=1)
            logger.warning("change events not delivered; Lambda retries the chunk",
                           extra={"tenant_id": chunk.tenant, "seq": chunk.seq})
            raise
        metrics.add_metric(name="ChangeEventsRelayed", unit=MetricUnit.Count, value=delivered)  # bus events put

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
