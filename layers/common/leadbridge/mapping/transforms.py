"""Value transforms of the field-mapping engine: pure functions over plain Python values.

Each raises `TransformError` (with a sentence a user can act on) when a value cannot be transformed; the engine turns
that into a skipped field with reason `invalid_value` instead of failing the whole record.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from leadbridge.models.lead import split_full_name
from leadbridge.models.settings import CountryMapping


class TransformError(ValueError):
    pass


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def truncate(value: str, length: int) -> str:
    """Cut `value` to at most `length` characters (a plain cut: ids and numbers must not gain a marker)."""
    return value[:length]


def map_country(value: Any, mapping: CountryMapping) -> str | None:
    """App country/location → CRM country name (seed 002 table, configurable).

    Tries the whole value, then each comma-separated part from the last ("Oslo, Norge" → "Norge" → "Norway"); a value
    that already is one of the CRM names is kept. Unknown or empty → `mapping.default` (None: keep unknown values as
    they are, leave empty ones empty).
    """
    if is_empty(value):
        return mapping.default
    text = str(value).strip()
    by_key = {k.strip().casefold(): v for k, v in mapping.names.items()}
    targets = {v.strip().casefold(): v for v in mapping.names.values()}
    candidates = [text, *reversed([p.strip() for p in text.split(",") if p.strip()])]
    for candidate in candidates:
        key = candidate.casefold()
        if key in by_key:
            return by_key[key]
        if key in targets:
            return targets[key]
    return mapping.default if mapping.default is not None else text


def split_name(full_name: Any, part: str) -> str | None:
    """First or last part of a full name: the last word is the last name, everything before it the first name
    ("Anne Marie Hansen" → "Anne Marie" / "Hansen"). A single word is a first name."""
    if is_empty(full_name):
        return None
    first, last = split_full_name(str(full_name))
    return first if part == "first" else last


def web_domain(value: Any) -> str | None:
    """The host of a web address, lower-cased, without `www.`, port, path or credentials ("https://www.Acme.dk/om"
    → "acme.dk"; "acme.dk" stays). Empty stays None."""
    if is_empty(value):
        return None
    text = str(value).strip()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.lower().rstrip(".")
    return host.removeprefix("www.") or None


def join(values: Iterable[Any], separator: str) -> str | None:
    parts = [to_text(v) for v in values if not is_empty(v)]
    return separator.join(parts) if parts else None


def to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        # format(..., "f") avoids "1.5E+6" for large round amounts.
        return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# "done"/"open" let an activity status feed a CRM completed flag (seed 004: Done → task completed).
_TRUE = {"true", "yes", "y", "1", "on", "ja", "x", "done", "completed"}
_FALSE = {"false", "no", "n", "0", "off", "nej", "", "open", "not_started"}


def convert(value: Any, to: str) -> Any:
    """Convert to one of "string", "integer", "decimal", "boolean", "date", "datetime"; None stays None."""
    if value is None:
        return None
    try:
        if to == "string":
            return to_text(value)
        if to == "integer":
            return _to_integer(value)
        if to == "decimal":
            return _to_decimal(value)
        if to == "boolean":
            return _to_boolean(value)
        if to == "date":
            return _to_date(value)
        if to == "datetime":
            return _to_datetime(value)
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise TransformError(f"{to_text(value)[:50]!r} is not a valid {to}") from exc
    raise TransformError(f"unknown conversion {to!r}")


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value).strip().replace(" ", "").replace("\u00a0", "")
    # "1.234,5" (Danish) and "1,234.5" (English): the last separator is the decimal one.
    if "," in text and "." in text:
        text = text.replace(".", "").replace(",", ".") if text.rfind(",") > text.rfind(".") else text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    result = Decimal(text)
    if not result.is_finite():
        raise ValueError("not finite")
    return result


def _to_integer(value: Any) -> int:
    number = _to_decimal(value)
    return int(number.to_integral_value())


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    return datetime.fromisoformat(text).date() if "T" in text or " " in text else date.fromisoformat(text)


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
