"""The stream pump delivers a table's DynamoDB stream like Lambda's event source mapping (tests/fixtures/stack
StreamConsumerFunction over NotesTable): filtered, in batches, again from a reported failure, whole again after a
crash, and to the OnFailure queue once the retries are spent. ChangeEventsRelayFunction depends on each of these.

The consumer counts its deliveries of each `NOTE#` item in SeenTable; an item's `behaviour` makes it fail or raise
until its `until`-th delivery.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.stack import LocalStack
from tests.support.app_bus import drain

CONSUMER = "StreamConsumerFunction"


@pytest.fixture
def notes(fixture_stack: LocalStack) -> LocalStack:
    fixture_stack.reset_aws()  # a new table, so a new stream: the pump follows it
    return fixture_stack


def put(stack: LocalStack, name: str, behaviour: str = "ok", until: int = 1000) -> None:
    boto3.client("dynamodb").put_item(
        TableName=stack.resources.refs["NotesTable"],
        Item={"id": {"S": name}, "behaviour": {"S": behaviour}, "until": {"N": str(until)}},
    )


def deliveries(stack: LocalStack, name: str) -> int:
    table = boto3.resource("dynamodb").Table(stack.resources.refs["SeenTable"])
    return int(table.get_item(Key={"id": f"stream#{name}"}).get("Item", {}).get("deliveries", 0))


def last_record(stack: LocalStack, name: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(stack.resources.refs["SeenTable"])
    return dict(json.loads(table.get_item(Key={"id": f"stream#{name}"})["Item"]["last_record"]))


def test_records_the_filter_passes_arrive_in_batches_in_order_and_once(notes: LocalStack) -> None:
    for name in ("NOTE#a", "NOTE#b", "OTHER#x", "NOTE#c", "NOTE#d"):
        put(notes, name)
    put(notes, "NOTE#a")  # a MODIFY: the filter takes INSERTs only

    outcomes = notes.streams.catch_up(CONSUMER)

    assert [o.delivered for o in outcomes if o.delivered] == [3, 1]  # BatchSize 3
    assert sum(o.dropped for o in outcomes) == 2
    assert [deliveries(notes, n) for n in ("NOTE#a", "NOTE#b", "NOTE#c", "NOTE#d", "OTHER#x")] == [1, 1, 1, 1, 0]
    record = last_record(notes, "NOTE#d")
    stream_arn = boto3.client("dynamodb").describe_table(TableName=notes.resources.refs["NotesTable"])["Table"][
        "LatestStreamArn"
    ]
    assert (record["eventSource"], record["eventName"], record["eventSourceARN"]) == (
        "aws:dynamodb", "INSERT", stream_arn
    )
    assert record["dynamodb"]["NewImage"]["id"] == {"S": "NOTE#d"} and record["dynamodb"]["SequenceNumber"]
    assert notes.streams.catch_up(CONSUMER)[0].delivered == 0  # nothing new


def test_a_reported_failure_is_delivered_again_with_the_records_after_it(notes: LocalStack) -> None:
    put(notes, "NOTE#a")
    put(notes, "NOTE#b", "fail", until=2)
    put(notes, "NOTE#c")

    first = notes.streams.poll_once(CONSUMER)
    second = notes.streams.poll_once(CONSUMER)

    assert (first.delivered, first.failed, second.delivered, second.failed) == (1, 2, 2, 0)
    assert [deliveries(notes, n) for n in ("NOTE#a", "NOTE#b", "NOTE#c")] == [1, 2, 2]


def test_a_crash_delivers_the_whole_batch_again(notes: LocalStack) -> None:
    put(notes, "NOTE#a")
    put(notes, "NOTE#r", "raise", until=2)

    crashed = notes.streams.poll_once(CONSUMER)
    notes.streams.catch_up(CONSUMER)

    assert crashed.error is not None and "stream consumer crashed" in crashed.error
    assert [deliveries(notes, n) for n in ("NOTE#a", "NOTE#r")] == [2, 2]


def test_once_the_retries_are_spent_the_batch_is_described_on_the_failure_queue_and_the_stream_moves_on(
    notes: LocalStack,
) -> None:
    put(notes, "NOTE#stuck", "fail")  # never succeeds

    attempts = [notes.streams.poll_once(CONSUMER) for _ in range(3)]  # the first delivery and MaximumRetryAttempts 2
    put(notes, "NOTE#next")
    notes.streams.catch_up(CONSUMER)

    assert [a.dead_lettered for a in attempts] == [0, 0, 1]
    assert deliveries(notes, "NOTE#stuck") == 3 and deliveries(notes, "NOTE#next") == 1
    [failure] = drain(notes.resources.queue_urls["NotesFailures"])
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["startSequenceNumber"] == last_record(notes, "NOTE#stuck")["dynamodb"]["SequenceNumber"]


def test_records_written_after_a_reset_the_pump_was_not_told_of_still_arrive(
    notes: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(notes, "NOTE#a")
    assert notes.streams.catch_up(CONSUMER)[0].delivered == 1  # the pump now reads on from a kept iterator
    monkeypatch.setattr(notes.streams, "forget_streams", lambda: None)  # as when moto is reset behind its back
    notes.reset_aws()
    put(notes, "NOTE#b")

    outcomes = notes.streams.catch_up(CONSUMER)

    assert sum(o.delivered for o in outcomes) == 1 and not any(o.failed for o in outcomes)
    assert deliveries(notes, "NOTE#b") == 1
