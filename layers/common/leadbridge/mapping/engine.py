"""The field-mapping engine: app record → CRM fields (`apply`) and CRM fields → app values (`apply_inbound`).

Export, sync and the settings preview all call `apply`, so what the preview shows is by construction what an export
writes. Output field names are the connector's field names (`CrmRecord.fields`), custom fields by prog id / API name.

Outbound, per mapping: read the app field(s), run the transforms in order, then fit the value to the CRM field (type
conversion, truncation to the CRM's length, picklist label → value). A field is left out and listed in `skipped`
(never sent) when it is missing in the CRM, read-only, empty, or its value cannot be converted. Empty values are not
sent so an export never blanks data someone typed into the CRM.

What the CRM's metadata says it would refuse (a value outside a restricted picklist, a value the field's type cannot
hold, an invalid e-mail address) is also listed in `refused`; writers call `mapping.validation.refuse_before_write`
with the plan before their first CRM write, which answers 422 naming each field. What the CRM would silently change
(text cut to its length, a number rounded to the field's precision) is written and listed in `warnings`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.crm.defaults import profile
from leadbridge.mapping import transforms as t
from leadbridge.models.crm import CrmObject, FieldInfo, FieldType
from leadbridge.models.lead import AppFieldKind, app_fields
from leadbridge.models.settings import ConflictPolicy, FieldMapping, SettingsDocument

TEXT_TYPES = frozenset(
    {
        FieldType.STRING,
        FieldType.TEXT,
        FieldType.EMAIL,
        FieldType.PHONE,
        FieldType.URL,
        FieldType.COUNTRY,
        FieldType.PICKLIST,
    }
)


class SkipReason(StrEnum):
    MISSING_IN_CRM = "missing_in_crm"
    READ_ONLY = "read_only"
    EMPTY_VALUE = "empty_value"
    INVALID_VALUE = "invalid_value"
    RULE_EXCLUDED = "rule_excluded"
    STAGE_NOT_SENT = "stage_not_sent"
    OBJECT_OFF = "object_off"
    STAGE_NOT_MAPPED = "stage_not_mapped"  # inbound: a CRM stage/status no status_mapping entry maps to an app stage
    ON_EXISTING = "on_existing"  # export into an existing CRM record: the mapping's `on_existing` kept the CRM value


class Skipped(BaseModel):
    model_config = ConfigDict(defer_build=True)

    crm_field: str | None = None
    app_fields: list[str] = Field(default_factory=list)
    reason: SkipReason
    detail: str


class Refusal(BaseModel):
    """A value the CRM's metadata says the CRM would refuse: `type` is `restricted_picklist`, `wrong_type`,
    `invalid_email` or `required` (the last added by `mapping.validation`)."""

    model_config = ConfigDict(defer_build=True)

    crm_field: str
    app_fields: list[str] = Field(default_factory=list)
    type: str
    message: str


class FieldRefused(t.TransformError):
    """Raised while fitting a value to its CRM field: the CRM would refuse it (`kind` is the `Refusal.type`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_EMAIL = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\".]{2,}$")


class MappedRecord(BaseModel):
    """What one app record becomes in the CRM: the fields to write, and what was left out and why."""

    model_config = ConfigDict(defer_build=True)

    object: CrmObject
    crm_object: str
    app_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    skipped: list[Skipped] = Field(default_factory=list)
    truncated: list[str] = Field(default_factory=list)  # CRM fields whose text was cut to the CRM's length
    refused: list[Refusal] = Field(default_factory=list)  # what the CRM would refuse (also in `skipped`)
    warnings: list[str] = Field(default_factory=list)  # values the CRM field changes (precision lost)


def fields_by_name(crm_fields: Iterable[FieldInfo] | Mapping[str, FieldInfo] | None) -> dict[str, FieldInfo] | None:
    if crm_fields is None:
        return None
    if isinstance(crm_fields, Mapping):
        return dict(crm_fields)
    return {f.name: f for f in crm_fields}


def apply(
    settings: SettingsDocument,
    obj: CrmObject,
    record: Mapping[str, Any] | BaseModel,
    crm_fields: Iterable[FieldInfo] | Mapping[str, FieldInfo] | None,
) -> MappedRecord:
    """Map one app record of `obj` to CRM fields with the document's mappings for `obj`.

    `crm_fields` is the CRM's live metadata for the object (`Connector.fields(obj)`); None skips metadata checks
    (no truncation to CRM lengths, no type fitting) and is meant only for callers that have none.
    """
    values = record.model_dump() if isinstance(record, BaseModel) else dict(record)
    meta = fields_by_name(crm_fields)
    out = MappedRecord(
        object=obj,
        crm_object=settings.objects.for_object(obj).crm_object,
        app_id=None if values.get("id") is None else str(values["id"]),
    )
    for mapping in settings.field_mappings.for_object(obj):
        if not mapping.outbound:
            continue
        _apply_one(settings, mapping, values, meta, out)
    return out


def _apply_one(
    settings: SettingsDocument,
    mapping: FieldMapping,
    values: Mapping[str, Any],
    meta: Mapping[str, FieldInfo] | None,
    out: MappedRecord,
) -> None:
    target = mapping.crm_field
    info = None if meta is None else meta.get(target)

    def skip(reason: SkipReason, detail: str) -> None:
        out.skipped.append(Skipped(crm_field=target, app_fields=list(mapping.app_fields), reason=reason, detail=detail))

    if meta is not None and info is None:
        skip(SkipReason.MISSING_IN_CRM, f"the CRM has no field {target!r} on {out.crm_object}; create it to sync it")
        return
    if info is not None and not info.updateable:
        skip(SkipReason.READ_ONLY, f"{target!r} is read-only in the CRM")
        return

    cut = False
    notes: list[str] = []
    try:
        value = _run_transforms(settings, mapping, values)
        if t.is_empty(value):
            skip(SkipReason.EMPTY_VALUE, f"no value in {', '.join(mapping.app_fields)}")
            return
        if info is not None and info.type is FieldType.REFERENCE and _is_country(mapping):
            value = _country_value(settings, value)
        else:
            explicit_length = next((x.length for x in mapping.transforms if x.kind == "truncate"), None)
            value, cut = _fit(value, info, explicit_length, notes)
    except FieldRefused as exc:
        skip(SkipReason.INVALID_VALUE, str(exc))
        out.refused.append(
            Refusal(crm_field=target, app_fields=list(mapping.app_fields), type=exc.kind, message=str(exc))
        )
        return
    except t.TransformError as exc:
        skip(SkipReason.INVALID_VALUE, str(exc))
        return
    out.fields[target] = value
    out.warnings += notes
    if cut:
        out.truncated.append(target)


def _is_country(mapping: FieldMapping) -> bool:
    return any(x.kind == "country" for x in mapping.transforms)


def _country_value(settings: SettingsDocument, name: Any) -> str:
    """A country name as the value of a CRM country reference field (e.g. SuperOffice CountryId)."""
    values = {k.casefold(): v for k, v in settings.country_mapping.crm_values.items()}
    found = values.get(str(name).strip().casefold())
    if found is None:
        raise t.TransformError(
            f"no CRM country id is known for {name!r}; add it to country_mapping.crm_values or country_mapping.names"
        )
    return found


def _run_transforms(settings: SettingsDocument, mapping: FieldMapping, values: Mapping[str, Any]) -> Any:
    # Several app fields travel as a list until a join transform combines them.
    value: Any = (
        [values.get(name) for name in mapping.app_fields]
        if len(mapping.app_fields) > 1
        else values.get(mapping.app_fields[0])
    )
    for transform in mapping.transforms:
        if transform.kind == "join":
            value = t.join(value if isinstance(value, list) else [value], transform.separator)
        elif transform.kind == "truncate":
            continue  # applied with the CRM length in _fit
        elif isinstance(value, list):
            value = [_scalar_transform(settings, transform, v) for v in value]
        else:
            value = _scalar_transform(settings, transform, value)
    return value


def _scalar_transform(settings: SettingsDocument, transform: Any, value: Any) -> Any:
    kind = transform.kind
    if kind == "country":
        return t.map_country(value, settings.country_mapping)
    if kind == "split_name":
        return t.split_name(value, transform.part)
    if kind == "convert":
        return t.convert(value, transform.to)
    if kind == "default":
        return transform.value if t.is_empty(value) else value
    if kind == "domain":
        return t.web_domain(value)
    raise t.TransformError(f"unknown transform {kind!r}")


def _fit(value: Any, info: FieldInfo | None, explicit_length: int | None, notes: list[str]) -> tuple[Any, bool]:
    """Convert `value` to what the CRM field holds and cut text to its length. Returns (value, was_cut); a number
    the field cannot hold exactly is rounded and noted in `notes`."""
    if info is not None:
        value = _to_crm_type(value, info, notes)
    if isinstance(value, Decimal):
        value = float(value)
    if not isinstance(value, str):
        return value, False
    limits = [n for n in (explicit_length, info.length if info else None) if n]
    if limits and len(value) > min(limits):
        return t.truncate(value, min(limits)), True
    return value, False


def _to_crm_type(value: Any, info: FieldInfo, notes: list[str]) -> Any:
    kind = info.type
    if kind in TEXT_TYPES:
        text = t.to_text(value)
        if kind is FieldType.PICKLIST and info.picklist:
            return _picklist_value(text, info)
        if kind is FieldType.EMAIL and not _EMAIL.fullmatch(text.strip()):
            raise FieldRefused(
                "invalid_email", f"{text[:80]!r} is not a valid e-mail address, which {info.name!r} must hold"
            )
        return text.strip() if kind is FieldType.EMAIL else text
    to = {
        FieldType.INTEGER: "integer",
        FieldType.DECIMAL: "decimal",
        FieldType.BOOLEAN: "boolean",
        FieldType.DATE: "date",
        FieldType.DATETIME: "datetime",
    }.get(kind)
    if to is None:
        raise t.TransformError(f"{info.name!r} is a {kind.value} field and cannot be set by a field mapping")
    try:
        converted = t.convert(value, to)
    except t.TransformError as exc:
        raise FieldRefused("wrong_type", f"{info.name!r} holds {kind.value} values: {exc}") from exc
    if kind is FieldType.INTEGER or (kind is FieldType.DECIMAL and info.scale is not None):
        exact = t.convert(value, "decimal")
        places = 0 if kind is FieldType.INTEGER else int(info.scale or 0)
        rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if rounded != exact:
            what = "whole numbers" if places == 0 else f"{places} decimal place{'s' if places != 1 else ''}"
            notes.append(
                f"{info.name}: {t.to_text(value)} was written as {t.to_text(rounded)} (the CRM field holds {what})"
            )
        return int(rounded) if kind is FieldType.INTEGER else float(rounded)
    if kind is FieldType.DECIMAL:
        return float(converted)
    return converted


def _picklist_value(text: str, info: FieldInfo) -> str:
    wanted = text.strip().casefold()
    for option in info.picklist:
        if wanted in (option.value.casefold(), option.label.casefold()):
            return option.value
    if info.restricted_picklist:
        allowed = ", ".join(o.label for o in info.picklist[:20])
        raise FieldRefused(
            "restricted_picklist", f"{text[:50]!r} is not an allowed value of {info.name!r} (allowed: {allowed})"
        )
    return text


# --- inbound ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class InboundValues:
    """CRM values mapped onto app fields, with the conflict policy of each app field. (A plain dataclass: one is made
    per record an inbound sync reads, and nothing validates or serializes it.)"""

    object: CrmObject
    values: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, ConflictPolicy] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # app field → the CRM field its value came from
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _InboundField:
    crm_field: str
    app_field: str
    kind: AppFieldKind
    policy: ConflictPolicy


@dataclass(frozen=True, slots=True)
class InboundPlan:
    """What `apply_inbound` works out from the settings alone (the mappings in precedence order, each app field's
    kind, the CRM stage and status fields): made once per page by the inbound kernel, not once per record."""

    object: CrmObject
    fields: tuple[_InboundField, ...]
    stage_fields: tuple[str | None, str | None] | None  # the CRM (stage, status) fields; None: no stage comes back


def inbound_plan(settings: SettingsDocument, obj: CrmObject) -> InboundPlan:
    kinds = app_fields(obj)
    fields = tuple(
        _InboundField(m.crm_field, m.app_fields[0], kinds.get(m.app_fields[0], AppFieldKind.TEXT), m.conflict_policy)
        for m in inbound_order(settings.field_mappings.for_object(obj))
    )
    return InboundPlan(obj, fields, _stage_fields(settings, obj))


# The app deal field the status mapping fills inbound, and the field that carries a CRM stage it has no app stage for.
STAGE_FIELD = "stage"
UNMAPPED_STAGE_FIELD = "unmapped_crm_stage"


def inbound_order(mappings: Iterable[FieldMapping]) -> list[FieldMapping]:
    """The inbound mappings of an object in the order their values are taken: by `precedence` (1 first; mappings
    without one after, in document order). For one app field fed by several CRM fields the first non-empty wins."""
    found = [m for m in mappings if m.inbound]
    return sorted(found, key=lambda m: m.precedence if m.precedence is not None else 1_000)


def apply_inbound(
    settings: SettingsDocument, obj: CrmObject, crm_values: Mapping[str, Any], plan: InboundPlan | None = None
) -> InboundValues:
    """Map CRM field values of one record (`CrmRecord.fields`) back to app fields, for mappings that read from the
    CRM. Only fields present in `crm_values` are mapped; a present None clears the app field. Several CRM fields
    feeding one app field (allowed only with `precedence`): the first non-empty value in precedence order.
    A deal's CRM stage/status comes back as the app's stage through `status_mapping` (the table used both ways).
    `plan`: `inbound_plan(settings, obj)`, when the caller maps many records with the same settings."""
    if plan is None:
        plan = inbound_plan(settings, obj)
    out = InboundValues(object=obj)
    values = out.values
    for mapped in plan.fields:
        crm_field, app_field = mapped.crm_field, mapped.app_field
        if crm_field not in crm_values:
            continue
        if values.get(app_field) is not None:
            continue  # a CRM field of higher precedence gave it a value
        raw = crm_values[crm_field]
        try:
            value = None if t.is_empty(raw) else _to_app_kind(raw, mapped.kind)
        except t.TransformError as exc:
            out.skipped.append(
                Skipped(crm_field=crm_field, app_fields=[app_field], reason=SkipReason.INVALID_VALUE, detail=str(exc))
            )
            continue
        values[app_field] = value
        out.policies[app_field] = mapped.policy
        out.sources[app_field] = crm_field
    if plan.stage_fields is not None and STAGE_FIELD not in values:
        _inbound_stage(settings, obj, crm_values, out, *plan.stage_fields)
    return out


def _stage_fields(settings: SettingsDocument, obj: CrmObject) -> tuple[str | None, str | None] | None:
    """The CRM fields a record's app stage comes back from: a deal's stage (and status, where the CRM keeps won/lost
    apart); a company kept in a CRM object with its own status (Salesforce Lead: `CrmProfile.record_status_fields`)
    once the status mapping names statuses. None: the object has no stage."""
    prof = profile(settings.crm)
    if obj is CrmObject.DEAL:
        return prof.stage_field, prof.status_field
    if obj is CrmObject.COMPANY:
        status_field = prof.record_status_fields.get(settings.objects.for_object(obj).crm_object)
        if status_field is None or not any(m.crm_status for m in settings.status_mapping.stages):
            return None
        return None, status_field
    return None  # a person or activity (in Salesforce Lead mode a person may be a Lead too: its status is not a stage)


def _inbound_stage(
    settings: SettingsDocument,
    obj: CrmObject,
    crm_values: Mapping[str, Any],
    out: InboundValues,
    stage_field: str | None,
    status_field: str | None,
) -> None:
    """The record's CRM stage and status (`_stage_fields`) as the app stage; a CRM value no mapping covers comes
    back as `stage: None` with the raw value in `unmapped_crm_stage`, and is noted in `skipped` (the sync log says
    so)."""
    present = [f for f in (stage_field, status_field) if f and f in crm_values]
    if not present:
        return
    crm_stage = _raw(crm_values.get(stage_field)) if stage_field else None
    crm_status = _raw(crm_values.get(status_field)) if status_field else None
    app_stage = settings.status_mapping.app_stage_for(crm_stage, crm_status, status_only=stage_field is None)
    out.values[STAGE_FIELD] = app_stage
    out.sources[STAGE_FIELD] = present[0]
    if app_stage is not None:
        return
    raw = ", ".join(f"{f} {_raw(crm_values.get(f))!r}" for f in present if crm_values.get(f) not in (None, ""))
    out.values[UNMAPPED_STAGE_FIELD] = crm_stage if crm_stage is not None else crm_status
    out.skipped.append(
        Skipped(
            crm_field=present[0],
            app_fields=[STAGE_FIELD],
            reason=SkipReason.STAGE_NOT_MAPPED,
            detail=f"the CRM {obj.value}'s {raw or 'stage (empty)'} maps to no app stage in status_mapping; it "
            f"arrives as stage null with the CRM value in {UNMAPPED_STAGE_FIELD!r}",
        )
    )


def _raw(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _to_app_kind(value: Any, kind: AppFieldKind) -> Any:
    if kind is AppFieldKind.TEXT:
        return t.to_text(value)
    if kind is AppFieldKind.INTEGER:
        return t.convert(value, "integer")
    if kind is AppFieldKind.DECIMAL:
        return t.convert(value, "decimal")
    if kind is AppFieldKind.BOOLEAN:
        return t.convert(value, "boolean")
    if kind is AppFieldKind.DATE:
        return t.convert(value, "date")
    converted: datetime | date = t.convert(value, "datetime")
    return converted
