"""The local scheduler invokes Schedule events like EventBridge (tests/fixtures/stack tick function)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local.scheduler import Cron, Rate, Scheduler, UnsupportedSchedule, parse_schedule
from local.stack import LocalStack
from tests.support.waiting import wait_until


@pytest.fixture
def ticks(fixture_stack: LocalStack) -> LocalStack:
    fixture_stack.reset_aws()
    return fixture_stack


def tick_item(stack: LocalStack) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(stack.resources.refs["SeenTable"])
    return table.get_item(Key={"id": "tick"}).get("Item") or {}


def test_fire_now_sends_a_scheduled_event(ticks: LocalStack) -> None:
    invocation = ticks.scheduler.fire_now("TickFunction", "EveryMinute")

    assert invocation.ok and invocation.result == {"ok": True}
    event = json.loads(tick_item(ticks)["last_event"])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["version"] == "0"
    assert event["account"] == "123456789012"
    assert event["region"] == "eu-west-1"
    assert event["detail"] == {}
    assert event["resources"] == ["arn:aws:events:eu-west-1:123456789012:rule/leadbridge-local-TickFunctionEveryMinute"]
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")


def test_schedule_input_replaces_the_payload(ticks: LocalStack) -> None:
    ticks.scheduler.fire_now("TickFunction", "WithInput")
    assert json.loads(tick_item(ticks)["last_event"]) == {"kind": "weekday-report"}


def test_missing_handler_is_reported_not_raised(ticks: LocalStack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="local"):
        invocation = ticks.scheduler.fire_now("MissingFunction")
    assert invocation.not_built and not invocation.ok
    assert "tests/fixtures/stack/functions/missing/app.py not built" in caplog.text


def test_background_scheduler_fires_when_the_rate_is_due(ticks: LocalStack) -> None:
    offset = timedelta()
    lock = threading.Lock()

    def clock() -> datetime:
        with lock:
            return datetime.now(UTC) + offset

    scheduler = Scheduler(ticks.template, ticks.runtime, now=clock)
    scheduler.start()
    try:
        assert tick_item(ticks) == {}  # rate(1 minute): nothing before the first minute has passed
        with lock:
            offset = timedelta(seconds=61)
        wait_until(lambda: tick_item(ticks), what="the scheduler to run the tick")
    finally:
        scheduler.stop()
    assert int(tick_item(ticks)["runs"]) >= 1


def test_rate_expressions() -> None:
    assert parse_schedule("rate(1 minute)") == Rate(timedelta(minutes=1))
    assert parse_schedule("rate(15 minutes)") == Rate(timedelta(minutes=15))
    assert parse_schedule("rate(2 hours)") == Rate(timedelta(hours=2))
    assert parse_schedule("rate(1 day)") == Rate(timedelta(days=1))
    for invalid in ("rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "every 5 minutes"):
        with pytest.raises(UnsupportedSchedule):
            parse_schedule(invalid)


def test_cron_expressions_follow_eventbridge_fields() -> None:
    weekdays = parse_schedule("cron(30 6 ? * MON-FRI *)")
    assert isinstance(weekdays, Cron)
    saturday = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert weekdays.next_after(saturday) == datetime(2024, 6, 3, 6, 30, tzinfo=UTC)  # Monday

    nightly = parse_schedule("cron(0 2 * * ? *)")
    assert nightly.next_after(datetime(2024, 6, 1, 2, 0, tzinfo=UTC)) == datetime(2024, 6, 2, 2, 0, tzinfo=UTC)

    every_quarter = parse_schedule("cron(0/15 * * * ? *)")
    assert every_quarter.next_after(datetime(2024, 6, 1, 10, 16, tzinfo=UTC)) == datetime(2024, 6, 1, 10, 30,
                                                                                           tzinfo=UTC)
    first_of_march = parse_schedule("cron(0 0 1 MAR ? *)")
    assert first_of_march.next_after(datetime(2024, 6, 1, tzinfo=UTC)) == datetime(2025, 3, 1, tzinfo=UTC)

    for unsupported in ("cron(0 0 L * ? *)", "cron(0 0 * * * *)", "cron(0 0 * *)"):
        with pytest.raises(UnsupportedSchedule):
            parse_schedule(unsupported)
