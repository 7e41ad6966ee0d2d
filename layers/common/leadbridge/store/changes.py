"""The change feed: every inbound change, in order, for apps that poll (`GET /changes`) instead of subscribing to
the bus.

Items: `PK=T#{tenant}`, `SK=CHG#{seq}` with a TTL. `seq` is the write time in nanoseconds-ish (microseconds * 1000
plus three random digits), so it needs no counter item and no coordination between writers. Concurrent writers can
commit out of seq order by the duration of one put, so a reader only sees changes older than `SETTLE`: a cursor
never skips a change that commits late with a smaller seq.

Each event id is in the feed once: beside every change a pointer `SK=CHGID#{event id}` (same TTL) is written in one
transaction with it, on the condition that no pointer exists yet. A replayed page (a run resumed after a kill, a
redelivered webhook) reports the same ids again; the feed skips them, while the bus may deliver them again (at least
once, de-duplicated by id). Pointers sort after every `CHG#` key, so a feed read never sees them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leadbridge.errors import Conflict, InvalidCursor
from leadbridge.models.changes import ChangeEvent, ChangeFeedPage
from leadbridge.store.table import (
    ITEM_NOT_EXISTS,
    PK,
    SK,
    TTL_ATTRIBUTE,
    Item,
    Table,
    change_id_key,
    change_key,
    decode_cursor,
    encode_cursor,
    expires_at,
    tenant_pk,
)

SETTLE = timedelta(seconds=2)
MAX_LIMIT = 500
_SEQ_DIGITS = 20
_PREFIX = "CHG#"
_EVENTS_PER_TRANSACTION = 50  # two items each: DynamoDB takes 100 operations to a transaction


def new_seq(now_ns: int | None = None) -> int:
    micros = (now_ns if now_ns is not None else time.time_ns()) // 1000
    return micros * 1000 + secrets.randbelow(1000)


def seq_at(at: datetime) -> int:
    """The largest seq that can have been issued at `at`."""
    return int(at.timestamp() * 1_000_000) * 1000 + 999


class DynamoChangeFeed:
    def __init__(self, table: Table, *, ttl_days: int = 14) -> None:
        self._table = table
        self._ttl_days = ttl_days

    def append(self, events: Sequence[ChangeEvent]) -> None:
        """Append the events whose id the feed does not hold yet, in their order (ids already there are skipped)."""
        unique: dict[tuple[str, str], ChangeEvent] = {}
        for event in events:
            unique.setdefault((event.tenant, event.id), event)
        pointers = [change_id_key(tenant, event_id) for tenant, event_id in unique]
        found = self._table.get_many(pointers, consistent=True) if pointers else []
        held = {(str(i[PK]), str(i[SK])) for i in found}
        pending = [e for e in unique.values() if _pointer(e) not in held]
        seq = 0
        for start in range(0, len(pending), _EVENTS_PER_TRANSACTION):
            chunk = pending[start : start + _EVENTS_PER_TRANSACTION]
            while chunk:
                operations: list[Any] = []
                for event in chunk:
                    # Strictly increasing within one append: no two items share a key, and the order is kept.
                    seq = max(new_seq(), seq + 1)
                    expiry = expires_at(self._ttl_days)
                    item: Item = {"event": event.model_dump(mode="json", exclude_none=True), TTL_ATTRIBUTE: expiry}
                    item.update(change_key(event.tenant, seq))
                    pointer: Item = {"seq": seq, TTL_ATTRIBUTE: expiry}
                    pointer.update(change_id_key(event.tenant, event.id))
                    operations += [self._table.tx_put(pointer, ITEM_NOT_EXISTS), self._table.tx_put(item)]
                try:
                    self._table.transact(operations)
                    break
                except Conflict as exc:
                    # Another writer appended some of these ids meanwhile: append the others.
                    failed = {int(i) // 2 for i in exc.details.get("failed_operations", [])}
                    if not failed:
                        raise
                    chunk = [e for i, e in enumerate(chunk) if i not in failed]

    def read(self, tenant: str, *, cursor: str | None, limit: int = 100, now: datetime | None = None) -> ChangeFeedPage:
        limit = max(1, min(limit, MAX_LIMIT))
        after = _cursor_seq(tenant, cursor) if cursor else -1
        upto = seq_at((now or datetime.now(UTC)) - SETTLE)
        if after >= upto:
            return ChangeFeedPage(items=[], next_cursor=_cursor(tenant, after), has_more=False)
        page = self._table.query(
            tenant_pk(tenant),
            sk_between=(_sk(after + 1), _sk(upto)),
            limit=limit,
            consistent=True,
        )
        items = [ChangeEvent.model_validate(item["event"]) for item in page.items]
        last = int(str(page.items[-1][SK])[len(_PREFIX) :]) if page.items else after
        return ChangeFeedPage(items=items, next_cursor=_cursor(tenant, last), has_more=page.last_key is not None)


def _pointer(event: ChangeEvent) -> tuple[str, str]:
    key = change_id_key(event.tenant, event.id)
    return key[PK], key[SK]


def _sk(seq: int) -> str:
    return change_key("_", max(seq, 0))[SK]


def _scope(tenant: str) -> str:
    return f"changes:{tenant}"


def _cursor(tenant: str, seq: int) -> str:
    return encode_cursor({"seq": str(seq)}, scope=_scope(tenant))


def _cursor_seq(tenant: str, cursor: str) -> int:
    key = decode_cursor(cursor, scope=_scope(tenant), exact={}, prefixed={"seq": ""})
    raw = key["seq"]
    if not (raw == "-1" or (raw.isdigit() and len(raw) <= _SEQ_DIGITS)):
        raise InvalidCursor(
            "The cursor is malformed.",
            errors=[{"loc": ["query", "cursor"], "type": "invalid_cursor", "message": "not a change feed position"}],
        )
    return int(raw)
