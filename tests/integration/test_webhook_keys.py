"""The webhook intake's connection lookup (`leadbridge.store.webhook_keys.RememberedWebhookKeys`) on the real table in
moto: a key's owner is read once per container, the connection on every delivery, so every change to the connection
counts at once. Reads are counted on the table's own client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.store.connections import ConnectionStore
from leadbridge.store.table import Table
from leadbridge.store.webhook_keys import RememberedWebhookKeys
from local.aws import LocalResources

KEY = "key-t1-0123456789abcdef"


def _connection(**overrides: Any) -> Connection:
    values: dict[str, Any] = {
        "tenant_id": "t1",
        "crm": "superoffice",
        "status": ConnectionStatus.CONNECTED,
        "account_id": "Cust1",
        "api_base": "https://sod.superoffice.com/Cust1/api/",
        "secret_name": "leadbridge/test/tenants/t1/superoffice",
        "connected_by": "admin@t1",
        "connected_at": datetime(2026, 3, 1, tzinfo=UTC),
        "connection_key": KEY,
    }
    return Connection(**{**values, **overrides})


class Reads:
    """GetItem keys sent by the table's client, as `PK` values."""

    def __init__(self, table: Table) -> None:
        self.keys: list[str] = []
        table.client.meta.events.register("before-parameter-build.dynamodb.GetItem", self._seen)

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        self.keys.append(params["Key"]["PK"]["S"])

    def pointers(self) -> int:
        return sum(1 for k in self.keys if k.startswith("WHK#"))

    def connections(self) -> int:
        return sum(1 for k in self.keys if k.startswith("T#"))


@pytest.fixture
def table(aws: LocalResources) -> Table:
    return Table(aws.table_name, boto3.client("dynamodb"))


@pytest.fixture
def store(table: Table) -> ConnectionStore:
    return ConnectionStore(table)


def test_a_burst_reads_the_key_pointer_once_and_the_connection_every_time(table: Table, store: ConnectionStore) -> None:
    store.save(_connection())
    keys = RememberedWebhookKeys(store)
    reads = Reads(table)

    found = [keys.by_webhook_key(KEY) for _ in range(5)]

    assert found == [_connection()] * 5
    assert (reads.pointers(), reads.connections()) == (1, 5)


def test_a_disconnect_counts_at_the_next_delivery(store: ConnectionStore) -> None:
    store.save(_connection())
    keys = RememberedWebhookKeys(store)
    assert keys.by_webhook_key(KEY) == _connection()

    disconnected = _connection(status=ConnectionStatus.DISCONNECTED, disconnected_at=datetime(2026, 3, 5, tzinfo=UTC))
    store.save(disconnected)

    assert keys.by_webhook_key(KEY) == disconnected  # the intake acknowledges it as skipped, as before


def test_after_a_reconnect_with_a_new_key_the_remembered_old_key_is_unknown(store: ConnectionStore) -> None:
    store.save(_connection())
    keys = RememberedWebhookKeys(store)
    assert keys.by_webhook_key(KEY) is not None

    reconnected = _connection(connection_key="key-t1-new-0123456789ab", account_id="Cust2")
    store.save(reconnected)

    assert keys.by_webhook_key(KEY) is None
    assert keys.by_webhook_key("key-t1-new-0123456789ab") == reconnected


def test_an_unknown_key_is_read_each_time_so_a_connect_moments_later_is_found(
    table: Table, store: ConnectionStore
) -> None:
    keys = RememberedWebhookKeys(store)
    reads = Reads(table)
    assert keys.by_webhook_key(KEY) is None

    store.save(_connection())  # e.g. the registration's test POST arrives while the connect is being saved

    assert keys.by_webhook_key(KEY) == _connection()
    assert reads.pointers() == 2


def test_memory_is_bounded_and_a_forgotten_key_is_read_again(table: Table, store: ConnectionStore) -> None:
    tenants = ["t1", "t2", "t3"]
    for tenant in tenants:
        store.save(_connection(tenant_id=tenant, connection_key=f"key-{tenant}-0123456789abcd"))
    keys = RememberedWebhookKeys(store, max_keys=2)
    reads = Reads(table)

    for tenant in [*tenants, "t3", "t2", "t1"]:
        got = keys.by_webhook_key(f"key-{tenant}-0123456789abcd")
        assert got is not None and got.tenant_id == tenant

    # t1, t2, t3 read; t3 and t2 remembered; t1 had been pushed out by t3 and is read again.
    assert reads.pointers() == 4
