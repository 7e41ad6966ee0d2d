"""The queue pump delivers SQS batches like Lambda's event source mapping (tests/fixtures/stack consumer).

The consumer records every delivery in a DynamoDB table and fails/raises when a message body asks it to.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.stack import LocalStack
from tests.support.queues import messages_in
from tests.support.waiting import wait_until


@pytest.fixture
def jobs(fixture_stack: LocalStack) -> LocalStack:
    fixture_stack.reset_aws()
    return fixture_stack


def send(stack: LocalStack, name: str, behaviour: str = "ok", **attributes: str) -> str:
    response = boto3.client("sqs").send_message(
        QueueUrl=stack.resources.queue_urls["JobsQueue"],
        MessageBody=json.dumps({"name": name, "behaviour": behaviour}),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    return str(response["MessageId"])


def seen(stack: LocalStack, name: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(stack.resources.refs["SeenTable"])
    return table.get_item(Key={"id": f"msg#{name}"}).get("Item") or {}


def test_successful_batch_is_delivered_as_sqs_records_and_deleted(jobs: LocalStack) -> None:
    first = send(jobs, "a", tenant="t-1")
    send(jobs, "b")
    send(jobs, "c")

    outcome = jobs.pump.poll_once("ConsumerFunction")

    assert sorted(outcome.received) == sorted(outcome.deleted)
    assert len(outcome.received) == 3 and outcome.failed == []
    assert messages_in(jobs, "JobsQueue") == 0
    record = json.loads(seen(jobs, "a")["last_record"])
    assert record["messageId"] == first
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == jobs.resources.queue_arns["JobsQueue"]
    assert record["awsRegion"] == "eu-west-1"
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert "SentTimestamp" in record["attributes"]
    assert record["messageAttributes"]["tenant"] == {
        "stringValue": "t-1", "binaryValue": None, "stringListValues": [], "binaryListValues": [],
        "dataType": "String"}
    assert json.loads(record["body"]) == {"name": "a", "behaviour": "ok"}


def test_reported_failures_are_retried_then_moved_to_the_dlq(jobs: LocalStack) -> None:
    good = send(jobs, "good")
    poison = send(jobs, "poison", "fail")

    first = jobs.pump.poll_once("ConsumerFunction")
    assert first.deleted == [good]
    assert first.failed == [poison]

    # maxReceiveCount is 3 in the fixture template: two more failed deliveries, then the redrive moves it.
    for _ in range(4):
        jobs.pump.poll_once("ConsumerFunction")

    assert int(seen(jobs, "poison")["deliveries"]) == 3
    assert int(seen(jobs, "good")["deliveries"]) == 1
    assert messages_in(jobs, "JobsQueue") == 0
    dead = boto3.client("sqs").receive_message(QueueUrl=jobs.resources.queue_urls["JobsDLQ"])["Messages"]
    assert [m["MessageId"] for m in dead] == [poison]


def test_an_exception_fails_the_whole_batch(jobs: LocalStack) -> None:
    send(jobs, "innocent")
    send(jobs, "crasher", "raise")

    outcome = jobs.pump.poll_once("ConsumerFunction")

    assert outcome.deleted == []
    assert sorted(outcome.failed) == sorted(outcome.received)
    assert outcome.error is not None and "consumer crashed" in outcome.error
    assert messages_in(jobs, "JobsQueue") == 2  # both come back


def test_a_malformed_failure_report_fails_the_whole_batch(jobs: LocalStack) -> None:
    send(jobs, "x")
    send(jobs, "y", "bad-report")

    outcome = jobs.pump.poll_once("ConsumerFunction")

    assert outcome.deleted == [] and len(outcome.failed) == 2


def test_background_pump_drains_the_queue(jobs: LocalStack) -> None:
    send(jobs, "background")
    jobs.pump.start()
    try:
        wait_until(lambda: seen(jobs, "background"), what="the background pump to deliver the message")
    finally:
        jobs.pump.stop()
    assert int(seen(jobs, "background")["deliveries"]) == 1
    assert messages_in(jobs, "JobsQueue") == 0
