"""The table adapter writes item values to DynamoDB's attribute format itself (`leadbridge.store.table._attribute`;
the functions import no boto3, only botocore, for their cold start): it must write exactly what boto3's
TypeSerializer writes, for every type an item may hold, refuse what it refuses, and read back (with Powertools'
deserializer) what boto3's would."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from leadbridge.store.table import _deser_map, _from_dynamo, _ser_map, _to_dynamo


class Colour(StrEnum):
    RED = "red"


class Size(IntEnum):
    BIG = 3


class Items(list[Any]):
    """A list subclass: written as a list, as boto3 writes it."""


ITEM: dict[str, Any] = {
    "PK": "T#acme#salesforce",
    "empty": "",
    "unicode": "Ærø Æble 🍎",
    "yes": True,
    "no": False,
    "nothing": None,
    "zero": 0,
    "negative": -42,
    "big": 10**37,
    "float": 12.5,
    "decimal": Decimal("3.14"),
    "when": datetime(2026, 12, 2, 13, 0, tzinfo=UTC),
    "hashes": {"name": "a1b2", "phone": "c3d4", "nested": {"deeper": [1, "two", None, {"x": False}]}},
    "list": ["a", 1, True, None, 2.5, {"k": "v"}],
    "tuple": ("a", 1),
    "strings": {"x", "y"},
    "numbers": {1, 2},
    "bytes": b"\x00\x01",
    "byte_set": {b"a", b"bc"},
    "decimal_set": {Decimal("1.5"), Decimal("2")},
    "frozen": frozenset({"p", "q"}),
    "negative_decimal": Decimal("-0.001"),
    "empty_set": set(),
    "str_enum": Colour.RED,
    "int_enum": Size.BIG,
    "ordered": OrderedDict([("b", 1), ("a", Colour.RED)]),
    "sub_list": Items(["x", 2]),
    "empty_map": {},
    "empty_list": [],
}


def test_the_fast_path_writes_what_boto3s_serializer_writes() -> None:
    expected = {k: TypeSerializer().serialize(_to_dynamo(v)) for k, v in ITEM.items()}

    assert _ser_map(ITEM) == expected


def test_values_read_back_as_written() -> None:
    back = _deser_map(_ser_map(ITEM))

    assert back["hashes"] == ITEM["hashes"] and back["list"][:4] == ["a", 1, True, None]
    assert back["yes"] is True and back["zero"] == 0 and back["big"] == 10**37 and back["nothing"] is None
    assert back["float"] == 12.5 and back["when"] == "2026-12-02T13:00:00.000000Z"
    assert back["bytes"] == b"\x00\x01" and back["byte_set"] == {b"a", b"bc"}
    assert back["numbers"] == {1, 2} and back["decimal_set"] == {1.5, 2}
    boto3_reads = {k: TypeDeserializer().deserialize(v) for k, v in _ser_map(ITEM).items()}
    assert {k: v for k, v in _deser_map(_ser_map(ITEM)).items() if k not in ("bytes", "byte_set")} == {
        k: _from_dynamo(v) for k, v in boto3_reads.items() if k not in ("bytes", "byte_set")}  # fmt: skip
    assert boto3_reads["bytes"] == Binary(b"\x00\x01")  # boto3 wraps bytes; Powertools' reader gives them as bytes


@pytest.mark.parametrize("value", [{1, "mixed"}, object(), float("inf"), Decimal("NaN")])
def test_what_boto3_refuses_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        TypeSerializer().serialize(_to_dynamo(value))
    with pytest.raises(TypeError):
        _ser_map({"v": value})


@pytest.mark.parametrize("number", [10**38, -(10**38), 10**40])
def test_a_number_dynamodb_cannot_hold_is_refused_as_boto3_refuses_it(number: int) -> None:
    with pytest.raises(Exception) as refused:
        TypeSerializer().serialize(number)
    with pytest.raises(type(refused.value)):
        _ser_map({"n": number})
