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
    lead_log_partition,
    log_key,
    log_lead_index,
    tenant_pk,
)

MAX_LIMIT = 200
_DOC = "doc"
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
        """Entries of a page of records, 25 to a call. Entry ids are fresh UUIDs, so no existence check is needed."""
        self._table.write_many(puts=[self._item(entry) for entry in entries])

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
        scope = "|".join(["synclog", tenant, lead_id or "", status or "", object or "", bounds[0], bounds[1]])
        start = decode_cursor(cursor, scope=scope, exact=exact, prefixed=prefixed) if cursor else None
        condition = _filter(status, object)

        # One item more than asked tells whether another page exists, so next_cursor is null exactly at the end.
        wanted = limit + 1
        found: list[Item] = []
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
            found.extend(page.items)
            if page.last_key is None:
                break
            start = page.last_key

        items = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = items[-1]
            next_cursor = encode_cursor({a: last[a] for a in (*exact, *prefixed)}, scope=scope)
        return SyncLogPage(items=[_entry(i) for i in items], next_cursor=next_cursor)


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


def _filter(status: Outcome | None, obj: CrmObject | None) -> Condition | None:
    clauses: list[str] = []
    condition = Condition("")
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


def _entry(item: Item) -> SyncLogEntry:
    data = {k: v for k, v in item.items() if k not in _KEY_ATTRIBUTES and k != _DOC}
    if _DOC in item:
        data.update(json.loads(str(item[_DOC])))
    return SyncLogEntry.model_validate(data)  # an entry written before `doc` holds its nested parts as attributes
