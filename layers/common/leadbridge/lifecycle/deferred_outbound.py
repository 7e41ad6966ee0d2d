"""Deferred outbound: a lead event whose CRM write failed retryably is stored as pending outbound (`defer`, outcome
`queued`), and the scheduled worker applies the pending events later (`retry_pending_outbound`) with exponential
backoff (`backoff`), dropping an event with a failed sync log entry when it fails for good or runs out of attempts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pydantic import ValidationError

from leadbridge.errors import (
    Conflict,
    ConnectionMissing,
    CrmError,
    CrmUnavailable,
    NeedsReauth,
    RateLimited,
    StoreUnavailable,
)
from leadbridge.export import lead_lease
from leadbridge.lifecycle.contracts import LeadEvent, LeadEventOutcome, LeadEventResult, RetryCounts, RetryInfo
from leadbridge.lifecycle.event_context import write_log_quietly
from leadbridge.lifecycle.event_handlers import apply_event
from leadbridge.lifecycle.ports import LifecycleServices
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger
from leadbridge.models.time import as_utc
from leadbridge.store.outbound import PendingOutbound

log = logging.getLogger(__name__)

RETRYABLE = (RateLimited, CrmUnavailable)  # a first attempt failing with these is deferred, not failed
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 10  # then the event is dropped and logged as failed


def defer(svc: LifecycleServices, tenant: str, crm: str, event: LeadEvent, exc: CrmError) -> LeadEventResult:
    """Store the event as pending outbound (first attempt failed with `exc`); `retry_pending_outbound` applies it."""
    now = svc.export.clock()
    occurred_at = as_utc(event.occurred_at or now)
    item = PendingOutbound(
        tenant=tenant,
        crm=crm,
        lead_id=event.lead.id,
        event=event.model_dump(mode="json"),
        occurred_at=occurred_at,
        attempts=1,
        next_attempt_at=now + backoff(1, getattr(exc, "retry_after", None)),
        last_error=LogError.of(exc),
        created_at=now,
    )
    svc.outbound.add(item)
    reason = f"the CRM is unavailable ({exc.message}); leadbridge retries from {item.next_attempt_at.isoformat()}"
    return LeadEventResult(
        outcome=LeadEventOutcome.QUEUED,
        event_type=event.type,
        event_id=event.event_id,
        lead_id=event.lead.id,
        crm=crm,
        reason=reason,
        retry=RetryInfo(attempts=1, next_attempt_at=item.next_attempt_at, reason=exc.message),
        log_entry_id=exc.details.get("log_entry_id"),
    )


def _drop(svc: LifecycleServices, item: PendingOutbound, exc: Exception, counts: RetryCounts) -> None:
    code = getattr(exc, "code", "error")
    message = getattr(exc, "message", str(exc))
    write_log_quietly(
        svc.export,
        SyncLogEntry(
            tenant=item.tenant,
            crm=item.crm,
            direction=Direction.TO_CRM,
            trigger=Trigger.LEAD_EVENT,
            action=Action.SKIP,
            outcome=Outcome.FAILED,
            object=CrmObject.DEAL,
            app_id=item.lead_id,
            error=LogError(code=code, message=f"gave up after {item.attempts} attempts: {message}"),
            match={"event": item.event.get("type"), "event_id": item.event.get("event_id"), "pending_id": item.id},
        ),
    )
    svc.outbound.remove(item)
    counts.dropped += 1


def retry_pending_outbound(
    svc: LifecycleServices, tenant: str, crm: str, *, now: datetime, budget: int, correlation_id: str | None = None
) -> RetryCounts:
    """Apply the connection's pending lead events whose time has come, oldest event first, at most `budget`.

    Success (or a skip) removes the item; a retryable failure or a lost connection reschedules it with exponential
    backoff (honouring the CRM's Retry-After); any other failure, or the last attempt, drops it with a failed log
    entry. A lead being exported right now is left for the next run.
    """
    counts = RetryCounts()
    pending = svc.outbound.pending(tenant, crm)
    for item in pending:
        if item.next_attempt_at > now:
            counts.remaining += 1
            continue
        if counts.due >= budget:
            counts.remaining += 1
            continue
        counts.due += 1
        try:
            event = LeadEvent.model_validate(item.event)
        except ValidationError:
            log.warning("dropping an unreadable pending lead event", extra={"lead_id": item.lead_id})
            svc.outbound.remove(item)
            counts.dropped += 1
            continue
        try:
            with lead_lease(svc.export, tenant, crm, item.lead_id):
                apply_event(svc.export, tenant, crm, event, correlation_id, attempt=item.attempts + 1)
        except Conflict as exc:
            if exc.code == "export_in_progress":
                counts.busy += 1
                counts.remaining += 1
                continue
            _drop(svc, item, exc, counts)
            continue
        except (*RETRYABLE, ConnectionMissing, NeedsReauth, StoreUnavailable) as exc:
            item.attempts += 1
            item.last_error = LogError(code=exc.code, message=exc.message)
            if item.attempts >= MAX_ATTEMPTS:
                _drop(svc, item, exc, counts)
                continue
            item.next_attempt_at = now + backoff(item.attempts, getattr(exc, "retry_after", None))
            svc.outbound.save(item)
            counts.rescheduled += 1
            counts.remaining += 1
            continue
        except CrmError as exc:
            _drop(svc, item, exc, counts)
            continue
        svc.outbound.remove(item)
        counts.applied += 1
    return counts


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min, ... capped at 1 h; at least the CRM's Retry-After."""
    delay: timedelta = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay
