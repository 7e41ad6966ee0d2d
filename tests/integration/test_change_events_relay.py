"""ChangeEventsRelayFunction (functions/change_events/relay.py) as Lambda runs it: the local stream pump reads the
table's stream in moto with the template's filter and invokes the handler, which puts the feed's new changes on the
real (moto) bus, read back through an app's queue. What the app sees: each change once per delivery, the same detail
the feed holds, only feed chunks relayed, and a bus failure retried and logged once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from leadbridge import runtime
from leadbridge.models.changes import ChangeAction, ChangeEvent, ChangeSource, ChangeType
from leadbridge.models.crm import CrmObject
from leadbridge.models.runs import SyncRun
from leadbridge.models.synclog import Action, Outcome, Trigger
from leadbridge.store.changes import DynamoChangeFeed
from leadbridge.store.events import AppEvent, EventDeliveryError
from leadbridge.store.log import DynamoSyncLog
from leadbridge.store.runs import DynamoRunStore
from leadbridge.store.table import Table
from local.aws import LocalResources
from local.lambda_runtime import FunctionRuntime
from local.streams import StreamPump
from local.template import SamTemplate
from tests.support.app_bus import drain, subscribe_app_queue

RELAY = "ChangeEventsRelayFunction"
TENANT = "acme"


@pytest.fixture
def relay(aws: LocalResources, sam_template: SamTemplate) -> Iterator[StreamPump]:
    runtime.reset()
    yield StreamPump(sam_template, FunctionRuntime(sam_template), aws)
    runtime.reset()


@pytest.fixture
def app_queue(aws: LocalResources) -> str:
    return subscribe_app_queue(aws.event_bus_name, "relayed-app-events")


def change(crm_id: str, name: str = "Nordlys ApS") -> ChangeEvent:
    return ChangeEvent(
        id=ChangeEvent.stable_id(TENANT, crm_id, name),
        type=ChangeType.COMPANY_CHANGED,
        action=ChangeAction.UPDATED,
        tenant=TENANT,
        crm="superoffice",
        object=CrmObject.COMPANY,
        crm_id=crm_id,
        fields={"company_name": name},
        changed_fields=["company_name"],
        source=ChangeSource.SCHEDULE,
        run_id="run-1",
    )


def test_the_feeds_new_changes_reach_the_bus_once_with_the_changes_as_their_detail(
    aws: LocalResources, relay: StreamPump, app_queue: str
) -> None:
    feed = DynamoChangeFeed(Table(aws.table_name))
    changes = [change("1"), change("2")]
    feed.append(changes, exclusive=True)
    feed.append(changes, exclusive=True)  # a replayed page: nothing new on the feed, so nothing new on the bus

    relay.catch_up(RELAY)
    relay.catch_up(RELAY)

    events = drain(app_queue)
    assert [(e["source"], e["detail-type"]) for e in events] == [("leadbridge", "CompanyChanged")] * 2
    assert sorted((e["detail"] for e in events), key=lambda d: d["crm_id"]) == [
        c.model_dump(mode="json") for c in changes
    ]


def test_summary_mode_puts_one_changes_reported_event_per_chunk(
    aws: LocalResources, relay: StreamPump, app_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANGE_EVENTS", "summary")
    runtime.reset()  # the settings are read again
    changes = [change("1"), change("2")]
    DynamoChangeFeed(Table(aws.table_name)).append(changes, exclusive=True)

    relay.catch_up(RELAY)

    [summary] = drain(app_queue)
    assert summary["detail-type"] == "ChangesReported"
    assert summary["detail"]["change_ids"] == [c.id for c in changes] and summary["detail"]["count"] == 2


def test_a_throttled_bus_fails_the_chunk_for_lambda_to_deliver_again_and_logs_the_delay_once(
    aws: LocalResources, relay: StreamPump, app_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ThrottledTwice:
        def __init__(self, bus: Any) -> None:
            self.bus, self.refusals = bus, 2

        def publish(self, events: Sequence[AppEvent]) -> None:
            if self.refusals:
                self.refusals -= 1
                failed = [(e, "ThrottlingException", "Rate exceeded") for e in events]
                raise EventDeliveryError("throttled", failed=failed)
            self.bus.publish(events)

    services = runtime.change_relay_services()
    throttled = replace(services, publisher=ThrottledTwice(services.publisher))
    monkeypatch.setattr(runtime, "change_relay_services", lambda: throttled)
    DynamoChangeFeed(Table(aws.table_name)).append([change("1")], exclusive=True)

    attempts = [relay.poll_once(RELAY) for _ in range(3)]

    assert [(a.delivered, a.failed) for a in attempts] == [(0, 1), (0, 1), (1, 0)]
    assert [e["detail"]["crm_id"] for e in drain(app_queue)] == ["1"]
    [delayed] = DynamoSyncLog(Table(aws.table_name)).query(TENANT, status=Outcome.FAILED).items
    assert delayed.action is Action.PUBLISH_EVENTS and delayed.error is not None
    assert "ThrottlingException: Rate exceeded" in delayed.error.message


def test_the_log_entry_of_a_chunk_from_a_run_started_by_hand_says_manual(
    aws: LocalResources, relay: StreamPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refusing:
        def publish(self, events: Sequence[AppEvent]) -> None:
            raise EventDeliveryError("refused", failed=[(e, "ValidationException", "too big") for e in events])

    table = Table(aws.table_name)
    DynamoRunStore(table).create(SyncRun(id="run-by-hand", tenant=TENANT, crm="superoffice", trigger="manual",
                                         created_at=datetime.now(UTC)))  # fmt: skip
    refused = replace(runtime.change_relay_services(), publisher=Refusing())
    monkeypatch.setattr(runtime, "change_relay_services", lambda: refused)
    feed = DynamoChangeFeed(table)
    feed.append([replace_run(change("1"), "run-by-hand")], exclusive=True)
    feed.append([change("2")], exclusive=True)  # run-1: a scheduled run's (no run item: the usual trigger)

    relay.catch_up(RELAY)

    entries = DynamoSyncLog(table).query(TENANT, status=Outcome.FAILED).items
    by_change = {e.details["change_ids"][0]: e.trigger for e in entries}
    assert by_change == {change("1").id: Trigger.MANUAL, change("2").id: Trigger.SCHEDULE}


def replace_run(event: ChangeEvent, run_id: str) -> ChangeEvent:
    return event.model_copy(update={"run_id": run_id})
