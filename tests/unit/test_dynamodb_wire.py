"""DynamoDB's item operations are serialized by one `json.dumps` (`leadbridge.aws_clients`): the bytes on the wire
are botocore's own, and the service model still holds nothing that botocore would write differently."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import botocore.session
import pytest
from boto3.dynamodb.types import Binary, TypeSerializer
from botocore.parsers import JSONParser

from leadbridge import aws_clients

_SERIALIZE = TypeSerializer().serialize


def _item(**values: Any) -> dict[str, Any]:
    return {name: _SERIALIZE(value) for name, value in values.items()}


ITEM = _item(
    PK="T#t1",
    SK="REC#company#001",
    text="Søren's \"quoted\" café ☕",
    number=Decimal("12.50"),
    big=10**30,
    flag=True,
    nothing=None,
    blob=Binary(b"\x00\xffraw"),
    blobs={b"a", b"\x01"},
    strings={"x", "y"},
    numbers={Decimal(1), Decimal("2.5")},
    nested={"list": [1, "two", {"three": [b"4"]}], "map": {"deep": {"deeper": None}}},
    empty_list=[],
    empty_map={},
)
KEY = {"PK": {"S": "T#t1"}, "SK": {"S": "REC#company#001"}}

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("PutItem", {"TableName": "t", "Item": ITEM, "ConditionExpression": "attribute_not_exists(PK)"}),
    ("GetItem", {"TableName": "t", "Key": KEY, "ConsistentRead": True, "ProjectionExpression": "#a",
                 "ExpressionAttributeNames": {"#a": "SK"}}),
    ("UpdateItem", {"TableName": "t", "Key": KEY, "UpdateExpression": "SET #v = :v ADD #n :one",
                    "ExpressionAttributeNames": {"#v": "value", "#n": "count"},
                    "ExpressionAttributeValues": {":v": ITEM["nested"], ":one": {"N": "1"}},
                    "ReturnValues": "ALL_NEW"}),
    ("DeleteItem", {"TableName": "t", "Key": KEY, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
    ("Query", {"TableName": "t", "IndexName": "GSI1", "KeyConditionExpression": "PK = :p AND begins_with(SK, :s)",
               "ExpressionAttributeValues": {":p": {"S": "T#t1"}, ":s": {"S": "REC#"}}, "Limit": 50,
               "ScanIndexForward": False, "ExclusiveStartKey": {**KEY, "bin": {"B": b"\x02"}}}),
    ("Scan", {"TableName": "t", "Segment": 0, "TotalSegments": 2, "Select": "COUNT"}),
    ("BatchGetItem", {"RequestItems": {"t": {"Keys": [KEY, KEY], "ConsistentRead": True}}}),
    ("BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": ITEM}}, {"DeleteRequest": {"Key": KEY}}]}}),
    ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "t", "Key": KEY}}]}),
    ("TransactWriteItems", {"ClientRequestToken": "token-1", "TransactItems": [
        {"Put": {"TableName": "t", "Item": ITEM}},
        {"ConditionCheck": {"TableName": "t", "Key": KEY, "ConditionExpression": "attribute_exists(PK)"}},
        {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "REMOVE #a",
                    "ExpressionAttributeNames": {"#a": "gone"}}},
    ]}),
]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("operation", "params"), REQUESTS, ids=[op for op, _ in REQUESTS])
def test_an_item_request_is_what_botocore_would_send(aws_env: None, operation: str, params: dict[str, Any]) -> None:
    made: Any = aws_clients.client("dynamodb")
    model = made.meta.service_model.operation_model(operation)
    standard = made._serializer._standard.serialize_to_request(params, model)
    ours = made._serializer.serialize_to_request(params, model)
    assert ours["body"] == standard["body"], operation  # byte for byte, key order included
    assert {k: v for k, v in ours.items() if k != "body"} == {k: v for k, v in standard.items() if k != "body"}
    assert json.loads(ours["body"]) == json.loads(standard["body"])


def test_other_operations_are_botocore_s_own(aws_env: None) -> None:
    made: Any = aws_clients.client("dynamodb")
    model = made.meta.service_model.operation_model("DescribeTable")
    assert "DescribeTable" not in aws_clients.ITEM_OPERATIONS
    ours = made._serializer.serialize_to_request({"TableName": "t"}, model)
    assert json.loads(ours["body"]) == {"TableName": "t"}
    assert ours["headers"]["X-Amz-Target"] == "DynamoDB_20120810.DescribeTable"


def test_a_value_that_is_no_attribute_value_is_refused(aws_env: None) -> None:
    made: Any = aws_clients.client("dynamodb")
    model = made.meta.service_model.operation_model("PutItem")
    with pytest.raises(TypeError, match="set is not a DynamoDB attribute value"):
        made._serializer.serialize_to_request({"TableName": "t", "Item": {"x": {"SS": {"a"}}}}, model)


def _wire(value: Any) -> Any:
    """An answer's values as DynamoDB sends them: blobs in base64."""
    return json.loads(json.dumps(value, default=aws_clients._base64))


STORED = {**ITEM, "B": {"M": {"B": {"S": "an attribute named B, not a blob"}}}, "BS": {"NULL": True}}
ANSWERS: list[tuple[str, dict[str, Any]]] = [
    ("GetItem", {"Item": STORED, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}),
    ("GetItem", {}),  # no such item
    ("PutItem", {"Attributes": STORED}),
    ("UpdateItem", {"Attributes": {"count": {"N": "2"}}}),
    ("DeleteItem", {"Attributes": KEY, "ItemCollectionMetrics": {"ItemCollectionKey": {"PK": {"B": b"k"}},
                                                                 "SizeEstimateRangeGB": [0.0, 1.0]}}),
    ("Query", {"Items": [STORED, KEY], "Count": 2, "ScannedCount": 3, "LastEvaluatedKey": KEY}),
    ("Scan", {"Count": 0, "ScannedCount": 10, "Items": []}),
    ("BatchGetItem", {"Responses": {"t": [STORED, KEY]}, "UnprocessedKeys": {"t": {"Keys": [KEY],
                                                                                "ConsistentRead": True}}}),
    ("BatchWriteItem", {"UnprocessedItems": {"t": [{"PutRequest": {"Item": STORED}},
                                                   {"DeleteRequest": {"Key": KEY}}]}}),
    ("BatchWriteItem", {"UnprocessedItems": {}}),
    ("TransactGetItems", {"Responses": [{"Item": STORED}, {}]}),
    ("TransactWriteItems", {}),
]


@pytest.mark.parametrize(("operation", "answer"), ANSWERS, ids=[f"{op}-{i}" for i, (op, _) in enumerate(ANSWERS)])
def test_an_item_answer_reads_as_botocore_reads_it(aws_env: None, operation: str, answer: dict[str, Any]) -> None:
    made: Any = aws_clients.client("dynamodb")
    shape: Any = made.meta.service_model.operation_model(operation).output_shape
    ours = made._endpoint._response_parser_factory.create_parser("json")
    assert isinstance(ours, aws_clients._ItemResponses)
    body = json.dumps(_wire(answer)).encode()
    response = {"status_code": 200, "headers": {"x-amzn-requestid": "req-1"}, "body": body}
    expected = JSONParser().parse(response, shape)
    assert ours.parse(dict(response), shape) == expected
    assert expected["ResponseMetadata"]["RequestId"] == "req-1"


def test_a_blob_comes_back_as_bytes(aws_env: None) -> None:
    made: Any = aws_clients.client("dynamodb")
    shape = made.meta.service_model.operation_model("GetItem").output_shape
    body = json.dumps(_wire({"Item": ITEM})).encode()
    parsed = made._endpoint._response_parser_factory.create_parser("json").parse(
        {"status_code": 200, "headers": {}, "body": body}, shape
    )
    assert parsed["Item"]["blob"] == {"B": b"\x00\xffraw"}
    assert sorted(parsed["Item"]["blobs"]["BS"]) == [b"\x01", b"a"]
    assert parsed["Item"]["nested"]["M"]["list"]["L"][2]["M"]["three"]["L"] == [{"B": b"4"}]


def test_an_error_is_parsed_by_botocore(aws_env: None) -> None:
    made: Any = aws_clients.client("dynamodb")
    shape = made.meta.service_model.operation_model("PutItem").output_shape
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                       "message": "The conditional request failed"}).encode()  # fmt: skip
    parsed = made._endpoint._response_parser_factory.create_parser("json").parse(
        {"status_code": 400, "headers": {"x-amzn-requestid": "req-2"}, "body": body}, shape
    )
    assert parsed["Error"] == {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}


def test_the_item_operations_hold_nothing_json_would_carry_differently() -> None:
    """What botocore's JSON serializer and parser do beyond writing and reading the value: timestamps, renamed
    members, host prefixes, blobs (base64, which `_base64` and `_decode_blobs` handle only where an attribute value
    has them). A botocore release whose DynamoDB model added one of those to an item operation fails here, before
    it could change a request or an answer."""
    model = botocore.session.get_session().get_service_model("dynamodb")
    assert model.protocol == "json"
    for name in aws_clients.ITEM_OPERATIONS:
        operation = model.operation_model(name)
        assert "hostPrefix" not in (operation.endpoint or {}), name
        assert operation.output_shape is not None and operation.output_shape.name in aws_clients.ITEM_OUTPUTS, name
        problems: list[str] = []
        _walk(operation.input_shape, name, problems, seen=set())
        _walk(operation.output_shape, f"{name}->", problems, seen=set())
        assert problems == [], problems
    # The walk finds what it looks for: an operation with a timestamp in its input.
    found: list[str] = []
    _walk(model.operation_model("RestoreTableToPointInTime").input_shape, "Restore", found, seen=set())
    assert found == ["Restore.RestoreDateTime"]


def _walk(shape: Any, path: str, problems: list[str], seen: set[str]) -> None:
    if shape.type_name == "timestamp" or "name" in shape.serialization or "timestampFormat" in shape.serialization:
        problems.append(path)
    if shape.type_name == "blob" and not path.endswith((".B", ".BS[]")):
        problems.append(path)
    if getattr(shape, "is_document_type", False):
        problems.append(path)
    if shape.name in seen:  # AttributeValue is recursive (M, L)
        return
    seen = seen | {shape.name}
    if shape.type_name == "structure":
        for member, member_shape in shape.members.items():
            if "name" in member_shape.serialization:
                problems.append(f"{path}.{member}")
            _walk(member_shape, f"{path}.{member}", problems, seen)
    elif shape.type_name == "list":
        _walk(shape.member, f"{path}[]", problems, seen)
    elif shape.type_name == "map":
        _walk(shape.value, f"{path}{{}}", problems, seen)
