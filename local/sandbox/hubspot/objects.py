"""CRM v3 objects over one portal (§2), as plain functions the state calls behind its lock: property values checked
against the property definitions and stored as strings, contacts unique by `email`, archive keeps the record (with
`archivedAt`) for the `archived=true` listing, batches of at most 100 inputs with per-item errors."""

from __future__ import annotations

from typing import Any

from local.sandbox.hubspot.model import (
    WRITER,
    Change,
    ChangeSource,
    HubSpotError,
    Portal,
    PropertyValue,
    Record,
    SimplePublicObject,
    batch_body,
    iso,
    not_found,
    validation_error,
)
from local.sandbox.hubspot.pipelines import DEFAULT_PIPELINE
from local.sandbox.hubspot.properties import CREATED_PROPERTY, DEFAULT_RETURNED, MODIFIED_PROPERTY
from local.sandbox.hubspot.search import to_number

MAX_BATCH = 100
PropertyDefs = dict[str, dict[str, Any]]


def _as_string(definition: dict[str, Any], value: PropertyValue) -> str:
    """The stored (string) form of a value written to a property; ValueError with the error code when invalid."""
    kind = definition["type"]
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    if text == "":
        return ""
    if kind == "number":
        if to_number(text) is None or not text.lstrip("-").replace(".", "", 1).isdigit():
            raise ValueError("INVALID_DECIMAL")
    elif kind == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueError("INVALID_BOOLEAN")
        text = text.lower()
    elif kind in ("date", "datetime"):
        millis = to_number(text)
        if millis is None:
            raise ValueError("INVALID_DATE")
        text = iso(millis / 1000)
        if kind == "date":
            text = text[:10]
    elif kind == "enumeration" and definition["options"]:
        allowed = {o["value"] for o in definition["options"]}
        chosen = text.split(";") if definition["fieldType"] == "checkbox" else [text]
        if not set(chosen) <= allowed:
            raise ValueError("INVALID_OPTION")
    if definition["name"] == "email" and ("@" not in text or " " in text):
        raise ValueError("INVALID_EMAIL")
    return text


def check_values(portal: Portal, defs: PropertyDefs, values: dict[str, PropertyValue]) -> dict[str, str]:
    """The values as stored strings, or a 400 VALIDATION_ERROR listing every invalid one (`errors[]`, each with
    `code` and `context.propertyName`)."""
    clean: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for name, value in values.items():
        definition = defs.get(name)
        if definition is None:
            errors.append({"message": f'Property "{name}" does not exist', "code": "PROPERTY_DOESNT_EXIST",
                           "context": {"propertyName": [name]}})
            continue
        if definition["modificationMetadata"]["readOnlyValue"]:
            errors.append({"message": f'Property "{name}" is read-only', "code": "READ_ONLY_VALUE",
                           "context": {"propertyName": [name]}})
            continue
        if name == "hubspot_owner_id" and value not in (None, "") and str(value) not in portal.owners:
            errors.append({"message": f"{value} is not a valid owner id", "code": "INVALID_OWNER_ID",
                           "context": {"propertyName": [name]}})
            continue
        try:
            clean[name] = "" if value is None else _as_string(definition, value)
        except ValueError as exc:
            errors.append({"message": f'{value!r} is not a valid value for property "{name}"', "code": str(exc),
                           "context": {"propertyName": [name]}})
    if errors:
        raise validation_error("Property values were not valid", errors)
    return clean


def _unique_conflict(portal: Portal, obj: str, values: dict[str, str], own_id: str | None) -> None:
    email = values.get("email") if obj == "contacts" else None
    if not email:
        return
    for record in portal.records[obj].values():
        if record.archived_at is None and record.id != own_id and (record.properties.get("email") or "").lower() \
                == email.lower():
            raise HubSpotError(409, "CONFLICT", f"Contact already exists. Existing ID: {record.id}")


_STAGE_METADATA = {s["id"]: s["metadata"] for s in DEFAULT_PIPELINE["stages"]}


def _derive(obj: str, record: Record, now: float) -> None:
    """Calculated properties that follow from others (deals: closed/won from the stage's metadata, §4), then a new
    version for search's index."""
    if obj == "deals":
        meta = _STAGE_METADATA.get(record.properties.get("dealstage") or "")
        closed = meta is not None and meta["isClosed"] == "true"
        record.properties["hs_is_closed"] = "true" if closed else "false"
        record.properties["hs_is_closed_won"] = "true" if closed and meta and meta["probability"] == "1.0" else "false"
    record.versions.append((now, dict(record.properties)))


def _note(portal: Portal, obj: str, record_id: str, kind: str, now: float,
          changed: dict[str, str] | None = None) -> None:
    """Note a write for webhooks: the event itself (creation, deletion) and one `propertyChange` per changed value."""
    source = WRITER.get() or ChangeSource("CRM_UI")
    if kind != "propertyChange":
        portal.changes.append(Change(obj, record_id, kind, now, source))
    for name, value in (changed or {}).items():
        portal.changes.append(Change(obj, record_id, "propertyChange", now, source, name, value))


def indexed(record: Record, as_of: float) -> Record | None:
    """The record as search's index has it at `as_of` (writes after it not yet indexed); None when not indexed yet
    or archived by then."""
    seen = [props for written, props in record.versions if written <= as_of]
    if not seen or seen[-1] is None:
        return None
    return Record(record.id, seen[-1], record.created_at, record.updated_at)


def create(portal: Portal, obj: str, defs: PropertyDefs, values: dict[str, PropertyValue], new_id: str,
           now: float) -> Record:
    clean = check_values(portal, defs, values)
    _unique_conflict(portal, obj, clean, None)
    stamp = iso(now)
    clean.update({"hs_object_id": new_id, CREATED_PROPERTY[obj]: stamp, MODIFIED_PROPERTY[obj]: stamp})
    record = Record(new_id, clean, now, now)
    _derive(obj, record, now)
    portal.records[obj][new_id] = record
    # a creation also reports the values it set (sandbox choice: the reference is silent)
    _note(portal, obj, new_id, "creation", now, {k: v for k, v in clean.items() if k in values and v != ""})
    return record


def check_id_property(defs: PropertyDefs, id_property: str | None) -> None:
    """Only a unique property (`email`, `hs_object_id`, a custom one with `hasUniqueValue`) identifies a record."""
    if id_property is not None and not defs.get(id_property, {}).get("hasUniqueValue"):
        raise validation_error(f"{id_property} is not a unique property and cannot be used as idProperty")


def find(portal: Portal, obj: str, record_id: str, id_property: str | None = None, *,
         archived: bool = False) -> Record:
    """A record by id (or by a unique property's value); 404 OBJECT_NOT_FOUND otherwise."""
    records = portal.records[obj]
    if id_property in (None, "hs_object_id"):
        record = records.get(record_id)
    else:
        record = next((r for r in records.values()
                       if (r.properties.get(id_property or "") or "").lower() == record_id.lower()
                       and (r.archived_at is None) != archived), None)
    if record is None or (record.archived_at is not None) != archived:
        raise not_found(f"Object not found.  objectId are usually numeric. id={record_id}")
    return record


def update(portal: Portal, obj: str, defs: PropertyDefs, record: Record, values: dict[str, PropertyValue],
           now: float) -> Record:
    clean = check_values(portal, defs, values)
    _unique_conflict(portal, obj, clean, record.id)
    changed = {k: v for k, v in clean.items() if (record.properties.get(k) or "") != v}
    record.properties.update(clean)
    record.updated_at = now
    record.properties[MODIFIED_PROPERTY[obj]] = iso(now)
    _derive(obj, record, now)
    _note(portal, obj, record.id, "propertyChange", now, changed)
    return record


def archive(portal: Portal, obj: str, record: Record, now: float) -> None:
    _note(portal, obj, record.id, "deletion", now)
    record.archived_at = now
    record.updated_at = now
    record.versions.append((now, None))


def upsert(portal: Portal, obj: str, defs: PropertyDefs, id_property: str, value: str,
           values: dict[str, PropertyValue], new_id: str, now: float) -> tuple[Record, bool]:
    """Update the live record whose unique `id_property` is `value`, else create it with that value: (record, new)."""
    definition = defs.get(id_property)
    if definition is None or not definition["hasUniqueValue"]:
        raise validation_error(f"{id_property} is not a unique property of {obj}")
    try:
        record = find(portal, obj, value, id_property)
    except HubSpotError:
        return create(portal, obj, defs, {**values, id_property: value}, new_id, now), True
    return update(portal, obj, defs, record, values, now), False


def public(obj: str, record: Record, wanted: list[str] | None, defs: PropertyDefs,
           trace_id: str | None = None) -> dict[str, Any]:
    """`SimplePublicObject`: the requested properties that exist (null when unset), or the object's defaults."""
    names = [n for n in wanted if n in defs] if wanted else DEFAULT_RETURNED[obj]
    names = [*names, *(n for n in ("hs_object_id", CREATED_PROPERTY[obj], MODIFIED_PROPERTY[obj]) if n not in names)]
    shown: dict[str, str | None] = {n: record.properties.get(n) or None for n in names}
    return SimplePublicObject(
        id=record.id, properties=shown, createdAt=iso(record.created_at), updatedAt=iso(record.updated_at),
        archived=record.archived_at is not None,
        archivedAt=iso(record.archived_at) if record.archived_at is not None else None, objectWriteTraceId=trace_id,
    ).model_dump(exclude_none=True)


def check_batch_size(count: int) -> None:
    if count > MAX_BATCH:
        raise validation_error(f"Batch input is limited to {MAX_BATCH} inputs, got {count}")
    if count == 0:
        raise validation_error("Batch input must not be empty")


def item_error(err: HubSpotError, trace_id: str | None, record_id: str | None = None) -> dict[str, Any]:
    """One entry of a 207 answer's `errors[]`; `context.objectWriteTraceId` ties it to its input (§2)."""
    context: dict[str, list[str]] = {}
    if trace_id is not None:
        context["objectWriteTraceId"] = [trace_id]
    if record_id is not None:
        context["ids"] = [record_id]
    entry: dict[str, Any] = {"status": "error", "category": err.category, "message": err.message,
                             "context": context}
    if err.errors:
        entry["errors"] = err.errors
    return entry


def batch_answer(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: float, finished: float,
                 ok_status: int) -> tuple[dict[str, Any], int]:
    """`{status: COMPLETE, results, startedAt, completedAt, errors?, numErrors?}`: 207 when any input failed."""
    return batch_body(results, errors, started, finished), 207 if errors else ok_status
