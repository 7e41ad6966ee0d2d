"""The lead app's side of the EventBridge bus: an SQS queue behind a rule for every leadbridge event, as an app
subscribes, and draining it.

- `subscribe_app_queue(bus_name, name)`: the queue `name` (and a rule of the same name) for `source: leadbridge`;
  returns its URL.
- `drain(url)`: every event body waiting in the queue, deleted once read. Changes reach the bus through the relay of
  the change feed (ChangeEventsRelayFunction, fed by the table's stream): `drain` first lets the stream pump of every
  running local stack catch up, as an app would wait a moment for them.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from local.stack import running_stacks


def subscribe_app_queue(bus_name: str, name: str) -> str:
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps({"source": ["leadbridge"]}))
    events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": "app", "Arn": arn}])
    return url


def drain(url: str, *, wait_seconds: int = 0) -> list[dict[str, Any]]:
    """Receives until the queue answers empty (after long-polling `wait_seconds`)."""
    for stack in running_stacks():
        stack.streams.catch_up()
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        messages = got.get("Messages") or []
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])  # fmt: skip
