"""Flat leadbridge fields ↔ SuperOffice entity JSON: records from entities, create bodies, JSON Patch documents.

Pure functions over dicts; no I/O. The connector supplies the custom-field metadata (`CustomFieldMeta`, from
`UdefLayout/Published` and `CustomField`) and, for partial updates that touch addresses or phone/e-mail lists,
the current entity (SuperOffice replaces `Address/Street` and `Emails` only as a whole: patching
`Address/Street/Address1` alone fails, and replacing `Emails` with one element would drop the others).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadbridge.crm.superoffice.fields import (
    STANDARD_FIELDS,
    STATUS_KINDS,
    EncodingError,
    Kind,
    StdField,
    decode_custom,
    encode_custom,
    entity_datetime,
    format_entity_datetime,
)
from leadbridge.models.crm import CrmObject, CrmRecord, FieldType


@dataclass(frozen=True)
class EntitySpec:
    obj: CrmObject
    entity: str  # REST path segment and carrier name: Contact, Person, Sale, Appointment
    id_key: str  # ContactId, PersonId, ...
    pk_column: str  # archive primary-key column
    updated_column: str  # archive column with the UTC last-update time
    deleted_column: str | None  # archive column with the soft-delete time, where the provider has one
    ui_param: str  # deep-link query parameter in the SuperOffice web client
    event_entity: str  # webhook `Entity` / event prefix


ENTITIES: dict[CrmObject, EntitySpec] = {
    CrmObject.COMPANY: EntitySpec(
        CrmObject.COMPANY, "Contact", "ContactId", "contactId", "updatedDate", "deletedDate", "contact_id", "contact"
    ),
    CrmObject.PERSON: EntitySpec(
        CrmObject.PERSON, "Person", "PersonId", "personId", "personUpdatedDate", None, "person_id", "person"
    ),
    CrmObject.DEAL: EntitySpec(CrmObject.DEAL, "Sale", "SaleId", "saleId", "updatedDate", None, "sale_id", "sale"),
    CrmObject.ACTIVITY: EntitySpec(
        CrmObject.ACTIVITY,
        "Appointment",
        "AppointmentId",
        "appointmentId",
        "updatedDate",
        None,
        "appointment_id",
        "appointment",
    ),
}
BY_EVENT_ENTITY = {spec.event_entity: spec for spec in ENTITIES.values()}


@dataclass(frozen=True)
class CustomFieldMeta:
    key: str  # prog id ("SuperOffice:3", "RabitIQ:1") or extra field name ("x_foo")
    label: str
    type: FieldType
    length: int | None = None
    read_only: bool = False
    mandatory: bool = False


@dataclass
class WritePlan:
    """What to send, and what was left out (unknown/read-only names) for the caller to report."""

    body: dict[str, Any] | list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)


COMPANION_SUFFIXES = (":DisplayText", ":DisplayTooltip")


# --- reading ---------------------------------------------------------------------------------------------------------


def _walk(entity: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    node: Any = entity
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def read_standard(spec: StdField, entity: Mapping[str, Any]) -> Any:
    if spec.kind == Kind.ELEMENT:
        items = entity.get(spec.path[0]) or []
        return next((i.get("Value") for i in items if isinstance(i, Mapping) and i.get("Value")), None)
    if spec.kind == Kind.FIRST:
        items = entity.get(spec.path[0]) or []
        return items[0] if items else None
    if spec.kind == Kind.COMPLETED:
        value = entity.get(spec.path[0])
        return None if value in (None, "Unknown") else value == "Completed"
    value = _walk(entity, spec.path)
    if spec.kind == Kind.REF:
        return None if value in (None, 0, "0", "") else str(value)
    if spec.type in (FieldType.DATETIME, FieldType.DATE):
        return entity_datetime(value)
    return value


def entity_to_record(
    obj: CrmObject,
    entity: Mapping[str, Any],
    custom_meta: Mapping[str, CustomFieldMeta] | None = None,
    *,
    url: str | None = None,
) -> CrmRecord:
    spec = ENTITIES[obj]
    fields: dict[str, Any] = {name: read_standard(f, entity) for name, f in STANDARD_FIELDS[obj].items()}
    meta = custom_meta or {}
    for key, raw in (entity.get("CustomFields") or {}).items():
        if key.endswith(COMPANION_SUFFIXES):
            continue
        known = meta.get(key)
        fields[key] = decode_custom(raw, known.type if known else None)
    parent = _walk(entity, ("Contact", "ContactId")) if obj != CrmObject.COMPANY else None
    person = _walk(entity, ("Person", "PersonId")) if obj in (CrmObject.DEAL, CrmObject.ACTIVITY) else None
    deleted = entity.get("Deleted")
    return CrmRecord(
        object=obj,
        id=str(entity.get(spec.id_key)),
        fields=fields,
        parent_id=str(parent) if parent else None,
        person_id=str(person) if person else None,
        updated_at=entity_datetime(entity.get("UpdatedDate"), utc=True),
        created_at=entity_datetime(entity.get("CreatedDate"), utc=True),
        deleted=bool(deleted) if isinstance(deleted, (int, bool)) else False,
        url=url,
        stage_kind=STATUS_KINDS.get(str(fields.get("Status"))) if obj == CrmObject.DEAL else None,
    )


# --- writing ---------------------------------------------------------------------------------------------------------


def to_json_value(spec: StdField, value: Any, *, length: int | None = None) -> Any:
    """A flat value as the JSON the entity carrier wants. Raises `EncodingError` naming the problem."""
    if value is None:
        return None
    kind, ftype = spec.kind, spec.type
    if kind == Kind.COMPLETED:
        return "Completed" if _truthy(value) else "NotStarted"
    if kind == Kind.REF:
        try:
            return int(str(value).strip())
        except ValueError as exc:
            raise EncodingError(f"{value!r} is not an id") from exc
    if spec.picklist:
        if str(value) not in spec.picklist:
            raise EncodingError(f"{value!r} is not one of {', '.join(spec.picklist)}")
        return str(value)
    if ftype == FieldType.BOOLEAN:
        return _truthy(value)
    if ftype == FieldType.INTEGER:
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise EncodingError(f"{value!r} is not a whole number") from exc
    if ftype == FieldType.DECIMAL:
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise EncodingError(f"{value!r} is not a number") from exc
    if ftype in (FieldType.DATETIME, FieldType.DATE):
        return format_entity_datetime(value)
    text = str(value)
    limit = length or spec.length
    return text[:limit] if limit else text


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    return bool(value)


def _encode_custom(meta: CustomFieldMeta, value: Any, date_format: str) -> str:
    if meta.type in (FieldType.STRING, FieldType.TEXT) and value is not None:
        text = str(value)
        return text[: meta.length] if meta.length else text
    return encode_custom(value, meta.type, date_format=date_format)


def _split(
    obj: CrmObject,
    values: Mapping[str, Any],
    custom_meta: Mapping[str, CustomFieldMeta],
    lengths: Mapping[str, int],
    date_format: str,
) -> tuple[dict[StdField, Any], dict[str, str], list[str]]:
    """(standard field → JSON value, custom key → encoded string, skipped names)."""
    standard: dict[StdField, Any] = {}
    custom: dict[str, str] = {}
    skipped: list[str] = []
    errors: list[tuple[str, str]] = []
    catalogue = STANDARD_FIELDS[obj]
    for name, value in values.items():
        try:
            if name in catalogue:
                std = catalogue[name]
                if not std.updateable:
                    skipped.append(name)
                    continue
                standard[std] = to_json_value(std, value, length=lengths.get(name))
            elif name in custom_meta and not custom_meta[name].read_only:
                custom[name] = _encode_custom(custom_meta[name], value, date_format)
            else:
                skipped.append(name)  # not published in this tenant (or read-only): never sent
        except EncodingError as exc:
            errors.append((name, str(exc)))
    if errors:
        raise FieldValueError(errors)
    return standard, custom, skipped


class FieldValueError(ValueError):
    """Values that cannot be written; `errors` is [(field name, reason)]."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors))
        self.errors = errors


def build_create_body(
    obj: CrmObject,
    values: Mapping[str, Any],
    custom_meta: Mapping[str, CustomFieldMeta],
    *,
    parent_id: str | None = None,
    person_id: str | None = None,
    lengths: Mapping[str, int] | None = None,
    date_format: str = "%m/%d/%Y",
) -> WritePlan:
    """A POST body for a new entity."""
    standard, custom, skipped = _split(obj, values, custom_meta, lengths or {}, date_format)
    body: dict[str, Any] = {}
    for spec, value in standard.items():
        _place(body, spec, value)
    if custom:
        body["CustomFields"] = custom
    if parent_id is not None and obj != CrmObject.COMPANY:
        body["Contact"] = {"ContactId": int(parent_id)}
    if person_id is not None and obj in (CrmObject.DEAL, CrmObject.ACTIVITY):
        body["Person"] = {"PersonId": int(person_id)}
    return WritePlan(body=body, skipped=skipped)


def _place(body: dict[str, Any], spec: StdField, value: Any) -> None:
    if spec.kind == Kind.ELEMENT:
        body[spec.path[0]] = [{"Value": value}] if value else []
        return
    node = body
    for key in spec.path[:-1]:
        node = node.setdefault(key, {})
    node[spec.path[-1]] = value if spec.kind != Kind.REF or value is not None else 0


def needs_current_entity(obj: CrmObject, values: Mapping[str, Any]) -> bool:
    """Whether a partial update must read the entity first (address objects and element lists)."""
    catalogue = STANDARD_FIELDS[obj]
    return any(name in catalogue and catalogue[name].kind in (Kind.NESTED, Kind.ELEMENT) for name in values)


def build_patch(
    obj: CrmObject,
    values: Mapping[str, Any],
    custom_meta: Mapping[str, CustomFieldMeta],
    *,
    current: Mapping[str, Any] | None = None,
    lengths: Mapping[str, int] | None = None,
    date_format: str = "%m/%d/%Y",
) -> WritePlan:
    """An RFC 6902 JSON Patch changing only `values` (`op` replace; no move/copy, which SuperOffice lacks)."""
    standard, custom, skipped = _split(obj, values, custom_meta, lengths or {}, date_format)
    ops: list[dict[str, Any]] = []
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for spec, value in standard.items():
        if spec.kind == Kind.NESTED:
            parent = spec.path[:-1]
            if parent not in merged:
                existing = _walk(current, parent)
                merged[parent] = dict(existing) if isinstance(existing, Mapping) else {}
            merged[parent][spec.path[-1]] = value if value is not None else ""
        elif spec.kind == Kind.ELEMENT:
            existing_list = [dict(i) for i in ((current or {}).get(spec.path[0]) or []) if isinstance(i, Mapping)]
            if value in (None, ""):
                new_list = existing_list[1:]
            elif existing_list:
                existing_list[0] = {**existing_list[0], "Value": value}
                existing_list[0].pop("StrippedValue", None)
                new_list = existing_list
            else:
                new_list = [{"Value": value}]
            ops.append({"op": "replace", "path": f"/{spec.path[0]}", "value": new_list})
        elif spec.kind == Kind.REF:
            ops.append({"op": "replace", "path": "/" + "/".join(spec.path), "value": value if value is not None else 0})
        else:
            ops.append({"op": "replace", "path": f"/{spec.path[0]}", "value": value})
    for parent, obj_value in merged.items():
        ops.append({"op": "replace", "path": "/" + "/".join(parent), "value": obj_value})
    if custom:
        ops.append({"op": "replace", "path": "/CustomFields", "value": custom})
    return WritePlan(body=ops, skipped=skipped)


def patch_paths_to_fields(obj: CrmObject, json_keys: list[str]) -> list[str]:
    """Flat field names for top-level JSON keys an error message named (e.g. `OrgNr` → `OrgNr`, `Emails` → `Email`)."""
    names: list[str] = []
    for key in json_keys:
        for name, spec in STANDARD_FIELDS[obj].items():
            if spec.path[0] == key and name not in names:
                names.append(name)
    return names
