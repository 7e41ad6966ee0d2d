"""The change feed: every inbound change, in order, for apps that poll (`GET /changes`) instead of subscribing to
the bus.

Items: `PK=T#{tenant}`, `SK=CHG#{seq}` with a TTL. `seq` is the write time in nanoseconds-ish (microseconds * 1000
plus three random digits), so it needs no counter item and no coordination between writers. Concurrent writers can
commit out of seq order by the duration of one put, so a reader only sees changes older than `SETTLE`: a cursor
never skips a change that commits late with a smaller seq.

Each event id is in the feed once: beside every change a pointer `SK=CHGID#{event id}` (same TTL, holding the
change's seq) is written first, on the condition that none exists, then the change. A replayed page (a run resumed
after a kill, a redelivered webhook) reports the same ids again; the feed skips them, while the bus may deliver them
again (at least once, de-duplicated by id). Pointers sort after every `CHG#` key, so a feed read never sees them.
(Not a transaction: DynamoDB would do, but the local stack's moto copies the whole table for every transaction.)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from leadbridge.errors import Conflict, InvalidCursor
from leadbridge.models.changes import ChangeEvent, ChangeFeedPage
from leadbridge.store.table import (
    ITEM_NOT_EXISTS,
    PK,
    SK,
    TTL_ATTRIBUTE,
    Condition,
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
_CLAIM_CONCURRENCY = 8  # conditional puts in flight (they cannot be batched)


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
        if not unique:
            return
        held = self._held(list(unique.values()))
        # Claim each id with its pointer (written only if absent, or still naming the lost change it named), then
        # write the changes of the ids claimed. A writer stopped in between leaves a pointer without its change: the
        # next append of that id finds it so and writes the change again, at a new position (cursors already past
        # the old one see it).
        claims: list[tuple[ChangeEvent, int, int | None]] = []
        seq = 0
        for event in unique.values():
            old = held.get(_pointer(event), -1)
            if old is None:
                continue  # in the feed
            # Strictly increasing within one append: no two items share a key, and the order is kept.
            seq = max(new_seq(), seq + 1)
            claims.append((event, seq, old if old >= 0 else None))
        if not claims:
            return
        if len(claims) > 1:
            _ = self._table.client  # made once, before the threads: making boto3 clients is not thread-safe
        with ThreadPoolExecutor(max_workers=min(_CLAIM_CONCURRENCY, len(claims))) as pool:
            won = list(pool.map(self._claim, claims))
        items: list[Item] = []
        for (event, seq, _old), ok in zip(claims, won, strict=True):
            if not ok:
                continue  # another writer appended this id meanwhile
            item: Item = {"event": event.model_dump(mode="json", exclude_none=True), TTL_ATTRIBUTE: self._expiry()}
            item.update(change_key(event.tenant, seq))
            items.append(item)
        self._table.write_many(puts=items)

    def _held(self, events: Sequence[ChangeEvent]) -> dict[tuple[str, str], int | None]:
        """Pointer key → None when the change is in the feed, or the seq of a pointer whose change is missing."""
        pointers = self._table.get_many([change_id_key(e.tenant, e.id) for e in events], consistent=True)
        if not pointers:
            return {}
        changes = [{PK: str(p[PK]), SK: _sk(int(p["seq"]))} for p in pointers]
        present = {(str(i[PK]), str(i[SK])) for i in self._table.get_many(changes, consistent=True)}
        return {
            (str(p[PK]), str(p[SK])): None if (key[PK], key[SK]) in present else int(p["seq"])
            for p, key in zip(pointers, changes, strict=True)
        }

    def _claim(self, claim: tuple[ChangeEvent, int, int | None]) -> bool:
        event, seq, old = claim
        pointer: Item = {"seq": seq, TTL_ATTRIBUTE: self._expiry()}
        pointer.update(change_id_key(event.tenant, event.id))
        condition = ITEM_NOT_EXISTS if old is None else Condition("#s = :s", names={"#s": "seq"}, values={":s": old})
        try:
            self._table.put(pointer, condition=condition)
        except Conflict:
            return False
        return True

    def _expiry(self) -> int:
        return expires_at(self._ttl_days)

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
