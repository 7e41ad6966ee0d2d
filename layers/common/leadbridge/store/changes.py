"""The change feed: every inbound change, in order, for apps that poll (`GET /changes`); and the outbox of the bus:
the table's stream carries each chunk appended here to the relay that puts its changes on the bus
(`inbound.change_relay`, `appended_chunk`), so the bus gets what the feed holds.

Items: `PK=T#{tenant}`, `SK=CHG#{seq}` with a TTL, each holding the changes of one append (up to ~300 KB of them, as
one JSON string): a page of 1,000 changes is a few items, not 1,000, and one string costs DynamoDB and boto3 far less
to (de)serialise than a nested map per change. `seq` is the write time in nanoseconds-ish (microseconds * 1000 plus
three random digits), so it needs no counter item and no coordination between writers. Concurrent writers can commit
out of seq order by the duration of one put, so a reader only sees changes older than `SETTLE`: a cursor never skips
a change that commits late with a smaller seq. A cursor is a chunk's seq and how many of its changes were read.

Each event id is in the feed once. A writer that may race another (a webhook) claims each id with a pointer
`SK=CHGID#{event id}` (same TTL, holding the seq of the chunk with the change), written with a conditional put (only
if absent, or still naming a lost chunk) before the chunk. A writer stopped between its pointer and its chunk leaves a
pointer to a missing chunk: the next append of that id writes it again, at a new position (cursors already past the
old one see it). A run holding the connection's lease (`exclusive`) is the only run appending that connection's
changes, and a run re-reports only the batch it was applying when it stopped (the kernel stores a batch's record
states before it reports the next): so instead of a pointer per change it keeps one item, `SK=CHGRUN#{crm}`,
naming the chunks and ids of its last append, written before them. The next append (a resumed run, or a webhook)
leaves out those ids whose chunk is there, and the ids webhooks claimed. A replayed page (a run resumed after a
kill, a redelivered webhook) adds nothing to the feed, so nothing to the bus either (whose relay may still deliver a
chunk twice: at least once, de-duplicated by id). The one overlap left: a webhook reporting a change while a run is
between reporting the same change and storing its state, where the run's append was not its last; the feed then
holds that id twice. Pointers
sort after every `CHG#` key, so a feed read never sees them. (Not a transaction: DynamoDB would do, but the local
stack's moto copies the whole table for every transaction.)
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leadbridge.concurrency import together
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
    change_run_key,
    decode_cursor,
    encode_cursor,
    expires_at,
    json_chunks,
    tenant_pk,
)

SETTLE = timedelta(seconds=2)
MAX_LIMIT = 500
_SEQ_DIGITS = 20
_PREFIX = "CHG#"  # a chunk's sort key; the table's stream relays the items whose key starts so (template.yaml)
_TENANT_PREFIX = "T#"  # `tenant_pk`
_CLAIM_CONCURRENCY = 8  # conditional puts in flight (they cannot be batched)
_CHUNKS_PER_QUERY = 4


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

    def append(self, events: Sequence[ChangeEvent], *, exclusive: bool = False) -> None:
        """Append the events whose id the feed does not hold yet, in their order (ids already there are skipped).
        `exclusive`: the caller holds the run lease of these events' connection (see the module's docstring)."""
        unique: dict[tuple[str, str], ChangeEvent] = {}
        for event in events:
            unique.setdefault((event.tenant, event.id), event)
        if not unique:
            return
        connections = {(event.tenant, event.crm) for event in unique.values()}
        for tenant, crm in connections:
            mine = [event for event in unique.values() if (event.tenant, event.crm) == (tenant, crm)]
            self._append_connection(tenant, crm, mine, exclusive=exclusive)

    def _append_connection(self, tenant: str, crm: str, events: Sequence[ChangeEvent], *, exclusive: bool) -> None:
        # Two independent reads, overlapped: what the last append of a run holding the lease wrote, and the pointers
        # of these ids (an id in the first needs no pointer; reading it anyway costs a key, not a round trip).
        in_feed: set[str] = set()
        held: dict[tuple[str, str], int | None] = {}
        _ = self._table.client  # made once, before the threads: making botocore clients is not thread-safe
        together(lambda: in_feed.update(self._in_last_run_append(tenant, crm)), lambda: held.update(self._held(events)))
        claims: list[tuple[ChangeEvent, int | None]] = []  # (event, seq of the lost chunk its pointer names)
        for event in events:
            old = held.get(_pointer(event), -1)
            if event.id in in_feed or old is None:
                continue  # in the feed
            claims.append((event, old if old >= 0 else None))
        if not claims:
            return
        # Strictly increasing seqs within one append: no two chunks share a key, and the order is kept.
        planned: list[tuple[int, list[ChangeEvent], list[str]]] = []
        seq = 0
        texts = [event.model_dump_json(exclude_none=True) for event, _old in claims]
        for run in json_chunks(texts):
            seq = max(new_seq(), seq + 1)
            planned.append((seq, [claims[i][0] for i in run], [texts[i] for i in run]))
        if exclusive:
            record: Item = {
                "chunks": json.dumps([[chunk_seq, [e.id for e in chunk]] for chunk_seq, chunk, _ in planned]),
                TTL_ATTRIBUTE: self._expiry(),
            }
            record.update(change_run_key(tenant, crm))
            self._table.put(record)
            won = {event.id for event, _old in claims}
        else:
            seq_of = {event.id: chunk_seq for chunk_seq, chunk, _ in planned for event in chunk}
            won = self._claim_each([(event, seq_of[event.id], old) for event, old in claims])
        items: list[Item] = []
        for chunk_seq, chunk, encoded in planned:
            kept = [text for event, text in zip(chunk, encoded, strict=True) if event.id in won]
            if not kept:
                continue  # another writer appended these ids meanwhile
            item: Item = {"events": "[" + ",".join(kept) + "]", "count": len(kept), TTL_ATTRIBUTE: self._expiry()}
            item.update(change_key(tenant, chunk_seq))
            items.append(item)
        self._table.write_many(puts=items)

    def _in_last_run_append(self, tenant: str, crm: str) -> set[str]:
        """The ids of the last append of a run holding the connection's lease whose chunk was written."""
        record = self._table.get(change_run_key(tenant, crm), consistent=True)
        if record is None:
            return set()
        chunks: list[tuple[int, list[str]]] = [(int(s), list(ids)) for s, ids in json.loads(str(record["chunks"]))]
        keys = [{PK: tenant_pk(tenant), SK: _sk(chunk_seq)} for chunk_seq, _ in chunks]
        present = {str(i[SK]) for i in self._table.get_many(keys, consistent=True, attributes=(SK,))}
        return {event_id for chunk_seq, ids in chunks if _sk(chunk_seq) in present for event_id in ids}

    def _held(self, events: Sequence[ChangeEvent]) -> dict[tuple[str, str], int | None]:
        """Pointer key → None when the change is in the feed, or the seq of a pointer whose chunk is missing."""
        pointers = self._table.get_many([change_id_key(e.tenant, e.id) for e in events], consistent=True)
        if not pointers:
            return {}
        chunks = {(str(p[PK]), _sk(int(p["seq"]))) for p in pointers}
        present = {
            (str(i[PK]), str(i[SK]))
            for i in self._table.get_many([{PK: pk, SK: sk} for pk, sk in chunks], consistent=True, attributes=(PK, SK))
        }
        return {
            (str(p[PK]), str(p[SK])): None if (str(p[PK]), _sk(int(p["seq"]))) in present else int(p["seq"])
            for p in pointers
        }

    def _claim_each(self, claims: Sequence[tuple[ChangeEvent, int, int | None]]) -> set[str]:
        """Conditional puts of the pointers; the ids this writer won."""
        if len(claims) > 1:
            _ = self._table.client  # made once, before the threads: making botocore clients is not thread-safe
        with ThreadPoolExecutor(max_workers=min(_CLAIM_CONCURRENCY, len(claims))) as pool:
            won = list(pool.map(self._claim, claims))
        return {event.id for (event, _seq, _old), ok in zip(claims, won, strict=True) if ok}

    def _claim(self, claim: tuple[ChangeEvent, int, int | None]) -> bool:
        event, seq, old = claim
        condition = ITEM_NOT_EXISTS if old is None else Condition("#s = :s", names={"#s": "seq"}, values={":s": old})
        try:
            self._table.put(self._pointer_item(event, seq), condition=condition)
        except Conflict:
            return False
        return True

    def _pointer_item(self, event: ChangeEvent, seq: int) -> Item:
        pointer: Item = {"seq": seq, TTL_ATTRIBUTE: self._expiry()}
        pointer.update(change_id_key(event.tenant, event.id))
        return pointer

    def _expiry(self) -> int:
        return expires_at(self._ttl_days)

    def read(self, tenant: str, *, cursor: str | None, limit: int = 100, now: datetime | None = None) -> ChangeFeedPage:
        limit = max(1, min(limit, MAX_LIMIT))
        after, taken = _cursor_position(tenant, cursor) if cursor else (-1, None)
        upto = seq_at((now or datetime.now(UTC)) - SETTLE)
        # A chunk read in part (`taken` of its changes) is read again from its start; else the next chunk on.
        first = after if taken is not None else after + 1
        if first > upto:
            return ChangeFeedPage(items=[], next_cursor=_cursor(tenant, after, taken), has_more=False)
        items: list[ChangeEvent] = []
        position = (after, taken)
        for seq, events in self._chunks_between(tenant, first, upto):
            skip = taken if seq == after and taken is not None else 0
            rest = events[skip:]
            if len(items) >= limit:
                if rest:
                    return ChangeFeedPage(items=items, next_cursor=_cursor(tenant, *position), has_more=True)
                continue
            room = limit - len(items)
            items += rest[:room]
            if len(rest) > room:  # the page ends inside this chunk
                return ChangeFeedPage(items=items, next_cursor=_cursor(tenant, seq, skip + room), has_more=True)
            position = (seq, None)
        return ChangeFeedPage(items=items, next_cursor=_cursor(tenant, *position), has_more=False)

    def _chunks_between(self, tenant: str, first: int, upto: int) -> Iterator[tuple[int, list[ChangeEvent]]]:
        start: dict[str, str] | None = None
        while True:
            page = self._table.query(
                tenant_pk(tenant),
                sk_between=(_sk(first), _sk(upto)),
                limit=_CHUNKS_PER_QUERY,
                start_key=start,
                consistent=True,
            )
            for item in page.items:
                yield int(str(item[SK])[len(_PREFIX) :]), _events(item)
            if page.last_key is None:
                return
            start = page.last_key


@dataclass(frozen=True)
class AppendedChunk:
    """One chunk of changes the feed appended, as the table's stream carries it to the bus's relay."""

    tenant: str
    seq: int  # its place in the feed
    events: Sequence[ChangeEvent]


def appended_chunk(image: Mapping[str, Any]) -> AppendedChunk | None:
    """The chunk a stream record's new image holds (its attributes as plain values); None for any other item."""
    pk, sk = str(image.get(PK, "")), str(image.get(SK, ""))
    if not (pk.startswith(_TENANT_PREFIX) and sk.startswith(_PREFIX) and sk[len(_PREFIX) :].isdigit()):
        return None
    return AppendedChunk(tenant=pk[len(_TENANT_PREFIX) :], seq=int(sk[len(_PREFIX) :]), events=_events(image))


def _events(item: Mapping[str, Any]) -> list[ChangeEvent]:
    if "events" in item:
        raw: list[Any] = json.loads(str(item["events"]))
        return [ChangeEvent.model_validate(e) for e in raw]
    return [ChangeEvent.model_validate(item["event"])]  # an item written before chunks: one change


def _pointer(event: ChangeEvent) -> tuple[str, str]:
    key = change_id_key(event.tenant, event.id)
    return key[PK], key[SK]


def _sk(seq: int) -> str:
    return change_key("_", max(seq, 0))[SK]


def _scope(tenant: str) -> str:
    return f"changes:{tenant}"


def _cursor(tenant: str, seq: int, taken: int | None = None) -> str:
    key = {"seq": str(seq)} if taken is None else {"seq": str(seq), "taken": str(taken)}
    return encode_cursor(key, scope=_scope(tenant))


def _cursor_position(tenant: str, cursor: str) -> tuple[int, int | None]:
    """(seq of the chunk, how many of its changes were read: None for all)."""
    key = decode_cursor(cursor, scope=_scope(tenant), exact={}, prefixed={"seq": ""}, counts=("taken",))
    raw = key["seq"]
    if not (raw == "-1" or (raw.isdigit() and len(raw) <= _SEQ_DIGITS)):
        raise InvalidCursor(
            "The cursor is malformed.",
            errors=[{"loc": ["query", "cursor"], "type": "invalid_cursor", "message": "not a change feed position"}],
        )
    return int(raw), int(key["taken"]) if "taken" in key else None
