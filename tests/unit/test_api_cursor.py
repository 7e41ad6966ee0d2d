"""Opaque cursors: a round trip works; anything else, including a well-formed cursor forged for another tenant, is
an InvalidCursor (HTTP 400) before any key reaches DynamoDB."""

from __future__ import annotations

import base64
import json

import pytest

from leadbridge.errors import InvalidCursor
from leadbridge.store.table import _scope_digest, decode_cursor, encode_cursor

KEY = {"PK": "T#acme", "SK": "LOG#2025-03-01T12:00:00.000000Z#01J"}
CHECK = {"exact": {"PK": "T#acme"}, "prefixed": {"SK": "LOG#"}}


def test_round_trip_and_opacity():
    token = encode_cursor(KEY, scope="synclog|acme")
    assert "=" not in token and "/" not in token and "+" not in token
    assert decode_cursor(token, scope="synclog|acme", **CHECK) == KEY


def test_cursor_of_another_scope_is_rejected():
    token = encode_cursor(KEY, scope="synclog|acme|status=failed")
    with pytest.raises(InvalidCursor):
        decode_cursor(token, scope="synclog|acme", **CHECK)


def test_forged_cursor_with_the_right_scope_but_another_tenants_key_is_rejected():
    # The scope digest is derived from public facts, so a client can compute it; the key check is what protects B.
    forged = {"s": _scope_digest("synclog|acme"), "k": {"PK": "T#bravo", "SK": "LOG#2025"}}
    token = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    with pytest.raises(InvalidCursor) as info:
        decode_cursor(token, scope="synclog|acme", **CHECK)
    assert info.value.errors[0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    "payload",
    [
        {"s": _scope_digest("synclog|acme"), "k": {"PK": "T#acme", "SK": "CONN#superoffice"}},  # other item type
        {"s": _scope_digest("synclog|acme"), "k": {"PK": "T#acme"}},  # missing attribute
        {"s": _scope_digest("synclog|acme"), "k": {**KEY, "GSI3PK": "T#bravo#LEAD#1"}},  # extra attribute
        {"s": _scope_digest("synclog|acme"), "k": {"PK": "T#acme", "SK": 5}},  # not a string
        {"s": _scope_digest("synclog|acme"), "k": "T#acme"},
        ["not", "an", "object"],
    ],
)
def test_structurally_wrong_cursors_are_rejected(payload):
    token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(InvalidCursor):
        decode_cursor(token, scope="synclog|acme", **CHECK)


@pytest.mark.parametrize("token", ["", "%%%", "bm90IGpzb24", "\u00e9t\u00e9"])
def test_garbage_is_rejected(token):
    with pytest.raises(InvalidCursor):
        decode_cursor(token, scope="synclog|acme", **CHECK)


def test_tampering_with_any_character_never_yields_another_tenants_key():
    token = encode_cursor(KEY, scope="synclog|acme")
    for i in range(len(token)):
        for replacement in "AZaz09-_":
            tampered = token[:i] + replacement + token[i + 1 :]
            try:
                key = decode_cursor(tampered, scope="synclog|acme", **CHECK)
            except InvalidCursor:
                continue
            assert key["PK"] == "T#acme" and key["SK"].startswith("LOG#")


def test_an_optional_count_is_kept_when_it_is_a_small_number_and_refused_otherwise():
    inside = {**KEY, "taken": "17"}
    token = encode_cursor(inside, scope="synclog|acme")
    assert decode_cursor(token, scope="synclog|acme", **CHECK, counts=("taken",)) == inside
    plain = encode_cursor(KEY, scope="synclog|acme")
    assert decode_cursor(plain, scope="synclog|acme", **CHECK, counts=("taken",)) == KEY
    with pytest.raises(InvalidCursor):  # not a count this query accepts
        decode_cursor(token, scope="synclog|acme", **CHECK)
    for bad in ("-1", "1e3", "1234567", ""):
        with pytest.raises(InvalidCursor):
            decode_cursor(
                encode_cursor({**KEY, "taken": bad}, scope="synclog|acme"), scope="synclog|acme", **CHECK,
                counts=("taken",),
            )  # fmt: skip
