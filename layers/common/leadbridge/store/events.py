"""Events to the app on the EventBridge bus (source `leadbridge`): the EventBridge adapter of
`store.ports.EventPublisher`.

Event names and detail shapes are documented in docs/events.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from leadbridge import aws_clients
from leadbridge.concurrency import each
from leadbridge.errors import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

EVENT_SOURCE = "leadbridge"
PUT_EVENTS_MAX_ENTRIES = 10  # EventBridge PutEvents limit per call


class AppEvent:
    """One event for the app. `detail_type` is the event name (e.g. `ConnectionNeedsReauth`); its detail is held as
    given, a mapping or the JSON text of one, and turned into the other only when asked: an inbound sync puts one
    event per changed record on the bus, and its detail is written once, by pydantic, straight to the JSON the bus
    takes (`of`)."""

    __slots__ = ("_detail", "_detail_json", "detail_type")

    def __init__(self, detail_type: str, detail: Mapping[str, Any] | None = None, *,
                 detail_json: str | None = None) -> None:
        if (detail is None) == (detail_json is None):
            raise ValueError("an AppEvent takes its detail as a mapping or as JSON text, one of the two")
        self.detail_type = detail_type
        self._detail = dict(detail) if detail is not None else None
        self._detail_json = detail_json

    @classmethod
    def of(cls, detail_type: str, detail: BaseModel) -> AppEvent:
        return cls(detail_type, detail_json=detail.model_dump_json())

    @property
    def detail(self) -> dict[str, Any]:
        if self._detail is None:
            assert self._detail_json is not None  # the constructor takes one of the two
            self._detail = json.loads(self._detail_json)
        return self._detail

    @property
    def detail_json(self) -> str:
        """The detail as the bus takes it (compact JSON)."""
        if self._detail_json is None:
            self._detail_json = json.dumps(self._detail, separators=(",", ":"))
        return self._detail_json

    def __repr__(self) -> str:
        return f"AppEvent({self.detail_type!r}, {self.detail!r})"


class EventDeliveryError(StoreUnavailable):
    """Some events were not accepted by the bus; `failed` lists (event, error code, message) per rejected entry."""

    code = "event_delivery_failed"

    def __init__(self, message: str, *, failed: list[tuple[AppEvent, str, str]]) -> None:
        super().__init__(
            message,
            details={"failed": [{"detail_type": e.detail_type, "error": c, "message": m} for e, c, m in failed]},
        )
        self.failed = failed


class EventBridgePublisher:
    def __init__(self, bus_name: str, client: EventBridgeClient | None = None) -> None:
        self.bus_name = bus_name
        self._client = client or aws_clients.client("events")

    def publish(self, events: Sequence[AppEvent]) -> None:
        """Every event, 10 to a call, a few calls in flight (a page's events are independent; EventBridge does not
        keep their order anyway). Raises `EventDeliveryError` naming each event the bus did not take."""
        chunks = [list(events[start : start + PUT_EVENTS_MAX_ENTRIES]) for start in range(0, len(events),
                                                                                        PUT_EVENTS_MAX_ENTRIES)]
        failed = [problem for problems in each(self._put, chunks) for problem in problems]
        if failed:
            raise EventDeliveryError(f"{len(failed)} of {len(events)} events were not delivered", failed=failed)

    def _put(self, chunk: list[AppEvent]) -> list[tuple[AppEvent, str, str]]:
        """One PutEvents call; the events it did not deliver, with the error of each."""
        entries: list[PutEventsRequestEntryTypeDef] = [
            {
                "EventBusName": self.bus_name,
                "Source": EVENT_SOURCE,
                "DetailType": event.detail_type,
                "Detail": event.detail_json,
            }
            for event in chunk
        ]
        try:
            response = self._client.put_events(Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            return [(event, _error_code(exc), str(exc)) for event in chunk]
        # Entries come back in request order; an entry with ErrorCode was not delivered.
        return [
            (event, result.get("ErrorCode", ""), result.get("ErrorMessage", ""))
            for event, result in zip(chunk, response.get("Entries", []), strict=False)
            if "ErrorCode" in result
        ]


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
