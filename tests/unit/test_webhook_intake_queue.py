"""The SQS queue adapter: batching rules, and how it treats SendMessageBatch's partial failures and errors (replayed
with botocore's Stubber, since moto never fails single entries; sending for real is covered against moto by the
handler's integration tests)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from leadbridge.store.queue import (
    SEND_BATCH_MAX_BYTES,
    MessageTooLarge,
    QueueMessage,
    QueueUnavailable,
    SqsQueue,
    batches,
)


def test_batches_hold_at_most_ten_messages_in_order() -> None:
    messages = [QueueMessage(body=f"m{i}") for i in range(25)]

    grouped = batches(messages)

    assert [len(g) for g in grouped] == [10, 10, 5]
    assert [m.body for g in grouped for m in g] == [f"m{i}" for i in range(25)]


def test_batches_stay_under_the_request_size_limit() -> None:
    big = QueueMessage(body="x" * (SEND_BATCH_MAX_BYTES // 3), attributes={"tenant": "t"})

    grouped = batches([big] * 7)

    assert [len(g) for g in grouped] == [2, 2, 2, 1]
    assert all(sum(m.size() for m in g) <= SEND_BATCH_MAX_BYTES for g in grouped)


def test_attributes_count_towards_the_size() -> None:
    assert QueueMessage(body="ab", attributes={"crm": "superoffice"}).size() == 2 + 3 + 6 + 11


def test_a_message_over_the_limit_is_refused_before_sending() -> None:
    with pytest.raises(MessageTooLarge):
        batches([QueueMessage(body="x" * (SEND_BATCH_MAX_BYTES + 1))])


def test_no_messages_no_batches() -> None:
    assert batches([]) == []


# --- SendMessageBatch answers (shapes from the SQS API reference), through botocore's Stubber ------------------------

URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/leadbridge-test-webhook"


def _stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def _ok(*ids: str) -> dict[str, Any]:
    return {"Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "0" * 32} for i in ids], "Failed": []}


def test_entries_sqs_failed_transiently_are_sent_again_and_only_they() -> None:
    client, stub = _stubbed()
    first = _ok("0", "2")
    first["Failed"] = [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]
    stub.add_response("send_message_batch", first)
    stub.add_response(
        "send_message_batch",
        _ok("1"),
        expected_params={
            "QueueUrl": URL,
            "Entries": [{"Id": "1", "MessageBody": "b1", "MessageAttributes": {}}],
        },
    )
    with stub:
        SqsQueue(URL, client).send_all([QueueMessage(body=f"b{i}") for i in range(3)])
        stub.assert_no_pending_responses()


def test_entries_still_failing_after_the_retry_raise_queue_unavailable() -> None:
    client, stub = _stubbed()
    failed = {"Successful": [], "Failed": [{"Id": "0", "SenderFault": False, "Code": "ServiceUnavailable"}]}
    stub.add_response("send_message_batch", failed)
    stub.add_response("send_message_batch", failed)
    with stub, pytest.raises(QueueUnavailable) as raised:
        SqsQueue(URL, client).send_all([QueueMessage(body="b0")])
    assert raised.value.details == {"aws_error": "ServiceUnavailable", "failed": 1}


def test_throttled_call_is_retried_then_reported() -> None:
    client, stub = _stubbed()
    stub.add_client_error("send_message_batch", service_error_code="RequestThrottled", http_status_code=403)
    stub.add_client_error("send_message_batch", service_error_code="RequestThrottled", http_status_code=403)
    with stub, pytest.raises(QueueUnavailable) as raised:
        SqsQueue(URL, client).send_all([QueueMessage(body="b0")])
    assert raised.value.code == "queue_unavailable"
    assert raised.value.details["aws_error"] == "RequestThrottled"


def test_missing_queue_is_not_retried() -> None:
    client, stub = _stubbed()
    stub.add_client_error(
        "send_message_batch", service_error_code="AWS.SimpleQueueService.NonExistentQueue", http_status_code=400
    )
    with stub, pytest.raises(QueueUnavailable):
        SqsQueue(URL, client).send_all([QueueMessage(body="b0")])
    stub.assert_no_pending_responses()


def test_no_queue_url_configured_is_a_clear_error() -> None:
    with pytest.raises(QueueUnavailable, match="No queue URL configured"):
        SqsQueue("")
