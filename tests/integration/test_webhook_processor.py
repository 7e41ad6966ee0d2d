"""WebhookProcessorFunction step by step: a local stack whose queue pump does not run by itself and whose failed
messages are visible again at once, so each test delivers batches with `pump.poll_once` and sees exactly what
Lambda's SQS integration would do with the handler's answer (delete, keep for retry, move to the DLQ).

The tenant is connected to the SuperOffice sandbox through the real OAuth flow (which registers the webhook); CRM
changes in the sandbox reach WebhookQueue through the gateway and the intake, as in production.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from leadbridge import runtime
from leadbridge.inbound.webhook_intake import QueuedWebhook
from leadbridge.models.connection import ConnectionStatus
from leadbridge.models.crm import WebhookEvent
from leadbridge.store.table import webhook_event_key
from leadbridge.store.webhook_events import ClaimStatus
from local.stack import LocalStack
from local.template import SamTemplate
from tests.support.local_stack import stepped_stack
from tests.support.superoffice_connect import CTX
from tests.support.superoffice_webhooks import APP_EVENTS, PROCESSOR, TENANT, Hooks, poll

RELAY = "ChangeEventsRelayFunction"


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """Overrides the shared `stack`: the pump is stepped by the tests, retries are visible at once."""
    yield from stepped_stack(moto_server)


def queued(hooks: Hooks, **event: Any) -> QueuedWebhook:
    """A message as the intake would queue it for TENANT's connection."""
    connection = runtime.connection_store().get(TENANT, "superoffice")
    assert connection is not None
    defaults: dict[str, Any] = {"event_id": str(uuid.uuid4()), "event": "contact.changed", "object": "company",
                                "record_id": "1", "account_id": CTX, "action": "changed"}
    return QueuedWebhook(
        tenant_id=TENANT,
        crm="superoffice",
        connection_key=connection.connection_key,
        account_id=CTX,
        event=WebhookEvent(**{**defaults, **event}),
        received_at=datetime.now(UTC),
    )


def send(hooks: Hooks, body: str) -> None:
    hooks.sqs.send_message(QueueUrl=hooks.stack.resources.webhook_queue_url, MessageBody=body)


def dlq(hooks: Hooks) -> list[str]:
    url = hooks.stack.resources.queue_urls["WebhookDLQ"]
    got = hooks.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [m["Body"] for m in got.get("Messages") or []]


# --- partial batch failures, retries, dead letters --------------------------------------------------------------------


def test_a_throttled_read_fails_only_its_message_and_the_retry_applies_it_once(wh: Hooks) -> None:
    slow = wh.sb.create(CTX, "contact", {"Name": "Treg AS"})
    fast = wh.sb.create(CTX, "contact", {"Name": "Rask AS"})
    deliveries = wh.wait_for_deliveries(2)
    wh.sb.inject_fault("429", retry_after=0, count=4, path_prefix=f"/api/v1/Contact/{slow['ContactId']}",
                       method="GET")

    first = poll(wh)

    assert len(first.received) == 2 and len(first.failed) == 1 and len(first.deleted) == 1
    assert [e["detail"]["fields"]["company_name"] for e in wh.app_events()] == ["Rask AS"]
    second = poll(wh)
    assert (len(second.received), second.failed) == (1, [])
    assert wh.queue_depth() == 0 and dlq(wh) == []
    names = sorted(e["detail"]["fields"]["company_name"] for e in wh.app_events())
    assert names == ["Rask AS", "Treg AS"]
    slow_event = next(d.event_id for d in deliveries if d.json()["PrimaryKey"] == slow["ContactId"])
    entries = sorted(wh.entries_of(slow_event), key=lambda e: e["time"])
    assert [(e["outcome"], (e.get("error") or {}).get("code")) for e in entries] == [
        ("failed", "crm_rate_limited"),
        ("success", None),
    ]
    assert "It will be retried." in entries[0]["error"]["message"]
    assert fast["ContactId"] != slow["ContactId"]


def test_poison_messages_end_in_the_dead_letter_queue_and_in_the_log(wh: Hooks) -> None:
    send(wh, "this is not a queued webhook")
    send(wh, json.dumps({**json.loads(queued(wh).model_dump_json()), "version": 99}))

    outcomes = [poll(wh) for _ in range(6)]  # five receives fail; the sixth finds them moved to the DLQ

    assert [len(o.failed) for o in outcomes[:5]] == [2, 2, 2, 2, 2]
    assert outcomes[5].received == []
    bodies = dlq(wh)
    assert len(bodies) == 2 and "this is not a queued webhook" in bodies
    logged = [e for e in wh.sync_log() if e["error"] and e["error"]["code"] == "webhook_unreadable"]
    assert sorted(e["details"]["attempt"] for e in logged) == [1, 2, 3, 4, 5]
    last = next(e for e in logged if e["details"]["attempt"] == 5)
    assert last["details"]["dead_lettered"] is True and "dead-letter queue" in last["error"]["message"]
    assert "version 99" in last["error"]["message"]


def test_a_bus_outage_holds_back_no_webhook_and_the_relay_delivers_the_change_once_the_bus_is_back(wh: Hooks) -> None:
    events = boto3.client("events")
    bus = wh.stack.resources.event_bus_name
    wh.sb.create(CTX, "contact", {"Name": "Ustabil AS"})
    [delivery] = wh.wait_for_deliveries(1)
    events.remove_targets(Rule=APP_EVENTS, EventBusName=bus, Ids=["app"])
    events.delete_rule(Name=APP_EVENTS, EventBusName=bus)
    events.delete_event_bus(Name=bus)

    processed = poll(wh)
    relayed = wh.stack.streams.catch_up(RELAY)

    assert (len(processed.received), processed.failed) == (1, [])  # applied: its change is on the feed
    assert (relayed[-1].delivered, relayed[-1].failed) == (0, 1)  # the relay's PutEvents: no such bus; retried
    applied, delayed = (
        [e for e in wh.entries_of(delivery.event_id) if e["action"] == action] for action in ("read", "publish_events")
    )
    assert [e["outcome"] for e in applied] == ["success"]  # the change: applied, not failed
    [delayed] = delayed  # under the CRM event's id as well
    assert delayed["outcome"] == "failed" and delayed["error"]["code"] == "event_delivery_failed"
    assert "ResourceNotFoundException" in delayed["error"]["message"] and delayed["details"]["retried"] is True
    wh.stack.streams.catch_up(RELAY)  # still no bus: the same chunk fails again, logged once
    assert len([e for e in wh.sync_log() if e["action"] == "publish_events"]) == 1
    events.create_event_bus(Name=bus)
    wh.subscribe_app()
    [change] = wh.app_events()  # the relay's next delivery of the chunk
    assert (change["detail-type"], change["detail"]["action"]) == ("CompanyChanged", "created")


# --- claims -----------------------------------------------------------------------------------------------------------


def test_an_event_claimed_by_a_live_processor_waits_and_one_left_by_a_dead_one_goes_through(wh: Hooks) -> None:
    wh.sb.create(CTX, "contact", {"Name": "Krasj AS"})
    [delivery] = wh.wait_for_deliveries(1)
    claims = runtime.webhook_event_claims()
    now = datetime.now(UTC)
    # Another processor took this event a moment ago and is still working on it.
    lease = now + timedelta(minutes=1)
    other = claims.claim(TENANT, "superoffice", delivery.event_id, token="other", lease_until=lease, now=now)
    assert other.status is ClaimStatus.CLAIMED

    busy = poll(wh)

    assert len(busy.failed) == 1 and wh.app_events() == []
    # That processor died (its Lambda timed out): its lease ran out, and the redelivery is applied.
    table = runtime.table()
    table.update(webhook_event_key(TENANT, "superoffice", delivery.event_id),
                 set_values={"lease_until": "2000-01-01T00:00:00.000000Z"})
    applied = poll(wh)
    assert applied.failed == [] and len(wh.app_events()) == 1
    done = claims.claim(TENANT, "superoffice", delivery.event_id, token="late", lease_until=now, now=now)
    assert (done.status, done.outcome) == (ClaimStatus.DONE, "created")


# --- routing ----------------------------------------------------------------------------------------------------------


def test_a_connection_that_lost_consent_is_skipped_and_logged(wh: Hooks) -> None:
    wh.sb.create(CTX, "contact", {"Name": "Tilbakekalt AS"})
    [delivery] = wh.wait_for_deliveries(1)
    wh.sb.revoke_consent(CTX)

    outcome = poll(wh)

    assert outcome.failed == [] and wh.queue_depth() == 0
    [entry] = wh.entries_of(delivery.event_id)
    assert (entry["outcome"], entry["error"]["code"]) == ("skipped", "needs_reauth")
    connection = runtime.connection_store().get(TENANT, "superoffice")
    assert connection is not None and connection.status is ConnectionStatus.NEEDS_REAUTH
    assert [e["detail-type"] for e in wh.app_events()] == ["ConnectionNeedsReauth"]


def test_events_of_another_account_or_not_synced_entities_are_acknowledged_and_skipped(wh: Hooks) -> None:
    foreign = queued(wh)
    foreign = foreign.model_copy(update={"account_id": "Cust99999"})
    associate = queued(wh, event="associate.changed", object=None, record_id="5")
    send(wh, foreign.model_dump_json())
    send(wh, associate.model_dump_json())

    outcome = poll(wh)

    assert len(outcome.deleted) == 2 and outcome.failed == []
    codes = {e["correlation_id"]: e["error"]["code"] for e in wh.sync_log() if e["outcome"] == "skipped"}
    assert codes == {foreign.event.event_id: "account_mismatch", associate.event.event_id: "not_synced"}
    assert wh.app_events() == []


def test_a_change_event_for_a_record_the_crm_no_longer_has_reports_nothing_new(wh: Hooks) -> None:
    never_seen = queued(wh, record_id="424242")
    send(wh, never_seen.model_dump_json())

    outcome = poll(wh)

    assert outcome.failed == []
    [entry] = wh.entries_of(never_seen.event.event_id)
    assert (entry["outcome"], entry["error"]["code"]) == ("skipped", "unchanged")
    assert entry["error"]["message"] == "never reported to the app"
    assert wh.app_events() == []


def test_a_read_the_crm_refuses_for_good_is_logged_failed_and_not_retried(wh: Hooks) -> None:
    company = wh.sb.create(CTX, "contact", {"Name": "Hemmelig AS"})
    [delivery] = wh.wait_for_deliveries(1)
    wh.sb.inject_fault("403", count=1, path_prefix=f"/api/v1/Contact/{company['ContactId']}", method="GET")

    outcome = poll(wh)

    assert outcome.failed == [] and wh.queue_depth() == 0 and dlq(wh) == []
    [entry] = wh.entries_of(delivery.event_id)
    assert (entry["outcome"], entry["error"]["code"]) == ("failed", "crm_rejected")
    assert entry["error"]["message"].startswith("the CRM refused to return the record")
    assert wh.app_events() == []


def test_the_template_wires_the_processor_to_the_webhook_queue(sam_template: SamTemplate) -> None:
    [subscription] = [s for s in sam_template.sqs_subscriptions() if s.function_id == PROCESSOR]
    queue = sam_template.properties("WebhookQueue")
    function = sam_template.functions()[PROCESSOR]
    variables = sam_template.properties(PROCESSOR)["Environment"]["Variables"]

    assert subscription.queue_logical_id == "WebhookQueue" and subscription.report_batch_item_failures
    # The attempt the processor logs as dead-lettered is the one after which SQS moves the message.
    assert int(variables["WEBHOOK_MAX_RECEIVE_COUNT"]) == queue["RedrivePolicy"]["maxReceiveCount"]
    # A message is not redelivered while a processor may still be working on it.
    assert queue["VisibilityTimeout"] >= 3 * function.timeout_seconds
