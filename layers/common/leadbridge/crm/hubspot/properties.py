"""HubSpot properties (reference §4) → leadbridge field metadata, value conversions, and the checks made before any
write.

Every property value travels as a string (§2). Reading, a value is converted by its property's `type`: `number` →
int or Decimal, `bool` → bool, `date` → date, `datetime` → datetime (UTC), the rest stays text (`""` is no value).
Writing, the reverse: booleans `true`/`false`, numbers in plain notation, dates `YYYY-MM-DD`, date-times ISO-8601
with milliseconds and `Z`, no value `""` (what clears a property).

Checks before a write (a refusal names every bad property and sends nothing): unknown property, read-only or
calculated property, an `enumeration` value outside its options (owners excepted: their options are the portal's
owners, which the connector does not re-read per write), a number, boolean or date that does not parse. HubSpot
marks no property required for API writes, so none is `required`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from leadbridge.errors import CrmFieldUnknown, CrmRejected
from leadbridge.models.crm import FieldInfo, FieldType, PicklistValue

OWNER_PROPERTY = "hubspot_owner_id"
EMAIL_PROPERTIES = {"email", "hs_additional_emails"}
URL_PROPERTIES = {"domain", "website", "hs_linkedin_url", "linkedin_company_page"}


@dataclass(frozen=True)
class Property:
    name: str
    label: str
    type: str  # bool | date | datetime | enumeration | number | phone_number | string
    field_type: str
    options: tuple[tuple[str, str], ...]  # (value, label), hidden options left out
    read_only: bool
    custom: bool

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Property:
        meta = raw.get("modificationMetadata")
        meta = meta if isinstance(meta, Mapping) else {}
        return cls(
            name=str(raw["name"]),
            label=str(raw.get("label") or raw["name"]),
            type=str(raw.get("type") or "string"),
            field_type=str(raw.get("fieldType") or "text"),
            options=tuple(
                (str(o["value"]), str(o.get("label") or o["value"]))
                for o in raw.get("options") or []
                if isinstance(o, Mapping) and o.get("value") is not None and not o.get("hidden")
            ),
            read_only=bool(raw.get("calculated")) or bool(meta.get("readOnlyValue")),
            custom=not bool(raw.get("hubspotDefined", False)),
        )

    @property
    def restricted(self) -> bool:
        return self.type == "enumeration" and self.name != OWNER_PROPERTY and bool(self.options)

    def info(self) -> FieldInfo:
        return FieldInfo(
            name=self.name,
            label=self.label,
            type=self._field_type(),
            updateable=not self.read_only,
            custom=self.custom,
            picklist=[PicklistValue(value=v, label=label) for v, label in self.options]
            if self.type == "enumeration" and self.name != OWNER_PROPERTY else [],
            restricted_picklist=self.restricted,
        )  # fmt: skip

    def _field_type(self) -> FieldType:
        if self.name == OWNER_PROPERTY:
            return FieldType.REFERENCE
        if self.name in EMAIL_PROPERTIES:
            return FieldType.EMAIL
        if self.name in URL_PROPERTIES:
            return FieldType.URL
        if self.type == "phone_number" or self.field_type == "phonenumber":
            return FieldType.PHONE
        return {
            "bool": FieldType.BOOLEAN,
            "date": FieldType.DATE,
            "datetime": FieldType.DATETIME,
            "enumeration": FieldType.PICKLIST,
            "number": FieldType.DECIMAL,
        }.get(self.type, FieldType.TEXT if self.field_type in ("textarea", "html") else FieldType.STRING)


@dataclass(frozen=True)
class Properties:
    """One object's properties."""

    object: str
    by_name: dict[str, Property]

    @classmethod
    def of(cls, obj: str, raw: Any) -> Properties:
        results = raw.get("results") if isinstance(raw, Mapping) else None
        props = [Property.of(p) for p in results or [] if isinstance(p, Mapping) and p.get("name")
                 and not p.get("archived")]  # fmt: skip
        return cls(obj, {p.name: p for p in props})

    def get(self, name: str) -> Property | None:
        return self.by_name.get(name)

    def infos(self) -> list[FieldInfo]:
        return [p.info() for p in self.by_name.values()]


def decode(prop: Property | None, value: Any) -> Any:
    """A HubSpot string as the canonical value (unknown property or unreadable value: the string as it came)."""
    if value is None or value == "":
        return None
    if prop is None or not isinstance(value, str):
        return value
    try:
        if prop.type == "number":
            number = Decimal(value)
            return int(number) if number == number.to_integral_value() and "." not in value else number
        if prop.type == "bool":
            return value.lower() == "true"
        if prop.type == "date":
            return date.fromisoformat(value[:10]) if not value.isdigit() else _from_millis(value).date()
        if prop.type == "datetime":
            return _from_millis(value) if value.isdigit() else parse_datetime(value)
    except (ValueError, InvalidOperation):
        return value
    return value


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_millis(value: str) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def encode(prop: Property, value: Any) -> str:
    """The canonical value as the string HubSpot stores; ValueError when it cannot be one of the property's type."""
    if value is None:
        return ""
    if prop.type == "enumeration" and isinstance(value, list | tuple | set | frozenset):
        # A multi-select (checkbox) property holds its options joined by ';' (a list's repr would be refused).
        return ";".join(str(v).strip() for v in value if v is not None and str(v).strip())
    if prop.type == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
        if str(value).lower() in ("true", "false"):
            return str(value).lower()
        raise ValueError("not true or false")
    if prop.type == "number":
        if isinstance(value, bool):
            raise ValueError("not a number")
        number = Decimal(str(value).strip())  # decimal.InvalidOperation when it is no number (the caller catches it)
        if not number.is_finite():
            raise ValueError("not a finite number")
        return format(number.normalize(), "f")
    if prop.type in ("date", "datetime"):
        if isinstance(value, str):
            value = parse_datetime(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            if prop.type == "date":
                return moment.date().isoformat()  # the calendar date it names where it was written, not in UTC
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        if isinstance(value, date):
            return value.isoformat() if prop.type == "date" else f"{value.isoformat()}T00:00:00.000Z"
        raise ValueError("not a date")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def check_write(props: Properties, values: Mapping[str, Any]) -> dict[str, str]:
    """The `properties` of a create/update body for `values`, or `CrmRejected` naming every problem. Only unknown
    properties: `CrmFieldUnknown` (deleted since the metadata was read?), so the caller can re-read and go on."""
    problems: list[tuple[str, str]] = []
    unknown: list[str] = []
    body: dict[str, str] = {}
    for name, raw in values.items():
        prop = props.get(name)
        if prop is None:
            problems.append((name, f"{props.object} has no property {name!r}"))
            unknown.append(name)
            continue
        if prop.read_only:
            problems.append((name, f"{props.object}.{name} is read-only"))
            continue
        try:
            value = encode(prop, raw)
        except (ValueError, InvalidOperation):
            problems.append((name, f"{props.object}.{name} takes a {prop.type}, not {raw!r}"))
            continue
        if value and prop.restricted:
            allowed = {v for v, _ in prop.options}
            chosen = value.split(";") if prop.field_type == "checkbox" else [value]
            if not set(chosen) <= allowed:
                shown = ", ".join(v for v, _ in prop.options[:20])
                problems.append((name, f"{props.object}.{name} does not allow {value!r} (options: {shown})"))
                continue
        body[name] = value
    if problems and len(problems) == len(unknown):
        raise CrmFieldUnknown(f"HubSpot {props.object} has no property {', '.join(unknown)}", fields=unknown)
    if problems:
        raise CrmRejected(f"HubSpot {props.object} cannot be written: " + "; ".join(p[1] for p in problems),
                          fields=list(dict.fromkeys(p[0] for p in problems)))  # fmt: skip
    return body
