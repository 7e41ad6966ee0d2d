"""sObject describe → leadbridge field metadata, value encodings, and the checks made before any write.

Required on create = `createable and not nillable and not defaultedOnCreate` (REST describe). Checks before a write
(so a bad export fails with a clear message and no HTTP write): unknown field, read-only field, required field
without a value, a value outside a restricted picklist, text longer than the field. Each problem names its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from leadbridge.errors import CrmFieldUnknown, CrmRejected
from leadbridge.models.crm import FieldInfo, FieldType, PicklistValue

TYPES: dict[str, FieldType] = {
    "string": FieldType.STRING,
    "combobox": FieldType.STRING,
    "encryptedstring": FieldType.STRING,
    "textarea": FieldType.TEXT,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "url": FieldType.URL,
    "picklist": FieldType.PICKLIST,
    "multipicklist": FieldType.PICKLIST,
    "int": FieldType.INTEGER,
    "long": FieldType.INTEGER,
    "double": FieldType.DECIMAL,
    "currency": FieldType.DECIMAL,
    "percent": FieldType.DECIMAL,
    "boolean": FieldType.BOOLEAN,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "reference": FieldType.REFERENCE,
    "id": FieldType.REFERENCE,
}
NUMBER_TYPES = {"double", "currency", "percent"}  # `scale` = decimal places kept; Salesforce rounds the rest
TEXT_TYPES = {"string", "combobox", "encryptedstring", "textarea", "email", "phone", "url", "picklist",
              "multipicklist"}


@dataclass(frozen=True)
class SfField:
    name: str
    label: str
    type: str
    length: int
    nillable: bool
    createable: bool
    updateable: bool
    defaulted: bool
    custom: bool
    picklist: tuple[str, ...]
    restricted: bool
    scale: int | None = None
    filterable: bool = True  # usable in a SOQL WHERE (long text areas, for one, are not)

    @property
    def required_on_create(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> SfField:
        return cls(
            name=str(raw["name"]),
            label=str(raw.get("label") or raw["name"]),
            type=str(raw.get("type") or "string"),
            length=int(raw.get("length") or 0),
            nillable=bool(raw.get("nillable", True)),
            createable=bool(raw.get("createable", False)),
            updateable=bool(raw.get("updateable", False)),
            defaulted=bool(raw.get("defaultedOnCreate", False)),
            custom=bool(raw.get("custom", False)),
            picklist=tuple(
                str(v["value"]) for v in raw.get("picklistValues") or [] if isinstance(v, Mapping) and v.get("active")
            ),
            restricted=bool(raw.get("restrictedPicklist", False)),
            scale=int(raw["scale"]) if isinstance(raw.get("scale"), int) else None,
            filterable=bool(raw.get("filterable", True)),
        )

    def info(self) -> FieldInfo:
        field_type = TYPES.get(self.type, FieldType.STRING)
        if self.type == "textarea" and self.length <= 255:
            field_type = FieldType.STRING
        return FieldInfo(
            name=self.name,
            label=self.label,
            type=field_type,
            length=self.length if self.type in TEXT_TYPES and self.length else None,
            required=self.required_on_create,
            updateable=self.createable or self.updateable,
            custom=self.custom,
            picklist=[PicklistValue(value=v, label=v) for v in self.picklist],
            restricted_picklist=self.restricted,
            scale=self.scale if self.type in NUMBER_TYPES else None,
            filterable=self.filterable,
        )


@dataclass(frozen=True)
class Describe:
    """One object's describe result, reduced to what leadbridge uses."""

    name: str
    label: str
    key_prefix: str
    fields: dict[str, SfField]

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Describe:
        fields = [SfField.of(f) for f in raw.get("fields") or [] if isinstance(f, Mapping) and f.get("name")]
        return cls(str(raw.get("name")), str(raw.get("label") or raw.get("name")), str(raw.get("keyPrefix") or ""),
                   {f.name: f for f in fields})

    def field(self, name: str) -> SfField | None:
        return self.fields.get(name) or next((f for n, f in self.fields.items() if n.lower() == name.lower()), None)

    @cached_property
    def _plain(self) -> frozenset[str]:
        """The fields whose REST value is already the canonical one (all but dates and date-times)."""
        return frozenset(name for name, f in self.fields.items() if f.type not in ("date", "datetime"))

    def decode_row(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A REST row's fields as canonical values (`decode` of each), without `attributes` and `Id`. Only dates and
        date-times are decoded one by one: an inbound page holds thousands of rows of mostly plain fields."""
        plain = self._plain
        return {
            k: v if v is None or k in plain else decode(self.field(k), v)
            for k, v in raw.items()
            if k != "attributes" and k != "Id"
        }

    def infos(self) -> list[FieldInfo]:
        return [f.info() for f in self.fields.values() if f.name != "Id"]


def encode(value: Any) -> Any:
    """A canonical value as JSON for the REST API."""
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str) and value == "":
        return None  # Salesforce stores empty text as null
    return value


def decode(field: SfField | None, value: Any) -> Any:
    """A REST value as the canonical Python value (dates and date-times parsed)."""
    if value is None or field is None:
        return value
    try:
        if field.type == "date" and isinstance(value, str):
            return date.fromisoformat(value[:10])
        if field.type == "datetime" and isinstance(value, str):
            text = value.replace("Z", "+00:00")
            if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
                text = text[:-2] + ":" + text[-2:]
            return datetime.fromisoformat(text)
    except ValueError:
        return value
    return value


def check_write(describe: Describe, values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The JSON body for a create/update of `values`, or `CrmRejected` naming every problem (before any write)."""
    problems: list[tuple[str, str]] = []
    unknown: list[str] = []
    body: dict[str, Any] = {}
    for name, raw in values.items():
        field = describe.field(name)
        if field is None:
            problems.append((name, f"{describe.name} has no field {name!r}"))
            unknown.append(name)
            continue
        if not (field.createable if creating else field.updateable):
            problems.append((field.name, f"{describe.name}.{field.name} is read-only"))
            continue
        value = encode(raw)
        if value is not None and field.type in TEXT_TYPES and not isinstance(value, str):
            value = str(value)
        if isinstance(value, str) and field.length and field.type in TEXT_TYPES and len(value) > field.length:
            problems.append((field.name, f"{describe.name}.{field.name} takes at most {field.length} characters, "
                                         f"got {len(value)}"))
            continue
        if field.type == "picklist" and field.restricted and value is not None and value not in field.picklist:
            allowed = ", ".join(field.picklist[:20])
            problems.append((field.name, f"{describe.name}.{field.name} does not allow {value!r} "
                                         f"(restricted picklist: {allowed})"))
            continue
        if field.type == "multipicklist" and field.restricted and isinstance(value, str):
            bad = [v for v in value.split(";") if v and v not in field.picklist]
            if bad:
                problems.append((field.name, f"{describe.name}.{field.name} does not allow {', '.join(bad)!r}"))
                continue
        body[field.name] = value
    given = {k for k, v in body.items() if v is not None}
    for field in describe.fields.values():
        if any(p[0] == field.name for p in problems):
            continue
        if creating and field.required_on_create and field.name not in given:
            problems.append((field.name, f"{describe.name}.{field.name} is required and has no value"))
        elif not creating and not field.nillable and field.name in body and body[field.name] is None:
            problems.append((field.name, f"{describe.name}.{field.name} is required and cannot be cleared"))
    if problems and len(problems) == len(unknown):  # only fields the org does not have (deleted meanwhile?)
        raise CrmFieldUnknown(f"Salesforce {describe.name} has no field {', '.join(unknown)}", fields=unknown)
    if problems:
        raise CrmRejected(
            f"Salesforce {describe.name} cannot be written: " + "; ".join(p[1] for p in problems),
            fields=list(dict.fromkeys(p[0] for p in problems)),
        )
    return body
