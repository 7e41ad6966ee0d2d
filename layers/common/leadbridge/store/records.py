"""Record states: what leadbridge last reported to the app about each CRM record it has seen inbound.

Items: `PK=T#{tenant}#{crm}`, `SK=REC#{object}#{crm_id}`. They make inbound sync idempotent and order-safe: a change
whose CRM time is older than the stored one is stale (an older change never overwrites a newer one), and a change
whose mapped values hash the same as the stored ones is a no-op. Reconciliation lists them to find records that
disappeared from the CRM.

Both directions keep them: the inbound kernel stores what it reported, and every outbound write (export, persons,
lead events) stores what the CRM record now holds as the app sees it (`state_hashes` of the written values mapped
back with the inbound mapping), so leadbridge's own write read back is no change (no echo).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.errors import Conflict
from leadbridge.mapping.hashing import canonical, canonical_texts, hash_text
from leadbridge.models.crm import CrmObject, StageKind
from leadbridge.store.table import PK, SK, Condition, Item, Table, iso, record_state_key, tenant_crm_pk


class RecordState(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant: str
    crm: str
    object: CrmObject
    crm_id: str
    crm_updated_at: datetime | None = None
    field_hashes: dict[str, str] = Field(default_factory=dict)  # app field -> short hash of the reported value
    parent_crm_id: str | None = None
    stage_kind: StageKind | None = None
    deleted: bool = False
    seen_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


_WRITE_CONCURRENCY = 8
_HASHES = "fh"  # the field hashes, as one JSON string
StateKey = tuple[CrmObject, str]  # (object, CRM id) within one tenant and CRM

# Hash keys for facts that are not app fields but still make a change worth reporting.
PARENT_KEY = "~parent"
STAGE_KIND_KEY = "~stage_kind"


def state_hashes(
    values: Mapping[str, Any], *, parent_id: str | None = None, stage_kind: StageKind | None = None
) -> dict[str, str]:
    """The hashes a record state keeps: one per app field value, plus the record's parent and stage kind."""
    return state_hashes_of(canonical_texts(values), parent_id=parent_id, stage_kind=stage_kind)


def state_hashes_of(
    texts: Mapping[str, str], *, parent_id: str | None = None, stage_kind: StageKind | None = None
) -> dict[str, str]:
    """`state_hashes` from the values' canonical texts (`canonical_texts`), for a caller that needs the texts too."""
    hashes = {name: hash_text(text) for name, text in texts.items()}
    if parent_id:
        hashes[PARENT_KEY] = hash_text(canonical(parent_id))
    if stage_kind:
        hashes[STAGE_KIND_KEY] = stage_kind.value
    return hashes


class DynamoRecordStates:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> RecordState | None:
        item = self._table.get(record_state_key(tenant, crm, obj.value, crm_id), consistent=True)
        return _state(item) if item else None

    def get_many(self, tenant: str, crm: str, keys: Sequence[StateKey]) -> dict[StateKey, RecordState]:
        items = self._table.get_many(
            [record_state_key(tenant, crm, obj.value, crm_id) for obj, crm_id in dict.fromkeys(keys)], consistent=True
        )
        states = (_state(item) for item in items)
        return {(state.object, state.crm_id): state for state in states}

    def save(self, state: RecordState) -> bool:
        item = _item(state)
        condition = None
        if state.crm_updated_at is not None:
            condition = Condition(
                "attribute_not_exists(PK) OR attribute_not_exists(#t) OR #t <= :t",
                names={"#t": "crm_updated_at"},
                values={":t": item["crm_updated_at"]},
            )
        try:
            self._table.put(item, condition=condition)
        except Conflict:
            return False
        return True

    def save_many(self, states: Sequence[RecordState], *, exclusive: bool = False) -> set[StateKey]:
        keys = [(s.object, s.crm_id) for s in states]
        if len(set(keys)) != len(keys):
            raise ValueError("save_many takes each record once")
        if exclusive and len(states) > 1 and len({(s.tenant, s.crm) for s in states}) == 1:
            return self._save_batched(states)
        # One guarded put per record, overlapped. A transaction would batch them but costs twice the write capacity
        # and fails whole on one stale record; BatchWriteItem cannot carry the guard.
        if len(states) <= 1:
            saved = [self.save(state) for state in states]
        else:
            _ = self._table.client  # made once, before the threads: making botocore clients is not thread-safe
            with ThreadPoolExecutor(max_workers=min(_WRITE_CONCURRENCY, len(states))) as pool:
                saved = list(pool.map(self.save, states))
        return {key for key, ok in zip(keys, saved, strict=True) if not ok}

    def _save_batched(self, states: Sequence[RecordState]) -> set[StateKey]:
        """The guard without a conditional put per record, for a writer holding the connection's run lease: the
        stored states are read again just before an unconditional batched write, and those a racing writer (a
        webhook) moved past ours are left alone. What remains is a race of milliseconds instead of a page's time;
        losing it only makes the newer change be reported again (same event id), never lost or echoed."""
        keys = {record_state_key(s.tenant, s.crm, s.object.value, s.crm_id)[SK]: s for s in states}
        first = next(iter(states))
        partition = tenant_crm_pk(first.tenant, first.crm)
        # Only the CRM times: the states themselves were read when the page was decided.
        stored = self._table.get_many(
            [{PK: partition, SK: sk} for sk in keys], consistent=True, attributes=(SK, "crm_updated_at")
        )
        moved = {str(i[SK]) for i in stored if _newer(i.get("crm_updated_at"), keys[str(i[SK])].crm_updated_at)}
        stale = {(keys[sk].object, keys[sk].crm_id) for sk in moved}
        fresh = [state for sk, state in keys.items() if sk not in moved]
        self._table.write_many(puts=[_item(state) for state in fresh])
        return stale

    def remember(self, states: Sequence[RecordState]) -> None:
        """The states of records leadbridge itself has just written, 25 to a call and unguarded: the CRM holds what
        leadbridge wrote. (A state a racing read stored meanwhile is replaced; its change is then reported again.)"""
        if states:
            self._table.write_many(puts=[_item(state) for state in states])

    def delete(self, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> None:
        self._table.delete(record_state_key(tenant, crm, obj.value, crm_id))

    def live_ids(self, tenant: str, crm: str, obj: CrmObject) -> Iterator[str]:
        prefix = f"REC#{obj.value}#"
        for item in self._table.query_all(tenant_crm_pk(tenant, crm), sk_prefix=prefix):
            if not item.get("deleted"):
                yield str(item["crm_id"])


def _newer(stored_time: Any, ours: datetime | None) -> bool:
    """Whether a stored state's CRM time (its ISO string) is newer than `ours` (the order guard of `save`)."""
    if stored_time is None or ours is None:
        return False
    return str(stored_time) > iso(ours)


def _item(state: RecordState) -> Item:
    """The state's item: its fields as `model_dump(mode="json")` gives them (times as fixed-width ISO text, which reads
    back the same), without None values, written out directly: an inbound sync stores one per record."""
    item: Item = {
        "tenant": state.tenant,
        "crm": state.crm,
        "object": state.object.value,
        "crm_id": state.crm_id,
        "deleted": state.deleted,
        "seen_at": iso(state.seen_at),
    }
    if state.parent_crm_id is not None:
        item["parent_crm_id"] = state.parent_crm_id
    if state.stage_kind is not None:
        item["stage_kind"] = state.stage_kind.value
    item.update(record_state_key(state.tenant, state.crm, state.object.value, state.crm_id))
    # One string, not a map of one attribute per field: the hashes are only ever read whole, and a map of ~50
    # attributes costs every reader and writer (DynamoDB's item size, boto3's and the service's (de)serializers)
    # far more than the string does.
    item[_HASHES] = json.dumps(state.field_hashes, separators=(",", ":"), sort_keys=True)
    if state.crm_updated_at is not None:
        # ISO-8601 UTC strings of one format order like the times they name.
        item["crm_updated_at"] = iso(state.crm_updated_at)
    return item


def _state(item: dict[str, Any]) -> RecordState:
    data = {k: v for k, v in item.items() if k not in (PK, SK, _HASHES)}
    if _HASHES in item:
        data["field_hashes"] = json.loads(str(item[_HASHES]))
    return RecordState.model_validate(data)  # an item written before `fh` holds `field_hashes` as a map
