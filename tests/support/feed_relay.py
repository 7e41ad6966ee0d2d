"""ChangeEventsRelayFunction's part of a sync, in the test process: the app's bus gets a change only through the
change feed (its outbox) and the table's stream, as in a deployment.

`FeedRelay.relay()` reads moto's stream of the table from where it last stopped, keeps the records the template's
filter passes (the relay's `DynamoDB` event), and hands each chunk to `relay_chunk`, as the function does.
`RelayedBus` is a recording publisher whose `delivered` relays first, so a test reads the bus after a sync as an app
would, once the relay has caught up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from leadbridge.inbound.change_relay import ChangeRelayServices, relay_chunk
from leadbridge.inbound.ports import ChangeEvents
from leadbridge.store.changes import appended_chunk
from leadbridge.store.events import AppEvent, EventDeliveryError
from leadbridge.store.log import DynamoSyncLog
from leadbridge.store.table import Table
from local.streams import shard_records, stream_shards
from local.template import SamTemplate

_RELAY = "ChangeEventsRelayFunction"
_DESERIALIZER = TypeDeserializer()


class FeedRelay:
    def __init__(self, table: Table, publisher: Any, *, mode: ChangeEvents = ChangeEvents.RECORD) -> None:
        self._table = table
        self._services = ChangeRelayServices(publisher=publisher, log=DynamoSyncLog(table), mode=mode)
        [self._subscription] = [s for s in SamTemplate().stream_subscriptions() if s.function_id == _RELAY]
        self._streams = boto3.client("dynamodbstreams")
        self._after: str | None = None
        self.put = 0  # bus events the relay reported put, over every call

    def relay(self) -> int:
        """Relay the chunks appended since the last call; how many. A chunk whose relay raises is kept for the next
        call (Lambda delivers it again)."""
        relayed = 0
        for record in self._new_records():
            if self._subscription.matches(record):
                image = {k: _DESERIALIZER.deserialize(v) for k, v in record["dynamodb"]["NewImage"].items()}
                chunk = appended_chunk(image)
                assert chunk is not None, f"the relay's filter passed an item that is not a chunk: {image}"
                self.put += relay_chunk(self._services, chunk)
                relayed += 1
            self._after = record["dynamodb"]["SequenceNumber"]
        return relayed

    def _new_records(self) -> list[dict[str, Any]]:
        arn = self._table.client.describe_table(TableName=self._table.name)["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in stream_shards(self._streams, arn):
            after = self._after
            while page := shard_records(self._streams, arn, shard, after):  # up to 1,000 a read: read on to the end
                records.extend(page)
                after = page[-1]["dynamodb"]["SequenceNumber"]
        return records


class RelayedBus:
    """A recording publisher (the worker's own events go straight to it); reading `delivered` first relays the
    change feed's new chunks to it. `fail_next` makes its next publish fail as EventBridge's throttling would."""

    def __init__(self, table: Table, *, mode: ChangeEvents = ChangeEvents.RECORD) -> None:
        self._delivered: list[AppEvent] = []
        self.fail_next = False
        self.relay = FeedRelay(table, self, mode=mode)

    def publish(self, events: Sequence[AppEvent]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise EventDeliveryError("bus down", failed=[(e, "ThrottlingException", "down") for e in events])
        self._delivered.extend(events)

    @property
    def delivered(self) -> list[AppEvent]:
        self.relay.relay()
        return self._delivered

    def types(self) -> list[str]:
        return [e.detail_type for e in self.delivered]

    def of(self, detail_type: str) -> list[dict[str, Any]]:
        return [e.detail for e in self.delivered if e.detail_type == detail_type]
