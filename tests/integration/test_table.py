"""The single-table adapter against DynamoDB in moto: conditional writes, transactions, queries, value round trips,
and the translation of AWS errors into domain errors."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from leadbridge.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, StoreUnavailable
from leadbridge.store.table import (
    ITEM_EXISTS,
    ITEM_NOT_EXISTS,
    Condition,
    Table,
    _translate,
    checkpoint_key,
    connection_key,
    link_key,
    settings_key,
    tenant_crm_pk,
)


@pytest.fixture
def table(aws) -> Table:
    return Table(aws.table_name)


def test_values_round_trip(table):
    when = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    item = {
        **connection_key("acme", "superoffice"),
        "score": 0.97,
        "count": 3,
        "ok": True,
        "nothing": None,
        "when": when,
        "nested": {"list": [1, 2.5, "x"], "deep": {"a": None}},
        "tags": {"a", "b"},
    }
    table.put(item)
    got = table.get(connection_key("acme", "superoffice"))
    assert got is not None
    assert got["score"] == 0.97 and isinstance(got["count"], int) and got["ok"] is True and got["nothing"] is None
    assert got["when"] == "2025-03-01T12:30:00.000000Z"
    assert got["nested"] == {"list": [1, 2.5, "x"], "deep": {"a": None}}
    assert got["tags"] == {"a", "b"}
    assert table.get(connection_key("acme", "hubspot")) is None


def test_conditional_put_raises_what_the_caller_asks(table):
    item = {**settings_key("acme", "superoffice", 1), "v": 1}
    table.put(item, condition=ITEM_NOT_EXISTS)
    with pytest.raises(Conflict):
        table.put(item, condition=ITEM_NOT_EXISTS)
    with pytest.raises(PreconditionFailed, match="version 1 exists"):
        table.put(item, condition=ITEM_NOT_EXISTS, on_conflict=PreconditionFailed, conflict_message="version 1 exists")


def test_optimistic_update_and_delete(table):
    key = settings_key("acme", "superoffice")
    table.put({**key, "version": 1, "doc": {"a": 1}})
    current = Condition("#v = :v", {"#v": "version"}, {":v": 1})

    after = table.update(key, set_values={"version": 2, "doc": {"a": 2}}, add={"writes": 1}, condition=current)
    assert after["version"] == 2 and after["doc"] == {"a": 2} and after["writes"] == 1

    with pytest.raises(PreconditionFailed):
        table.update(key, set_values={"version": 3}, condition=current, on_conflict=PreconditionFailed)
    assert table.get(key)["version"] == 2

    after = table.update(key, remove=["doc"])
    assert "doc" not in after

    assert table.delete(key)["version"] == 2
    with pytest.raises(NotFound):
        table.delete(key, condition=ITEM_EXISTS, on_conflict=NotFound)


def test_transaction_is_all_or_nothing_and_names_the_failed_operation(table):
    taken = link_key("acme", "superoffice", "company", "lead-1")
    table.put({**taken, "crm_id": "1"})
    fresh = link_key("acme", "superoffice", "company", "lead-2")

    with pytest.raises(Conflict) as info:
        table.transact(
            [
                table.tx_put({**fresh, "crm_id": "2"}, ITEM_NOT_EXISTS),
                table.tx_put({**taken, "crm_id": "3"}, ITEM_NOT_EXISTS),
            ]
        )
    assert info.value.details["failed_operations"] == [1]
    assert table.get(fresh) is None and table.get(taken)["crm_id"] == "1"

    table.transact(
        [
            table.tx_put({**fresh, "crm_id": "2"}, ITEM_NOT_EXISTS),
            table.tx_update(taken, set_values={"crm_id": "4"}),
            table.tx_check(checkpoint_key("acme", "superoffice", "company"), Condition("attribute_not_exists(PK)")),
        ]
    )
    assert table.get(fresh)["crm_id"] == "2" and table.get(taken)["crm_id"] == "4"


def test_query_by_prefix_range_order_and_pages(table):
    pk = tenant_crm_pk("acme", "superoffice")
    for i in range(7):
        table.put({**link_key("acme", "superoffice", "company", f"lead-{i}"), "n": i})
    table.put(checkpoint_key("acme", "superoffice", "company"))

    page = table.query(pk, sk_prefix="LINK#company#", limit=3)
    assert [i["n"] for i in page.items] == [0, 1, 2] and page.last_key is not None
    page2 = table.query(pk, sk_prefix="LINK#company#", limit=3, start_key=page.last_key)
    assert [i["n"] for i in page2.items] == [3, 4, 5]

    assert [i["n"] for i in table.query_all(pk, sk_prefix="LINK#", limit=2, newest_first=True)] == [6, 5, 4, 3, 2, 1, 0]
    between = table.query(pk, sk_between=("LINK#company#lead-2", "LINK#company#lead-4"))
    assert [i["n"] for i in between.items] == [2, 3, 4]
    filtered = table.query(pk, sk_prefix="LINK#", filter=Condition("#n > :n", {"#n": "n"}, {":n": 4}))
    assert [i["n"] for i in filtered.items] == [5, 6]


def test_key_parts_cannot_contain_the_separator(table):
    with pytest.raises(InvalidInput):
        connection_key("acme#x", "superoffice")
    with pytest.raises(InvalidInput):
        link_key("acme", "superoffice", "company", "")


def test_unreachable_store_is_store_unavailable():
    client = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(StoreUnavailable):
        Table("any", client).get(connection_key("acme", "superoffice"))


def test_missing_table_is_store_unavailable(aws):
    with pytest.raises(StoreUnavailable):
        Table("no-such-table").get(connection_key("acme", "superoffice"))


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"],
)
def test_throttling_and_outages_translate_to_store_unavailable(code):
    # moto does not throttle; these are the error shapes botocore raises once its own retries are spent.
    error = ClientError({"Error": {"Code": code, "Message": "slow down"}}, "PutItem")
    assert isinstance(_translate(error), StoreUnavailable)


def test_programming_errors_are_not_disguised(table):
    with pytest.raises(ClientError):
        table.query("T#acme", filter=Condition("this is not an expression"))
