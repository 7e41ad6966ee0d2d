"""Changes from the change feed to the app's bus: the feed is the outbox (issue #19).

The kernel reports a page's changes by appending them to the change feed, one DynamoDB item per chunk of changes
(`store.changes`), and nothing else: the table's stream carries each new chunk to ChangeEventsRelayFunction, which
puts the chunk's events on the bus here. So an event is on the bus only if its change is on the feed, a sync never
waits for EventBridge (its PutEvents calls, 10 entries each, were about a seventh of the worker's CPU), and a bus
outage delays events instead of failing sync pages.

What one chunk becomes (template parameter `ChangeEvents`, `ChangeEvents` below): an event per change, its detail
the change; or one `ChangesReported` event per chunk naming the changes, which apps then read from the feed.

Failures: an entry EventBridge refuses for what it is (`PERMANENT_ERRORS`, e.g. a detail over its size limit) can never
be delivered: it is logged and left out (tried alone first, since one bad entry makes EventBridge refuse its whole
call). Anything else (throttling, an outage) raises, and Lambda delivers the chunk
again (its events may then reach the bus twice: apps de-duplicate by id, as for every at-least-once delivery). Both
leave one sync-log entry per chunk and error, however often the chunk is retried (`relay_failure_entry`), saying
that the changes are on the feed meanwhile.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from leadbridge.errors import Conflict, StoreUnavailable
from leadbridge.inbound.ports import ChangeEvents, LogWriter
from leadbridge.models.changes import ChangeEvent, ChangeSource
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger, stable_entry_id
from leadbridge.store.changes import AppendedChunk
from leadbridge.store.events import AppEvent, EventDeliveryError

if TYPE_CHECKING:
    from leadbridge.store.ports import EventPublisher, RunStore

CHANGES_REPORTED = "ChangesReported"
SUMMARY_MAX_IDS = 2_000  # change ids per `ChangesReported`: about 70 KB of detail, inside EventBridge's 256 KB
# PutEvents entry errors that no retry can mend: the entry itself is wrong.
PERMANENT_ERRORS = frozenset({"ValidationException", "InvalidArgument", "MalformedDetail"})


@dataclass(frozen=True)
class ChangeRelayServices:
    publisher: EventPublisher
    log: LogWriter
    mode: ChangeEvents = ChangeEvents.RECORD
    # Read only when a chunk fails: its log entry names the run's trigger (a run started by hand is `manual`).
    runs: RunStore | None = None


class RelayRetry(Exception):
    """Some of a chunk's events were not delivered for a reason that may pass: Lambda delivers the chunk again."""


def relay_chunk(svc: ChangeRelayServices, chunk: AppendedChunk) -> int:
    """Put one appended chunk's events on the bus: how many the bus took. Raises `RelayRetry` when some may be
    delivered by a retry."""
    events = app_events(chunk.events, svc.mode)
    if not events:
        return 0
    try:
        svc.publisher.publish(events)
    except EventDeliveryError as exc:
        failed = _alone(svc, exc.failed)
        if not failed:
            return len(events)
        codes = {code or "Unknown" for _event, code, _message in failed}
        trigger = _trigger(svc, chunk)
        for code in sorted(codes):
            message = next(m for _e, c, m in failed if (c or "Unknown") == code)
            undelivered = sum(1 for _e, c, _m in failed if (c or "Unknown") == code)
            _log_once(svc.log, relay_failure_entry(chunk, code, message, undelivered=undelivered, trigger=trigger))
        if codes - PERMANENT_ERRORS:
            raise RelayRetry(str(exc)) from exc
        return len(events) - len(failed)
    return len(events)


def _alone(svc: ChangeRelayServices, failed: list[tuple[AppEvent, str, str]]) -> list[tuple[AppEvent, str, str]]:
    """The failures left once each event refused for what it is has been tried alone: EventBridge refuses a whole
    PutEvents call for one bad entry (or for its total size), so the others of that call may go through alone."""
    refused = [f for f in failed if f[1] in PERMANENT_ERRORS]
    if len(refused) <= 1:
        return failed
    left = [f for f in failed if f[1] not in PERMANENT_ERRORS]
    for event, _code, _message in refused:
        try:
            svc.publisher.publish([event])
        except EventDeliveryError as alone:
            left.extend(alone.failed)
    return left


def app_events(events: Sequence[ChangeEvent], mode: ChangeEvents) -> list[AppEvent]:
    if mode is ChangeEvents.SUMMARY:
        return changes_reported(events)
    return [AppEvent.of(e.type.value, e) for e in events]


def changes_reported(events: Sequence[ChangeEvent]) -> list[AppEvent]:
    """`ChangeEvents.SUMMARY`: the changes as few events as the bus takes (one per tenant and CRM, up to
    `SUMMARY_MAX_IDS` changes each): how many of each type, and their ids in feed order."""
    groups: dict[tuple[str, str], list[ChangeEvent]] = {}
    for event in events:
        groups.setdefault((event.tenant, event.crm), []).append(event)
    summaries: list[AppEvent] = []
    for (tenant, crm), mine in groups.items():
        for start in range(0, len(mine), SUMMARY_MAX_IDS):
            part = mine[start : start + SUMMARY_MAX_IDS]
            first = part[0]
            detail = {
                "tenant": tenant,
                "crm": crm,
                "count": len(part),
                "counts": dict(Counter(e.type.value for e in part)),
                "change_ids": [e.id for e in part],
                "source": first.source.value,
                "run_id": first.run_id,
                "correlation_id": first.correlation_id,
                "occurred_at": first.occurred_at.isoformat().replace("+00:00", "Z"),
            }
            summaries.append(AppEvent(detail_type=CHANGES_REPORTED, detail=detail))
    return summaries


def _trigger(svc: ChangeRelayServices, chunk: AppendedChunk) -> Trigger:
    """What started the changes of a chunk: a webhook, or the run that appended it (scheduled or by hand)."""
    first = chunk.events[0]
    if first.source is ChangeSource.WEBHOOK or first.run_id is None or svc.runs is None:
        return _source_trigger(chunk)
    try:
        run = svc.runs.get(chunk.tenant, first.run_id)
    except StoreUnavailable:
        return Trigger.SCHEDULE  # the failure is logged all the same, with the usual trigger of a run
    return Trigger.MANUAL if run is not None and run.trigger == "manual" else Trigger.SCHEDULE


def _source_trigger(chunk: AppendedChunk) -> Trigger:
    return Trigger.WEBHOOK if chunk.events[0].source is ChangeSource.WEBHOOK else Trigger.SCHEDULE


def relay_failure_entry(chunk: AppendedChunk, code: str, message: str, *, undelivered: int,
                        trigger: Trigger | None = None) -> SyncLogEntry:
    """The sync-log entry of a chunk whose events the bus did not take: its id is the same for every attempt at the
    same chunk and error, so a chunk retried for an hour leaves one entry, not hundreds. `trigger` defaults to the
    chunk's source (`webhook`, else `schedule`)."""
    first = chunk.events[0]
    retried = code not in PERMANENT_ERRORS
    at = datetime.fromtimestamp(chunk.seq // 1000 / 1_000_000, UTC)
    digest = hashlib.sha256(f"{chunk.tenant}\x1f{chunk.seq}\x1f{code}".encode()).digest()
    what_next = (
        "leadbridge keeps retrying until the bus takes them; apps that read GET /changes have them already."
        if retried
        else "The bus will not take these events as they are; read the changes from GET /changes (they are there)."
    )
    return SyncLogEntry(
        id=stable_entry_id(at, digest),
        time=at,
        tenant=chunk.tenant,
        crm=first.crm,
        direction=Direction.FROM_CRM,
        trigger=trigger or _source_trigger(chunk),
        action=Action.PUBLISH_EVENTS,
        outcome=Outcome.FAILED,
        error=LogError(
            code="event_delivery_failed",
            message=f"{undelivered} of {len(chunk.events)} change events were not put on the event bus "
            f"({code}: {message}).",
            hint=what_next,
        ),
        run_id=first.run_id,
        correlation_id=first.correlation_id,
        details={"error_code": code, "retried": retried, "change_ids": [e.id for e in chunk.events][:100]},
    )


def _log_once(log: LogWriter, entry: SyncLogEntry) -> None:
    with suppress(Conflict):  # an earlier attempt at this chunk logged it
        log.write(entry)
