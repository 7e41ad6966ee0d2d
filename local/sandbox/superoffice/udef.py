"""User-defined (udef) custom fields: types, default lengths and the string encodings of `CustomFields` values.

Encodings (SOD `encoded-values.md`): Number/Checkbox/List `[I:8]`, Decimal `[F:123.4]`, Date `[D:MM/DD/YYYY]`
(`[D:DD.MM.YYYY]` is accepted on write too), datetime `[DT:...]`, text plain. List fields also carry
`<progid>:DisplayText` / `<progid>:DisplayTooltip` companion keys on read.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from local.sandbox.superoffice.model import UdefField, bad_request

FIELD_TYPES = ("Number", "ShortText", "LongText", "Date", "UnlimitedDate", "Checkbox", "List", "Decimal")
# SOD custom-objects/learn/udef.mdx: ShortText <= 39 chars, LongText <= 199 chars.
DEFAULT_TEXT_LENGTH = {"ShortText": 39, "LongText": 199}
# FieldInfoBase.FieldType for each udef type (GET /{Entity}/CustomField).
FIELD_INFO_TYPE = {
    "Number": "Integer",
    "ShortText": "ShortText",
    "LongText": "LongText",
    "Date": "Date",
    "UnlimitedDate": "Date",
    "Checkbox": "Checkbox",
    "List": "MdoList",
    "Decimal": "Decimal",
}
# .NET type names shown in FieldProperties.FieldType.
DOTNET_TYPE = {
    "Number": "System.Int32",
    "ShortText": "System.String",
    "LongText": "System.String",
    "Date": "System.DateTime",
    "UnlimitedDate": "System.DateTime",
    "Checkbox": "System.Boolean",
    "List": "System.Int32",
    "Decimal": "System.Double",
}
# The Date type is stored as a Unix timestamp on the server (SOD udef.mdx): 1970-01-01 .. 2038-01-19.
DATE_MIN, DATE_MAX = date(1970, 1, 1), date(2038, 1, 19)

_TAGGED = re.compile(r"^\[(I|F|D|DT|M|T):(.*)\]$", re.DOTALL)


def empty_value(f: UdefField) -> Any:
    return {
        "Number": 0,
        "Decimal": 0.0,
        "Checkbox": False,
        "List": 0,
        "Date": None,
        "UnlimitedDate": None,
    }.get(f.field_type, "")


def encode(f: UdefField, value: Any) -> str:
    t = f.field_type
    if t in ("Number", "List"):
        return f"[I:{int(value or 0)}]"
    if t == "Checkbox":
        return f"[I:{1 if value else 0}]"
    if t == "Decimal":
        return f"[F:{_format_float(float(value or 0))}]"
    if t in ("Date", "UnlimitedDate"):
        if value is None:
            return "[D:01/01/0001]"
        return f"[D:{value.month:02d}/{value.day:02d}/{value.year:04d}]"
    return str(value or "")


def custom_fields(fields: list[UdefField], values: dict[str, Any]) -> dict[str, str]:
    """The `CustomFields` dict of an entity: every published udef, encoded, plus list display companions."""
    out: dict[str, str] = {}
    for f in fields:
        value = values.get(f.prog_id, empty_value(f))
        out[f.prog_id] = encode(f, value)
        if f.field_type == "List":
            out[f"{f.prog_id}:DisplayText"] = f.list_items.get(int(value or 0), "")
            out[f"{f.prog_id}:DisplayTooltip"] = ""
    return out


def display(f: UdefField, value: Any) -> Any:
    """The value as an archive (OData) column shows it."""
    t = f.field_type
    if t == "List":
        return f.list_items.get(int(value or 0), "")
    if t in ("Date", "UnlimitedDate"):
        return value.isoformat() if value else ""
    if t == "Checkbox":
        return bool(value)
    return value


def decode(f: UdefField, raw: Any, *, overlong: str) -> Any:
    """Parse a written value for field `f`. Raises 400 naming the ProgId when the value does not fit the type."""
    where = f"CustomFields[{f.prog_id!r}] ({f.field_type})"
    if raw is None:
        return empty_value(f)
    if isinstance(raw, bool):
        raw = "1" if raw else "0"
    if isinstance(raw, int | float):
        raw = str(raw)
    if not isinstance(raw, str):
        raise bad_request(f"{where}: values must be strings, got {type(raw).__name__}")
    tag, body = _split(raw)
    t = f.field_type
    if t in ("ShortText", "LongText"):
        if len(raw) > f.text_length:
            if overlong == "reject":
                raise bad_request(f"{where}: {len(raw)} characters, the field holds at most {f.text_length}")
            return raw[: f.text_length]
        return raw
    if body.strip() == "":
        return empty_value(f)
    try:
        if t == "Number":
            _expect(tag, ("I", None), where)
            return int(body)
        if t == "Checkbox":
            _expect(tag, ("I", None), where)
            lowered = body.strip().lower()
            if lowered in ("1", "true"):
                return True
            if lowered in ("0", "false"):
                return False
            raise ValueError(body)
        if t == "List":
            _expect(tag, ("I", None), where)
            item = int(body)
            if item and f.list_items and item not in f.list_items:
                raise bad_request(f"{where}: list item {item} does not exist (valid: {sorted(f.list_items)})")
            return item
        if t == "Decimal":
            _expect(tag, ("F", "I", "M", None), where)
            return float(body.replace(",", "."))
        if t in ("Date", "UnlimitedDate"):
            _expect(tag, ("D", "DT", None), where)
            parsed = parse_udef_date(body)
            if t == "Date" and not (DATE_MIN <= parsed <= DATE_MAX) and parsed != date(1, 1, 1):
                raise bad_request(f"{where}: {parsed.isoformat()} is outside {DATE_MIN}..{DATE_MAX}")
            return None if parsed == date(1, 1, 1) else parsed
    except ValueError as exc:
        raise bad_request(f"{where}: cannot read {raw!r} as {t}") from exc
    return raw


def parse_udef_date(body: str) -> date:
    text = body.strip()
    for fmt in ("%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def _split(raw: str) -> tuple[str | None, str]:
    m = _TAGGED.match(raw.strip())
    if m:
        return m.group(1), m.group(2)
    return None, raw


def _expect(tag: str | None, allowed: tuple[str | None, ...], where: str) -> None:
    if tag not in allowed:
        raise bad_request(f"{where}: encoding [{tag}:...] does not fit this field type")


def _format_float(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text
