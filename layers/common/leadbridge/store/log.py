"""The sync log's DynamoDB adapter (its port, `SyncLog`, is in `store.ports`).

Items: `PK=T#{tenant}`, `SK=LOG#{time}#{id}`; with a lead id also `GSI3PK=T#{tenant}#LEAD#{lead}`,
`GSI3SK=LOG#{time}#{id}`; `expires_at` makes DynamoDB delete entries after the retention period.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from leadbridge.errors import InvalidInput
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import Outcome, SyncLogEntry, SyncLogPage
from leadbridge.models.time import as_utc
from leadbridge.store.table import (
    HIGH,
    ITEM_NOT_EXISTS,
    PK,
    SK,
    TTL_ATTRIBUTE,
    Condition,
    Item,
    Key,
    Table,
    decode_cursor,
    encode_cursor,
    expires_at,
    iso,
    json_chunks,
    lead_log_partition,
    log_key,
    log_lead_index,
    tenant_pk,
)

MAX_LIMIT = 200
_DOC = "doc"
_GROUP = "entries"  # a group item: its entries, newest first, as one JSON string
_COUNT = "count"  # a group item: how many entries it holds
_TAKEN = "taken"  # in a cursor: entries of the group item it names already returned
_NESTED = ("error", "fields_written", "fields_skipped", "match", "details")
_KEY_ATTRIBUTES = {PK, SK, "GSI3PK", "GSI3SK", TTL_ATTRIBUTE}
# With a filter, DynamoDB evaluates `Limit` items before filtering; read in larger batches to fill pages quickly.
_FILTERED_BATCH = 100


class DynamoSyncLog:
    def __init__(self, table: Table, *, ttl_days: int = 90) -> None:
        self._table = table
        self._ttl_days = ttl_days

    def write(self, entry: SyncLogEntry) -> None:
        self._table.put(
            self._item(entry), condition=ITEM_NOT_EXISTS, conflict_message="A sync log entry with this id exists."
        )

    def write_many(self, entries: Sequence[SyncLogEntry]) -> None:
        """Entries of a page of records, 25 items to a call. Entry ids are fresh ULIDs, so no existence check is
        needed. Entries of no lead that share what a query filters on (outcome, object; also direction, trigger,
        action, run) are written together as one group item of up to ~300 KB, at the time of the newest: a page of
        1,000 CRM records the app has never exported is a few items, not 1,000. An entry of a lead stays one item:
        the lead's log is read through its index."""
        singles: list[Item] = []
        groups: dict[tuple[Any, ...], list[SyncLogEntry]] = {}
        for entry in entries:
            if entry.app_id:
                singles.append(self._item(entry))
            else:
                groups.setdefault(_group_key(entry), []).append(entry)
        for group in groups.values():
            if len(group) == 1:
                singles.append(self._item(group[0]))
                continue
            # One time for all, the newest: `since`/`until` select a group whole. Newest first, as queries return.
            at = max(as_utc(e.time) for e in group)
            ordered = sorted((e.model_copy(update={"time": at}) for e in group), key=lambda e: e.id, reverse=True)
            texts = [e.model_dump_json() for e in ordered]
            for run in json_chunks(texts):
                item = self._item(ordered[run[0]])
                for name in ("crm_id", "correlation_id", "crm_calls", _DOC, "id"):
                    item.pop(name, None)  # each entry's own, in the group
                item[_GROUP] = "[" + ",".join(texts[i] for i in run) + "]"
                item[_COUNT] = len(run)
                singles.append(item)
        self._table.write_many(puts=singles)

    def _item(self, entry: SyncLogEntry) -> Item:
        at = as_utc(entry.time)
        item: Item = {
            k: v for k, v in entry.model_dump(mode="json", exclude={"time"}).items() if v is not None and v != []
        }
        # The nested parts (fields written and skipped, the error, match and details) as one JSON string: they are
        # only ever read whole, and a list of ~50 field names costs DynamoDB's and boto3's (de)serializers far more
        # as a list attribute than as a string. The scalars stay attributes: queries filter on them.
        nested = {k: item.pop(k) for k in _NESTED if k in item}
        if nested:
            item[_DOC] = json.dumps(nested, separators=(",", ":"))
        item["time"] = iso(at)
        item.update(log_key(entry.tenant, at, entry.id))
        if entry.app_id:
            item.update(log_lead_index(entry.tenant, entry.app_id, at, entry.id))
        item[TTL_ATTRIBUTE] = expires_at(self._ttl_days, at)
        return item

    def query(
        self,
        tenant: str,
        *,
        status: Outcome | None = None,
        object: CrmObject | None = None,
        lead_id: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> SyncLogPage:
        _check_arguments(limit, since, until)
        partition = tenant_pk(tenant)
        index: str | None = None
        exact: Key = {PK: partition}
        prefixed: Key = {SK: "LOG#"}
        if lead_id is not None:
            index = "GSI3"
            partition = lead_log_partition(tenant, lead_id)
            exact["GSI3PK"] = partition
            prefixed["GSI3SK"] = "LOG#"
        bounds = (f"LOG#{iso(since)}" if since else "LOG#", f"LOG#{iso(until)}#{HIGH}" if until else f"LOG#{HIGH}")
        scope = "|".join(
            ["synclog", tenant, lead_id or "", status or "", object or "", run_id or "", bounds[0], bounds[1]]
        )
        start = decode_cursor(cursor, scope=scope, exact=exact, prefixed=prefixed, counts=(_TAKEN,)) if cursor else None
        condition = _filter(status, object, run_id)

        # A cursor inside a group item (`taken` of its entries returned): read again from that item, skipping them.
        taken = 0
        if start is not None and _TAKEN in start:
            taken = int(start.pop(_TAKEN))
            bounds = (bounds[0], start[SK])
            start = None

        # One entry more than asked tells whether another page exists, so next_cursor is null exactly at the end.
        wanted = limit + 1
        found: list[tuple[Item, int, SyncLogEntry]] = []  # (item, position in it, entry)
        while len(found) < wanted:
            page = self._table.query(
                partition,
                index=index,
                sk_between=bounds,
                newest_first=True,
                limit=_FILTERED_BATCH if condition else wanted - len(found),
                start_key=start,
                filter=condition,
            )
            for item in page.items:
                skip = taken if taken and not found and start is None and item[SK] == bounds[1] else 0
                found += [(item, n, entry) for n, entry in enumerate(_entries(item)) if n >= skip]
            if page.last_key is None:
                break
            start = page.last_key

        kept = found[:limit]
        next_cursor = None
        if len(found) > limit:
            item, position, _ = kept[-1]
            key = {a: str(item[a]) for a in (*exact, *prefixed)}
            if position + 1 < int(item.get(_COUNT, 1)):
                key[_TAKEN] = str(position + 1)
            next_cursor = encode_cursor(key, scope=scope)
        return SyncLogPage(items=[entry for _item, _position, entry in kept], next_cursor=next_cursor)


def _check_arguments(limit: int, since: datetime | None, until: datetime | None) -> None:
    problems: list[dict[str, Any]] = []
    if not 1 <= limit <= MAX_LIMIT:
        problems.append({"loc": ["query", "limit"], "type": "range", "message": f"must be 1..{MAX_LIMIT}"})
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            try:
                iso(value)
            except (OverflowError, ValueError):
                problems.append({"loc": ["query", name], "type": "range", "message": "out of the supported range"})
    if problems:
        raise InvalidInput("Invalid sync log query", errors=problems)
    if since and until and as_utc(since) > as_utc(until):
        problems.append({"loc": ["query", "since"], "type": "range", "message": "must not be after until"})
    if problems:
        raise InvalidInput("Invalid sync log query", errors=problems)


def _filter(status: Outcome | None, obj: CrmObject | None, run_id: str | None) -> Condition | None:
    clauses: list[str] = []
    condition = Condition("")
    if run_id is not None:  # a group item keeps its entries' run id as an attribute: they share it (`_group_key`)
        clauses.append("#run_id = :run_id")
        condition.names["#run_id"] = "run_id"
        condition.values[":run_id"] = run_id
    if status is not None:
        clauses.append("#outcome = :outcome")
        condition.names["#outcome"] = "outcome"
        condition.values[":outcome"] = str(status)
    if obj is not None:
        clauses.append("#object = :object")
        condition.names["#object"] = "object"
        condition.values[":object"] = str(obj)
    if not clauses:
        return None
    condition.expression = " AND ".join(clauses)
    return condition


def _entries(item: Item) -> list[SyncLogEntry]:
    if _GROUP in item:
        return [SyncLogEntry.model_validate(e) for e in json.loads(str(item[_GROUP]))]
    data = {k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES and k != _DOC}
    if _DOC in item:
        data.update(json.loads(str(item[_DOC])))
    return [SyncLogEntry.model_validate(data)]  # an entry written before `doc` holds its nested parts as attributes


def _group_key(entry: SyncLogEntry) -> tuple[Any, ...]:
    return (entry.tenant, entry.crm, entry.direction, entry.trigger, entry.action, entry.outcome, entry.object,
            entry.run_id)  # fmt: skip


