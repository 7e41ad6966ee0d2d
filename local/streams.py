"""Lambda's DynamoDB stream event source mapping, locally: template `DynamoDB` events deliver the table's stream
records from moto to their functions.

Like Lambda: the records pass the event's `FilterCriteria` first (those that match none are dropped, the position
moves past them); a batch holds up to `BatchSize` of the rest, in stream order; a raised error, or an invocation
past the function's Timeout, delivers the same batch again; with `FunctionResponseTypes: [ReportBatchItemFailures]`
the next batch starts at the lowest reported sequence number. A batch retried more than `MaximumRetryAttempts` times
(-1: no limit) or whose first record is older than `MaximumRecordAgeInSeconds` goes, as a description (shard,
sequence numbers), to the `DestinationConfig.OnFailure` queue, and the position moves past it. Not emulated:
`BisectBatchOnFunctionError` (a failing batch is retried whole), `ParallelizationFactor` and parallel shards (one
batch at a time; moto's table has one shard).

`catch_up(function_id)` delivers everything the stream holds now and returns when done: tests call it where, on
AWS, they would wait for the relay, instead of waiting a fixed time.

Polling costs one GetRecords while nothing changes: a read that dealt with every record it got keeps the shard's
`NextShardIterator` for the next poll, and the table's stream and shards are looked up again only when there is no
such iterator (the first poll, after a batch that stopped short or failed, after an error such as a moto reset). An
idle subscription polls 4 times a second, as Lambda polls a stream's shards.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from local.aws import LocalResources, client
from local.lambda_runtime import FunctionRuntime, HandlerNotBuilt
from local.template import SamTemplate, StreamSubscription

log = logging.getLogger("local.streams")

_READ_LIMIT = 1000  # GetRecords' maximum
IDLE_SECONDS = 0.25  # Lambda polls each shard of a stream 4 times a second


def stream_shards(streams: Any, stream_arn: str) -> list[str]:
    """The shard ids of a stream (`streams`: a DynamoDB Streams client)."""
    description = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
    return [shard["ShardId"] for shard in description.get("Shards") or []]


def shard_records(streams: Any, stream_arn: str, shard: str, after: str | None) -> list[dict[str, Any]]:
    """Up to 1,000 records of `shard` after the sequence number `after` (from the shard's start when None)."""
    return shard_read(streams, shard_iterator(streams, stream_arn, shard, after))[0]


def shard_iterator(streams: Any, stream_arn: str, shard: str, after: str | None) -> str:
    """An iterator at the record after the sequence number `after` (the shard's start when None)."""
    where: dict[str, Any] = (
        {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
        if after
        else {"ShardIteratorType": "TRIM_HORIZON"}
    )
    return str(streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, **where)["ShardIterator"])


def shard_read(streams: Any, iterator: str) -> tuple[list[dict[str, Any]], str | None]:
    """Up to 1,000 records from `iterator`, and the iterator after them (None when the shard is closed)."""
    answer = streams.get_records(ShardIterator=iterator, Limit=_READ_LIMIT)
    return list(answer["Records"]), answer.get("NextShardIterator")


@dataclass
class StreamOutcome:
    function_id: str
    delivered: int = 0  # records handed to the function and not failed
    failed: int = 0
    dropped: int = 0  # records no filter matched
    dead_lettered: int = 0
    error: str | None = None


class _StaleIterator(Exception):
    """A kept shard iterator was refused: nothing was read or delivered with it."""


@dataclass
class _Position:
    stream_arn: str
    after: dict[str, str] = field(default_factory=dict)  # shard id -> last sequence number dealt with
    attempts: int = 0  # deliveries of the batch that starts at the position
    shards: list[str] = field(default_factory=list)
    # shard id -> the iterator right after `after[shard]`: kept only when the last read was dealt with to its end
    iterators: dict[str, str] = field(default_factory=dict)


class StreamPump:
    def __init__(self, template: SamTemplate, runtime: FunctionRuntime, resources: LocalResources,
                 *, idle_seconds: float = IDLE_SECONDS) -> None:
        self.runtime = runtime
        self.resources = resources
        self.idle_seconds = idle_seconds
        self.subscriptions = [s for s in template.stream_subscriptions() if s.enabled]
        self._dynamodb = client("dynamodb", resources.endpoint, resources.region)
        self._streams = client("dynamodbstreams", resources.endpoint, resources.region)
        self._sqs = client("sqs", resources.endpoint, resources.region)
        self._positions: dict[str, _Position] = {}
        self._locks = {s.function_id: threading.Lock() for s in self.subscriptions}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def subscription(self, function_id: str) -> StreamSubscription:
        for subscription in self.subscriptions:
            if subscription.function_id == function_id:
                return subscription
        raise KeyError(f"{function_id} has no enabled DynamoDB event in the template")

    def catch_up(self, function_id: str | None = None, *, max_batches: int = 10_000) -> list[StreamOutcome]:
        """Deliver batches until the stream holds nothing new for `function_id` (every subscription by default), or
        until a batch fails (its outcome is the last one returned)."""
        outcomes = []
        for subscription in [self.subscription(function_id)] if function_id else self.subscriptions:
            for _ in range(max_batches):
                outcome = self.poll_once(subscription.function_id)
                outcomes.append(outcome)
                if outcome.failed or outcome.delivered == outcome.dropped == outcome.dead_lettered == 0:
                    break  # caught up, or a failure the next poll retries: the caller sees it instead of a spin
        return outcomes

    def poll_once(self, function_id: str) -> StreamOutcome:
        """One batch for `function_id` from its table's stream."""
        subscription = self.subscription(function_id)
        with self._locks[function_id]:
            try:
                return self._poll(subscription)
            except _StaleIterator:
                # A kept iterator outlives no reset of moto (or the table made again): look the stream up anew.
                self._forget_stream(function_id)
                return self._poll(subscription)

    def forget_streams(self) -> None:
        """Look every table's stream up again at the next poll (the stack's AWS state was reset)."""
        for function_id in self._positions:
            self._forget_stream(function_id)

    def _poll(self, subscription: StreamSubscription) -> StreamOutcome:
        outcome = StreamOutcome(function_id=subscription.function_id)
        position = self._position(subscription)
        for shard in position.shards:
            records, next_iterator = self._read(position, shard)
            if not records:
                if next_iterator:
                    position.iterators[shard] = next_iterator
                continue
            batch: list[dict[str, Any]] = []
            read_up_to = ""  # the last record this batch deals with, dropped ones after it included
            for record in records:
                if subscription.matches(record):
                    if len(batch) == subscription.batch_size:
                        break
                    batch.append(record)
                else:
                    outcome.dropped += 1
                read_up_to = record["dynamodb"]["SequenceNumber"]
            if not batch:
                position.after[shard] = read_up_to
            else:
                self._deliver(subscription, position, shard, batch, outcome, read_up_to)
            if next_iterator and position.after.get(shard) == records[-1]["dynamodb"]["SequenceNumber"]:
                position.iterators[shard] = next_iterator  # all read was dealt with: the next poll reads on from it
            return outcome
        return outcome

    def _deliver(self, subscription: StreamSubscription, position: _Position, shard: str, batch: list[dict[str, Any]],
                 outcome: StreamOutcome, read_up_to: str) -> None:
        event = {"Records": [self._lambda_record(position.stream_arn, r) for r in batch]}
        invocation = self.runtime.invoke(subscription.function_id, event)
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in batch]
        failed_from: int | None
        if not invocation.ok:
            failed_from = 0
            outcome.error = invocation.error
        else:
            failed_from = self._first_failure(subscription, invocation.result, sequence_numbers)
        if failed_from is None:
            position.after[shard] = read_up_to
            position.attempts = 0
            outcome.delivered = len(batch)
            return
        outcome.delivered = failed_from
        outcome.failed = len(batch) - failed_from
        if failed_from:
            position.after[shard] = sequence_numbers[failed_from - 1]
            position.attempts = 1
        else:
            position.attempts += 1
        failing = batch[failed_from:]
        if self._gives_up(subscription, position, failing[0]):
            self._dead_letter(subscription, position, shard, failing, outcome)
            position.after[shard] = sequence_numbers[-1]
            position.attempts = 0
            outcome.dead_lettered = len(failing)
        log.info("%s: %d of %d stream records failed (attempt %d; error: %s)", subscription.function_id,
                 outcome.failed, len(batch), position.attempts, outcome.error or "reported")

    @staticmethod
    def _first_failure(subscription: StreamSubscription, result: Any, sequence_numbers: list[str]) -> int | None:
        """Index of the first record to deliver again, or None when the batch succeeded."""
        if not subscription.report_batch_item_failures:
            return None
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return None
        identifiers = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(i not in sequence_numbers for i in identifiers):
            log.warning("%s reported unknown itemIdentifiers %s; the whole batch fails", subscription.function_id,
                        identifiers)
            return 0
        return min(sequence_numbers.index(str(i)) for i in identifiers)

    @staticmethod
    def _gives_up(subscription: StreamSubscription, position: _Position, first: dict[str, Any]) -> bool:
        retries = position.attempts - 1
        if subscription.max_retry_attempts >= 0 and retries >= subscription.max_retry_attempts:
            return True
        created = first["dynamodb"].get("ApproximateCreationDateTime")
        age = time.time() - (created.timestamp() if isinstance(created, datetime) else float(created or time.time()))
        return subscription.max_record_age_seconds >= 0 and age > subscription.max_record_age_seconds

    def _dead_letter(self, subscription: StreamSubscription, position: _Position, shard: str,
                     failing: list[dict[str, Any]], outcome: StreamOutcome) -> None:
        if subscription.on_failure_queue_logical_id is None:
            log.error("%s: dropping %d stream records after %d attempts (no OnFailure destination)",
                      subscription.function_id, len(failing), position.attempts)
            return
        # What Lambda sends an OnFailure destination for a stream: the batch's place, not its records.
        description = {
            "requestContext": {"functionArn": subscription.function_id, "condition": "RetryAttemptsExhausted",
                               "approximateInvokeCount": position.attempts},
            "responseContext": {"functionError": outcome.error or "reported failures"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": failing[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": failing[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(failing),
                "streamArn": position.stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self.resources.queue_urls[subscription.on_failure_queue_logical_id],
                               MessageBody=json.dumps(description))

    # ------------------------------------------------------------------------------------------ the stream

    def _position(self, subscription: StreamSubscription) -> _Position:
        known = self._positions.get(subscription.function_id)
        if known is not None and known.shards and len(known.iterators) == len(known.shards):
            return known  # every shard reads on from a kept iterator: nothing to look up
        table = self.resources.refs[subscription.table_logical_id]
        arn = self._dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        if known is None or known.stream_arn != arn:  # first use, or the table was made again (a reset)
            known = self._positions[subscription.function_id] = _Position(stream_arn=arn)
        known.shards = stream_shards(self._streams, arn)
        return known

    def _forget_stream(self, function_id: str) -> None:
        known = self._positions.get(function_id)
        if known is not None:
            known.shards, known.iterators = [], {}

    def _read(self, position: _Position, shard: str) -> tuple[list[dict[str, Any]], str | None]:
        # An iterator is used once: the read's own next iterator is kept again only if all it read is dealt with.
        iterator = position.iterators.pop(shard, None)
        if iterator is None:
            # StartingPosition TRIM_HORIZON when nothing was read yet (the template's subscriptions take no other)
            iterator = shard_iterator(self._streams, position.stream_arn, shard, position.after.get(shard))
            return shard_read(self._streams, iterator)
        try:
            return shard_read(self._streams, iterator)
        except ClientError as exc:
            raise _StaleIterator from exc

    def _lambda_record(self, stream_arn: str, record: dict[str, Any]) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = created.timestamp()
        return {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self.resources.region,
            "dynamodb": dynamodb,
            "eventSourceARN": stream_arn,
        }

    # ------------------------------------------------------------------------------------------ background

    def start(self) -> None:
        for subscription in self.subscriptions:
            thread = threading.Thread(target=self._run, args=(subscription,), daemon=True,
                                      name=f"stream-{subscription.function_id}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def _run(self, subscription: StreamSubscription) -> None:
        while not self._stop.is_set():
            try:
                self.runtime.handler(subscription.function_id)
                outcome = self.poll_once(subscription.function_id)
            except HandlerNotBuilt:
                self._stop.wait(2)  # records wait in the stream, as they would for a function not deployed
                continue
            except Exception:
                if self._stop.is_set():
                    break
                log.debug("stream pump for %s: stream not readable now (a reset?); retrying",
                          subscription.function_id, exc_info=True)
                self._stop.wait(0.5)
                continue
            if outcome.delivered == outcome.dropped == 0 or outcome.failed:
                self._stop.wait(self.idle_seconds)
