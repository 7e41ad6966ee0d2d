"""Connection records, OAuth states and the EventBridge publisher against moto (table and bus from template.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from leadbridge.errors import Conflict
from leadbridge.models.connection import Connection, ConnectionStatus, OAuthState
from leadbridge.store.connections import ConnectionStore
from leadbridge.store.events import AppEvent, EventBridgePublisher, EventDeliveryError
from leadbridge.store.table import Table
from local.aws import LocalResources
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.waiting import wait_until


@pytest.fixture
def table(aws: LocalResources) -> Table:
    return Table(aws.table_name, boto3.client("dynamodb"))


@pytest.fixture
def store(table: Table) -> ConnectionStore:
    return ConnectionStore(table)


def _connection(tenant: str = "t1", account: str = "Cust1", **kw: object) -> Connection:
    values: dict[str, object] = {
        "tenant_id": tenant,
        "crm": "superoffice",
        "status": ConnectionStatus.CONNECTED,
        "account_id": account,
        "api_base": f"https://sod2.superoffice.com/{account}/api",
        "secret_name": f"leadbridge/local/tenants/{tenant}/superoffice",
        "connected_by": "u1",
        "connected_at": datetime(2026, 3, 1, tzinfo=UTC),
        "connection_key": f"key-{tenant}",
    }
    values.update(kw)
    return Connection.model_validate(values)


def test_connection_round_trip_and_tenant_listing(store: ConnectionStore) -> None:
    store.save(_connection("t1"))
    store.save(_connection("t2", "Cust2"))

    got = store.get("t1", "superoffice")

    assert got == _connection("t1")
    assert [c.account_id for c in store.list("t1")] == ["Cust1"]
    assert store.get("t3", "superoffice") is None
    assert store.by_webhook_key("key-t2") == _connection("t2", "Cust2")
    assert store.by_webhook_key("key-unknown") is None


# --- webhook key lookup (the public intake) ---------------------------------------------------------------------------


@pytest.fixture
def queries(table: Table) -> list[dict[str, Any]]:
    """Every Query the store's client sends (the webhook lookup must not use an eventually consistent index)."""
    sent: list[dict[str, Any]] = []
    table.client.meta.events.register("before-call.dynamodb.Query", lambda params, **_: sent.append(params["body"]))
    return sent


def _raw(aws: LocalResources, pk: str, sk: str) -> dict[str, Any]:
    return boto3.client("dynamodb").get_item(TableName=aws.table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}})["Item"]


def test_webhook_key_finds_the_connection_right_after_save_by_key_reads_only(
    aws: LocalResources, store: ConnectionStore, queries: list[dict[str, Any]]
) -> None:
    store.save(_connection("t1"))
    store.save(_connection("t2", "Cust2"))

    assert store.by_webhook_key("key-t1") == _connection("t1")
    assert store.by_webhook_key("key-t2") == _connection("t2", "Cust2")
    assert store.by_webhook_key("key-unknown") is None
    assert queries == []
    # The pointer names the connection and holds nothing secret; the connection item has no index entry for it.
    assert _raw(aws, "WHK#key-t2", "CONN") == {
        "PK": {"S": "WHK#key-t2"},
        "SK": {"S": "CONN"},
        "tenant_id": {"S": "t2"},
        "crm": {"S": "superoffice"},
    }
    assert not {"GSI2PK", "GSI2SK"} & set(_raw(aws, "T#t2", "CONN#superoffice"))


def test_webhook_key_still_finds_a_disconnected_connection(store: ConnectionStore) -> None:
    store.save(_connection())
    disconnected = _connection(status=ConnectionStatus.DISCONNECTED, disconnected_at=datetime(2026, 3, 5, tzinfo=UTC))
    store.save(disconnected)

    assert store.by_webhook_key("key-t1") == disconnected  # late events are acknowledged as skipped, not rejected


def test_after_a_reconnect_with_a_new_key_the_old_key_is_unknown(store: ConnectionStore) -> None:
    store.save(_connection(connection_key="key-old"))
    store.save(_connection(status=ConnectionStatus.DISCONNECTED, connection_key="key-old"))
    reconnected = _connection(connection_key="key-new", connected_at=datetime(2026, 3, 9, tzinfo=UTC))
    store.save(reconnected, only_if_account="Cust1")

    assert store.by_webhook_key("key-old") is None
    assert store.by_webhook_key("key-new") == reconnected


def test_a_key_from_a_refused_save_is_unknown(store: ConnectionStore) -> None:
    store.save(_connection(account="Cust1"), only_if_account="Cust1")

    with pytest.raises(Conflict):
        store.save(_connection(account="Cust2", connection_key="key-loser"), only_if_account="Cust2")

    assert store.by_webhook_key("key-loser") is None
    got = store.by_webhook_key("key-t1")
    assert got is not None and got.account_id == "Cust1"


def test_a_connection_key_never_changes_owner(store: ConnectionStore) -> None:
    store.save(_connection("t1"))

    with pytest.raises(Conflict):
        store.save(_connection("t2", "Cust2", connection_key="key-t1"))

    assert store.get("t2", "superoffice") is None
    assert store.by_webhook_key("key-t1") == _connection("t1")


def test_a_new_key_cannot_bypass_save(store: ConnectionStore) -> None:
    store.save(_connection())

    with pytest.raises(ValueError, match="save"):
        store.transition(
            "t1",
            "superoffice",
            expected=ConnectionStatus.CONNECTED,
            status=ConnectionStatus.CONNECTED,
            set_values={"connection_key": "key-sneaky"},
        )
    assert store.by_webhook_key("key-t1") == _connection()


def test_saving_over_another_connected_account_is_refused(store: ConnectionStore) -> None:
    store.save(_connection(account="Cust1"), only_if_account="Cust1")

    with pytest.raises(Conflict):
        store.save(_connection(account="Cust2"), only_if_account="Cust2")
    store.save(_connection(account="Cust1", connected_by="u2"), only_if_account="Cust1")  # same account: fine
    store.save(_connection(account="Cust1", status=ConnectionStatus.DISCONNECTED))
    store.save(_connection(account="Cust2"), only_if_account="Cust2")  # after disconnect: fine

    got = store.get("t1", "superoffice")
    assert got is not None and got.account_id == "Cust2"


def test_transition_happens_once_and_unschedules(aws: LocalResources, store: ConnectionStore) -> None:
    store.save(_connection())
    store.set_next_run("t1", "superoffice", datetime(2026, 3, 1, 13, tzinfo=UTC))
    due = _due(aws)
    assert [i["GSI1SK"]["S"] for i in due] == ["2026-03-01T13:00:00.000000Z#t1#superoffice"]

    first = store.transition(
        "t1",
        "superoffice",
        expected=ConnectionStatus.CONNECTED,
        status=ConnectionStatus.NEEDS_REAUTH,
        set_values={"last_error": "invalid_grant"},
    )
    second = store.transition(
        "t1", "superoffice", expected=ConnectionStatus.CONNECTED, status=ConnectionStatus.NEEDS_REAUTH
    )

    assert first is not None and first.status is ConnectionStatus.NEEDS_REAUTH and first.last_error == "invalid_grant"
    assert second is None
    assert _due(aws) == []


def test_health_outcomes(store: ConnectionStore) -> None:
    store.save(_connection())
    at = datetime(2026, 3, 2, tzinfo=UTC)
    store.record_outcome("t1", "superoffice", at=at, error="CRM answered 503")
    store.record_outcome("t1", "superoffice", at=at + timedelta(hours=1))

    got = store.get("t1", "superoffice")
    assert got is not None and got.last_success_at == at + timedelta(hours=1) and got.last_error is None


def _due(aws: LocalResources) -> list[dict[str, dict[str, str]]]:
    ddb = boto3.client("dynamodb")
    response = ddb.query(
        TableName=aws.table_name,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :due",
        ExpressionAttributeValues={":due": {"S": "DUE"}},
    )
    return response["Items"]  # type: ignore[return-value]


def _state(value: str, *, minutes: int = 10) -> OAuthState:
    now = datetime.now(UTC).replace(microsecond=0)
    return OAuthState(
        state=value,
        tenant_id="t1",
        user_id="u1",
        crm="superoffice",
        return_url="https://app.example.com/settings",
        code_verifier="v" * 64,
        nonce="n",
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )


def test_oauth_state_is_single_use_with_ttl(aws: LocalResources, store: ConnectionStore) -> None:
    state = _state("s" * 43)
    store.save_state(state)
    raw = boto3.client("dynamodb").get_item(
        TableName=aws.table_name, Key={"PK": {"S": f"STATE#{'s' * 43}"}, "SK": {"S": "STATE"}}
    )["Item"]
    assert int(raw["expires_at"]["N"]) == int(state.expires_at.timestamp())

    assert store.take_state("s" * 43) == state
    assert store.take_state("s" * 43) is None
    assert store.take_state("never-issued") is None
    store.save_state(_state("dup"))
    with pytest.raises(Conflict):
        store.save_state(_state("dup"))


def test_a_state_saved_before_the_connect_page_still_loads(table: Table, store: ConnectionStore) -> None:
    # Written by the release with the unauthenticated browser hop: it also held the CRM sign-in URL. A state in flight
    # during the deploy must still load (the callback then checks it as any other); the old field is ignored.
    state = _state("o" * 43).model_copy(update={"browser_binding": "b" * 64})
    table.put({
        "PK": f"STATE#{state.state}",
        "SK": "STATE",
        **state.model_dump(exclude={"expires_at"}, exclude_none=True),
        "authorization_url": f"https://crm.example/authorize?state={state.state}",
        "state_expires_at": state.expires_at,
        "expires_at": int(state.expires_at.timestamp()),
    })

    assert store.get_state(state.state) == state
    assert store.take_state(state.state) == state


# --- events ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def captured(aws: LocalResources) -> Iterator[str]:
    """An SQS queue receiving every `leadbridge` event on the bus (the app's side of the bus)."""
    yield subscribe_app_queue(aws.event_bus_name, "captured-app-events")


def _drain(url: str, expected: int) -> list[dict[str, object]]:
    """Every message of the queue, once `expected` of them arrived (a surplus would show in the caller's assertions)."""
    got: list[dict[str, object]] = []

    def received_enough() -> bool:
        got.extend(drain(url))
        return len(got) >= expected

    wait_until(received_enough, what=f"{expected} events in the app's queue")
    return got


def test_publisher_delivers_more_than_one_put_events_batch(aws: LocalResources, captured: str) -> None:
    events = [AppEvent(detail_type="ConnectionNeedsReauth", detail={"tenant_id": "t1", "n": i}) for i in range(23)]

    EventBridgePublisher(aws.event_bus_name).publish(events)

    delivered = _drain(captured, 23)
    assert sorted(e["detail"]["n"] for e in delivered) == list(range(23))  # type: ignore[index]
    assert {(e["source"], e["detail-type"]) for e in delivered} == {("leadbridge", "ConnectionNeedsReauth")}


def test_publisher_surfaces_undelivered_events(aws: LocalResources) -> None:
    events = [AppEvent(detail_type="ConnectionNeedsReauth", detail={"n": i}) for i in range(12)]

    with pytest.raises(EventDeliveryError) as caught:
        EventBridgePublisher("no-such-bus").publish(events)

    assert len(caught.value.failed) == 12
