"""local.moto_process writes moto's DynamoDB item answers by one `json.dumps`: the same JSON as moto's own serializer,
for every item operation and the options leadbridge and the tests use (moto in-process, both writers on the same
answers). And it handles one DynamoDB request at a time, so racing conditional writes cannot both succeed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from local import moto_process


class BothWriters:
    """Answers each DynamoDB call with moto's serializer, and keeps what the shortcut wrote for the same answer."""

    def __init__(self) -> None:
        self.compared: list[tuple[str, tuple[Any, ...], tuple[Any, ...]]] = []

    def __call__(self, result: DynamoResult, context: Any) -> Any:
        moto = moto_process._moto_execute_result(result, context)
        if str(context.operation_model.name) in moto_process.ITEM_OPERATIONS:
            as_written = (moto[0], dict(moto[1]), moto[2])  # moto adds its own headers to the dict afterwards
            self.compared.append((str(context.operation_model.name), as_written,
                                  moto_process.item_answer(result, context)))  # fmt: skip
        return moto


@pytest.fixture
def both(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, BothWriters]]:
    writers = BothWriters()
    monkeypatch.setattr(DynamoResult, "execute_result", lambda result, context: writers(result, context))
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # a session's moto server: this one answers in-process
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "G")],
            GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
        )  # fmt: skip
        yield ddb, writers


def item(pk: str, sk: str, **extra: Any) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}, "G": {"S": "g1"}, "n": {"N": "1.50"}, "b": {"B": b"\x00\xff"},
            "ok": {"BOOL": True}, "none": {"NULL": True}, "l": {"L": [{"S": "x"}, {"N": "2"}]},
            "m": {"M": {"k": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}}}, **extra}  # fmt: skip


def test_every_item_answer_is_the_json_moto_writes(both: tuple[Any, BothWriters]) -> None:
    ddb, writers = both
    key = {"PK": {"S": "A"}, "SK": {"S": "1"}}
    for i in range(5):
        ddb.put_item(TableName="t", Item=item("A", str(i)))
    ddb.put_item(TableName="t", Item=item("A", "1", extra={"S": "again"}), ReturnValues="ALL_OLD",
                 ReturnConsumedCapacity="TOTAL", ReturnItemCollectionMetrics="SIZE")  # fmt: skip
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName="t", Item=item("A", "1"), ConditionExpression="attribute_not_exists(PK)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")  # fmt: skip
    ddb.get_item(TableName="t", Key=key)
    ddb.get_item(TableName="t", Key={"PK": {"S": "none"}, "SK": {"S": "none"}})  # no item
    ddb.get_item(TableName="t", Key=key, ProjectionExpression="#n, m.k", ExpressionAttributeNames={"#n": "n"},
                 ConsistentRead=True, ReturnConsumedCapacity="INDEXES")  # fmt: skip
    ddb.update_item(TableName="t", Key=key, UpdateExpression="SET n = n + :one", ReturnValues="UPDATED_NEW",
                    ExpressionAttributeValues={":one": {"N": "1"}})  # fmt: skip
    ddb.update_item(TableName="t", Key=key, UpdateExpression="REMOVE l", ReturnValues="NONE")
    ddb.query(TableName="t", KeyConditionExpression="PK = :a", ExpressionAttributeValues={":a": {"S": "A"}},
              Limit=2, ReturnConsumedCapacity="TOTAL")  # fmt: skip
    ddb.query(TableName="t", KeyConditionExpression="PK = :a", ExpressionAttributeValues={":a": {"S": "A"}},
              Select="COUNT", ScanIndexForward=False)  # fmt: skip
    ddb.query(TableName="t", IndexName="gsi", KeyConditionExpression="G = :g",
              ExpressionAttributeValues={":g": {"S": "g1"}})  # fmt: skip
    ddb.query(TableName="t", KeyConditionExpression="PK = :a", ExpressionAttributeValues={":a": {"S": "nobody"}})
    ddb.scan(TableName="t", Limit=3)
    ddb.scan(TableName="t", FilterExpression="ok = :t", ExpressionAttributeValues={":t": {"BOOL": False}})
    ddb.batch_get_item(RequestItems={"t": {"Keys": [key, {"PK": {"S": "A"}, "SK": {"S": "2"}},
                                                    {"PK": {"S": "gone"}, "SK": {"S": "x"}}]}},
                       ReturnConsumedCapacity="TOTAL")  # fmt: skip
    ddb.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": key}},
                                          {"Get": {"TableName": "t", "Key": {"PK": {"S": "x"}, "SK": {"S": "y"}}}}])
    ddb.delete_item(TableName="t", Key=key, ReturnValues="ALL_OLD")
    ddb.delete_item(TableName="t", Key=key)  # nothing left to delete

    operations = {name for name, _, _ in writers.compared}
    assert operations == moto_process.ITEM_OPERATIONS
    for name, moto, shortcut in writers.compared:
        assert moto[:2] == shortcut[:2], name
        assert json.loads(shortcut[2]) == json.loads(moto[2]), name


def test_a_refusal_is_moto_s_own_answer(both: tuple[Any, BothWriters]) -> None:
    ddb, writers = both
    ddb.put_item(TableName="t", Item=item("A", "1"))

    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as refused:
        ddb.put_item(TableName="t", Item=item("A", "1"), ConditionExpression="attribute_not_exists(PK)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD")  # fmt: skip

    assert refused.value.response["Item"]["PK"] == {"S": "A"}  # moto's error answer, with the item, unchanged
    assert [name for name, _, _ in writers.compared] == ["PutItem"]  # the refusal was not the shortcut's to write


def test_two_racing_conditional_puts_are_handled_one_after_the_other(
    both: tuple[Any, BothWriters], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto tests a put's condition and then writes; on its threaded server two racing puts could both pass the test.
    Here the first put to reach moto's backend waits (up to a second) for the second to arrive as well: with the
    lock the second never does, so exactly one put wins. Without it both are inside at once; a slow host can only
    hide that, never fail this test."""
    ddb, _ = both
    monkeypatch.setattr(DynamoHandler, "call_action", moto_process.dynamodb_call)
    inside, most_inside, arrived = [0], [0], threading.Event()
    moto_put = DynamoDBBackend.put_item

    def put_waiting_for_company(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        inside[0] += 1
        most_inside[0] = max(most_inside[0], inside[0])
        if inside[0] > 1:
            arrived.set()
        else:
            arrived.wait(timeout=1.0)
        try:
            return moto_put(self, *args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_waiting_for_company)
    start, winners = threading.Barrier(2), []

    def take(owner: str) -> None:
        start.wait()
        try:
            ddb.put_item(TableName="t", Item={**item("L", "lease"), "owner": {"S": owner}},
                         ConditionExpression="attribute_not_exists(PK)")  # fmt: skip
            winners.append(owner)
        except ddb.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=take, args=(owner,)) for owner in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert most_inside[0] == 1
    assert len(winners) == 1
    held = ddb.get_item(TableName="t", Key={"PK": {"S": "L"}, "SK": {"S": "lease"}})["Item"]
    assert held["owner"] == {"S": winners[0]}
