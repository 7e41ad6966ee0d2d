"""Remembering what leadbridge wrote to a CRM record, as the app sees it, so the write never comes back as a change.

After every outbound write (export of a company and its persons, a lead event's deal, a transferred owner) the
record state (`store.records`, the one place the inbound kernel compares against) gets the written CRM values mapped
back with the inbound mapping the kernel uses, merged into what it held, with the record's parent and stage kind and
the CRM's change time when the write's answer carries it. When the kernel later reads the record, its mapped values
equal the state and nothing is reported; an edit made in the CRM afterwards reports exactly the fields it changed.

An export remembers its records together at its end (one read of the states it updates, one batched write).
Storing them is best effort: the writes have happened, so a failure is logged as a warning and never fails the
export (the worst case is a write reported back once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadbridge.mapping.engine import apply_inbound
from leadbridge.models.crm import CrmObject, CrmRecord, StageKind
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.ports import WrittenRecordStates
from leadbridge.store.records import RecordState, state_hashes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    """One outbound write: the CRM values sent (CRM field names) and the connector's answer, if any."""

    obj: CrmObject
    crm_id: str
    fields: Mapping[str, Any]
    answer: CrmRecord | None = None
    created: bool = False  # leadbridge created the record: all its values are what leadbridge made
    parent_id: str | None = None
    stage_kind: StageKind | None = None


def remember_written(
    states: WrittenRecordStates | None, settings: SettingsDocument, tenant: str, crm: str, writes: Sequence[Written]
) -> None:
    """Merge what was just written into the records' states. Never raises."""
    writes = [w for w in writes if settings.objects.for_object(w.obj).direction.inbound]  # others never come back
    if states is None or not writes:
        return
    try:
        updated = [(w.obj, w.crm_id) for w in writes if not w.created]
        current = states.get_many(tenant, crm, updated) if updated else {}
        remembered: dict[tuple[CrmObject, str], RecordState] = {}
        for write in writes:
            key = (write.obj, write.crm_id)
            before = remembered.get(key) or current.get(key)
            remembered[key] = _state(settings, tenant, crm, write, before if before and not before.deleted else None)
        states.remember(list(remembered.values()))
    except Exception:  # the writes happened; without their states they may come back once as changes
        log.warning(
            "record states of writes not stored; the writes may be reported back once",
            extra={"tenant": tenant, "crm": crm, "records": [f"{w.obj.value} {w.crm_id}" for w in writes]},
            exc_info=True,
        )


def remember_deleted(states: WrittenRecordStates | None, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> None:
    """leadbridge deleted the CRM record: its deletion is not news to the app. Never raises."""
    if states is None:
        return
    try:
        states.remember([RecordState(tenant=tenant, crm=crm, object=obj, crm_id=crm_id, deleted=True)])
    except Exception:
        log.warning(
            "record state of a deletion not stored; the deletion may be reported back once",
            extra={"tenant": tenant, "crm": crm, "object": obj.value, "crm_id": crm_id},
            exc_info=True,
        )


def _state(
    settings: SettingsDocument, tenant: str, crm: str, write: Written, before: RecordState | None
) -> RecordState:
    answer = write.answer
    values = _written_values(settings, write)
    parent = (answer.parent_id if answer else None) or write.parent_id or (before.parent_crm_id if before else None)
    kind = (answer.stage_kind if answer else None) or write.stage_kind or (before.stage_kind if before else None)
    hashes = dict(before.field_hashes) if before else {}
    hashes.update(state_hashes(values, parent_id=parent, stage_kind=kind))
    return RecordState(
        tenant=tenant,
        crm=crm,
        object=write.obj,
        crm_id=write.crm_id,
        crm_updated_at=(answer.updated_at if answer else None) or (before.crm_updated_at if before else None),
        field_hashes=hashes,
        parent_crm_id=parent,
        stage_kind=kind,
    )


def _written_values(settings: SettingsDocument, write: Written) -> dict[str, Any]:
    """The app values the write left in the CRM record. A created record: all of them. An update: the app fields
    the written CRM fields feed, valued from the whole answer when the CRM returned the record (its own form of the
    values, and fields made of several CRM fields, such as a deal's stage and status), plus app fields no single
    mapping feeds (derived from the whole record)."""
    full = apply_inbound(settings, write.obj, {**write.fields, **(write.answer.fields if write.answer else {})}).values
    if write.created:
        return full
    touched = set(apply_inbound(settings, write.obj, write.fields).values)
    direct = {m.app_fields[0] for m in settings.field_mappings.for_object(write.obj) if m.inbound and m.app_fields}
    return {k: v for k, v in full.items() if k in touched or k not in direct}
