"""Batching rules of the SQS queue adapter (the SQS calls themselves are tested against moto in integration)."""

from __future__ import annotations

import pytest

from leadbridge.store.queue import SEND_BATCH_MAX_BYTES, MessageTooLarge, QueueMessage, batches


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
