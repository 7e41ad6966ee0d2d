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
    if isinstance(value, bool) or value is None:
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


def field_hashes(fields: Mapping[str, Any]) -> dict[str, str]:
    return {name: hashlib.sha256(canonical(v).encode()).hexdigest()[:16] for name, v in fields.items()}


def content_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(field_hashes(fields), sort_keys=True).encode()).hexdigest()
