"""Content hashes of CRM field values: one canonical text per value, a short hash per field and one per record.

Record links keep them, so export and the lead events write only the fields whose value changed, and the inbound
kernel tells a CRM-side change from a value leadbridge wrote itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def canonical(value: Any) -> str:
    """One text per value, so 81, 81.0 and Decimal("81") compare equal and dates compare by ISO form."""
    kind = type(value)
    # The kinds most values are, written as the encoder below writes them (same text, same hashes; the pinned hashes
    # in tests/unit/test_export_domain.py hold the two to each other), without its per-call set-up: an inbound sync
    # hashes every mapped value of every record.
    if kind is str:
        text: str = _encode_str(value)
        return text
    if kind is int:
        return int.__repr__(value)
    if kind is bool or value is None:
        return json.dumps(value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return _ENCODER.encode(value)


# What `json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)` uses, made once: with those options
# json.dumps builds a new encoder on every call, ten times per record on an inbound sync. Same output, same hashes.
_ENCODER = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)
# The encoder's own string writer (C where available), which `_ENCODER.encode(str)` ends in.
_encode_str: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring
_CANONICAL_HASH_LENGTH = 16


def canonical_texts(fields: Mapping[str, Any]) -> dict[str, str]:
    """`canonical` of each value."""
    return {name: canonical(v) for name, v in fields.items()}


def hash_text(text: str) -> str:
    """The short hash of one canonical text: what `field_hashes` keeps per field."""
    return hashlib.sha256(text.encode()).hexdigest()[:_CANONICAL_HASH_LENGTH]


def field_hashes(fields: Mapping[str, Any]) -> dict[str, str]:
    return {name: hash_text(canonical(v)) for name, v in fields.items()}


def canonical_record(texts: Mapping[str, str]) -> str:
    """`canonical(dict)` of a flat record from its values' canonical texts, without encoding each value again. Only
    for values whose text is the same top-level and nested (str, int, bool, None: `is_flat`); sorted keys and the
    default separators, as the encoder writes a dict."""
    return "{" + ", ".join(f"{_encode_str(k)}: {texts[k]}" for k in sorted(texts)) + "}"


def is_flat(value: Any) -> bool:
    """Whether `canonical` writes `value` as the encoder writes it inside a dict (see `canonical_record`)."""
    return value is None or type(value) in (str, int, bool)


def content_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(field_hashes(fields), sort_keys=True).encode()).hexdigest()
