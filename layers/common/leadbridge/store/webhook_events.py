"""Webhook event claims: which CRM events the processor has taken on or finished (`T#{tenant}#{crm}` / `EVT#{id}`).

A CRM redelivers an event (SuperOffice: three attempts per cycle with one `EventId`), SQS delivers a message at least
once, and a replayed request carries an old id: the claim makes each event id apply once.

- `claim` is a conditional put: it succeeds when the id was never seen, or when an earlier claim was left in progress
  by a processor that died (its lease ran out). A finished event is `DONE`; one another processor is working on now
  is `BUSY` (the caller retries later, by when it is done or its lease has expired).
- `complete` marks it done (with what happened, for people reading the table); `release` gives it up after a failure,
  so the retry can claim it at once.

Items expire (TTL) after `ttl_days`, longer than the queue keeps a message.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from leadbridge.errors import Conflict
from leadbridge.store.table import TTL_ATTRIBUTE, Condition, Table, expires_at, iso, webhook_event_key

IN_PROGRESS = "in_progress"
DONE = "done"
# The webhook queue keeps a message 4 days; a claim must outlive every redelivery of it.
DEFAULT_TTL_DAYS = 4.0
_EXPIRED = "0"  # sorts before every ISO time: a released lease is over


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"  # this caller owns the event now
    DONE = "done"  # processed before: a redelivery or a replay
    BUSY = "busy"  # another processor holds a live lease on it


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    outcome: str | None = None  # for DONE: what the first processing did
    attempts: int = 0  # claims taken on this event so far, this one included


class DynamoWebhookEventClaims:
    """Claims in the one table. Raises only `leadbridge.errors` (StoreUnavailable when the table fails)."""

    def __init__(self, table: Table, *, ttl_days: float = DEFAULT_TTL_DAYS) -> None:
        self._table = table
        self._ttl_days = ttl_days

    def claim(
        self, tenant: str, crm: str, event_id: str, *, token: str, lease_until: datetime, now: datetime
    ) -> Claim:
        key = webhook_event_key(tenant, crm, event_id)
        previous = self._table.get(key, consistent=True)
        attempts = int(previous.get("attempts", 0)) + 1 if previous else 1
        if previous is not None and previous.get("status") == DONE:
            return Claim(ClaimStatus.DONE, outcome=previous.get("outcome"), attempts=attempts - 1)
        # Never seen, or in progress under a lease that ran out (its processor died mid-way).
        condition = Condition(
            "attribute_not_exists(PK) OR (#status = :in_progress AND #lease < :now)",
            names={"#status": "status", "#lease": "lease_until"},
            values={":in_progress": IN_PROGRESS, ":now": iso(now)},
        )
        try:
            self._table.put(
                {
                    **key,
                    "status": IN_PROGRESS,
                    "token": token,
                    "lease_until": iso(lease_until),
                    "claimed_at": iso(now),
                    "attempts": attempts,
                    TTL_ATTRIBUTE: expires_at(self._ttl_days, now),
                },
                condition=condition,
            )
        except Conflict:
            current = self._table.get(key, consistent=True)
            if current is not None and current.get("status") == DONE:
                return Claim(ClaimStatus.DONE, outcome=current.get("outcome"), attempts=int(current.get("attempts", 1)))
            return Claim(ClaimStatus.BUSY, attempts=int(current.get("attempts", 1)) if current else 0)
        return Claim(ClaimStatus.CLAIMED, attempts=attempts)

    def complete(self, tenant: str, crm: str, event_id: str, *, token: str, outcome: str, now: datetime) -> bool:
        """Mark the event done. False when this caller no longer held the claim (its lease ran out and another
        processor took over): the work is done twice then, which the inbound sync makes harmless."""
        try:
            self._table.update(
                webhook_event_key(tenant, crm, event_id),
                set_values={"status": DONE, "outcome": outcome[:200], "completed_at": iso(now)},
                remove=["token", "lease_until"],
                condition=Condition("#token = :token", names={"#token": "token"}, values={":token": token}),
            )
        except Conflict:
            return False
        return True

    def release(self, tenant: str, crm: str, event_id: str, *, token: str) -> None:
        """Give up an in-progress claim (processing failed): its lease ends now, so the retry may claim it at once.
        The item stays, so the attempt count survives."""
        with contextlib.suppress(Conflict):  # already taken over or finished by someone else
            self._table.update(
                webhook_event_key(tenant, crm, event_id),
                set_values={"lease_until": _EXPIRED},
                remove=["token"],
                condition=Condition(
                    "#token = :token AND #status = :in_progress",
                    names={"#token": "token", "#status": "status"},
                    values={":token": token, ":in_progress": IN_PROGRESS},
                ),
            )
