"""The queue pump delivers SQS batches like Lambda's event source mapping (tests/fixtures/stack consumer), and the
local runtime enforces each function's Timeout as Lambda does.

The consumer records every delivery in a DynamoDB table and fails/raises when a message body asks it to.
"""

from __future__ import annotations

import contextvars
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import httpx
import pytest

from local import lambda_runtime
from local.lambda_runtime import Deadline, InvocationAbandoned
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


# --- the function's Timeout, enforced as Lambda does ------------------------------------------------------------------


def test_the_remaining_time_counts_down_from_the_functions_timeout(jobs: LocalStack) -> None:
    send(jobs, "timed")
    jobs.pump.poll_once("ConsumerFunction")  # the fixture template's Timeout: 10 s
    with jobs.runtime.timeout("ConsumerFunction", 4):
        send(jobs, "shorter")
        jobs.pump.poll_once("ConsumerFunction")

    assert 0 < int(seen(jobs, "timed")["remaining_ms"]) <= 10_000
    assert 0 < int(seen(jobs, "shorter")["remaining_ms"]) <= 4_000


def test_an_invocation_past_its_timeout_is_abandoned_its_message_redelivered_and_it_writes_no_more(
    jobs: LocalStack,
) -> None:
    message = send(jobs, "sleepy", "slow")
    before = len(jobs.runtime.abandoned)

    with jobs.runtime.timeout("ConsumerFunction", 1):
        first = jobs.pump.poll_once("ConsumerFunction")

    # The caller (the event source mapping) got Lambda's timeout error: the message is not deleted.
    assert first.error == "Sandbox.Timedout: Task timed out after 1.00 seconds"
    assert first.failed == [message] and first.deleted == []
    [abandoned] = jobs.runtime.abandoned[before:]
    assert abandoned.function_id == "ConsumerFunction"
    # The abandoned code runs on until its next AWS call, which is refused: it writes nothing after its deadline.
    wait_until(lambda: not abandoned.thread.is_alive(), what="the abandoned invocation to stop at its next AWS call")
    assert abandoned.deadline.stopped == ["dynamodb.UpdateItem"]
    writes = int(seen(jobs, "work#sleepy").get("writes", 0))

    second = jobs.pump.poll_once("ConsumerFunction")  # visible again (visibility timeout 0 in the fixture stack)

    assert second.received == [message] and second.deleted == [message]
    record = json.loads(seen(jobs, "sleepy")["last_record"])
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert int(seen(jobs, "work#sleepy").get("writes", 0)) == writes
    assert messages_in(jobs, "JobsQueue") == 0



def test_past_its_deadline_an_invocation_makes_no_aws_or_http_call_from_its_pool_threads_either(
    jobs: LocalStack,
) -> None:
    deadline = Deadline("SomeFunction", "request-1", at=time.monotonic() - 1)  # an invocation past its end

    def invocation_code() -> None:
        lambda_runtime._deadline.set(deadline)  # what FunctionRuntime.invoke sets on the invocation's thread
        with ThreadPoolExecutor(max_workers=1) as pool:  # e.g. the worker's read-ahead
            call = pool.submit(boto3.client("sqs").list_queues)
            with pytest.raises(InvocationAbandoned):
                call.result()
        with pytest.raises(InvocationAbandoned), httpx.Client() as client:
            client.get(f"{jobs.gateway_url}/swagger")  # e.g. a CRM call

    contextvars.copy_context().run(invocation_code)

    assert deadline.stopped == ["sqs.ListQueues", "HTTP GET 127.0.0.1/swagger"]
    boto3.client("sqs").list_queues()  # outside an invocation nothing is refused
