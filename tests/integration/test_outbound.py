"""Pending outbound lead events and processed-event records on the table (moto), and the retry run's bookkeeping:
order, due times, exponential backoff, giving up with a failed log entry. The sandbox round trip (503 → queued →
applied) is in tests/e2e/test_lifecycle_superoffice.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.errors import Conflict, NeedsReauth
from leadbridge.export import ExportServices
from leadbridge.lifecycle import MAX_ATTEMPTS, LeadEvent, LifecycleServices, backoff, retry_pending_outbound
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import Outcome
from leadbridge.store.leases import DynamoLeadLeases
from leadbridge.store.links import LinkStore, RecordLink
from leadbridge.store.log import DynamoSyncLog
from leadbridge.store.outbound import OutboundStore, PendingOutbound, ProcessedEvents
from leadbridge.store.table import Table
from local.aws import LocalResources

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def pending(lead_id: str, minute: int, **kw: Any) -> PendingOutbound:
    event = {"type": "won", "lead": {"id": lead_id, "stage": "Won"}, "occurred_at": f"2026-03-01T11:{minute:02d}:00Z"}
    return PendingOutbound(
        tenant="t1",
        crm="superoffice",
        lead_id=lead_id,
        event=event,
        occurred_at=datetime(2026, 3, 1, 11, minute, tzinfo=UTC),
        attempts=1,
        next_attempt_at=kw.pop("due", NOW),
        **kw,
    )


def test_pending_items_come_back_oldest_event_first_and_are_updated_and_removed(aws: LocalResources) -> None:
    store = OutboundStore(Table(aws.table_name))
    late, early, other_crm = pending("L-2", 30), pending("L-1", 10), pending("L-1", 5)
    other_crm.crm = "hubspot"
    for item in (late, early, other_crm):
        store.add(item)
    with pytest.raises(Conflict):
        store.add(early)  # one item per id

    assert [i.lead_id for i in store.pending("t1", "superoffice")] == ["L-1", "L-2"]
    early.attempts, early.next_attempt_at = 2, NOW + timedelta(minutes=1)
    store.save(early)
    assert store.pending("t1", "superoffice")[0] == early
    store.remove(early)
    assert store.pending("t1", "superoffice") == [late]
    assert store.pending("t1", "hubspot") == [other_crm]


def test_the_first_outcome_of_an_event_id_is_kept(aws: LocalResources) -> None:
    processed = ProcessedEvents(Table(aws.table_name))
    assert processed.get("t1", "superoffice", "L-1", "e1") is None
    assert processed.remember("t1", "superoffice", "L-1", "e1", '{"outcome": "applied"}') == '{"outcome": "applied"}'
    assert processed.remember("t1", "superoffice", "L-1", "e1", '{"outcome": "queued"}') == '{"outcome": "applied"}'
    assert processed.get("t1", "superoffice", "L-1", "e1") == '{"outcome": "applied"}'
    assert processed.get("t1", "superoffice", "L-2", "e1") is None  # scoped to the lead


def test_backoff_doubles_from_30_seconds_up_to_an_hour_and_honours_retry_after() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(20) == timedelta(hours=1)
    assert backoff(1, retry_after=90) == timedelta(seconds=90)


@pytest.fixture
def revoked(aws: LocalResources) -> tuple[LifecycleServices, DynamoSyncLog]:
    """A tenant whose lead L-1 has a sale in the CRM, and whose CRM connection now refuses every call."""
    table = Table(aws.table_name)
    links = LinkStore(table)
    links.save(
        RecordLink(tenant="t1", crm="superoffice", object=CrmObject.DEAL, app_id="L-1", crm_id="77", lead_id="L-1")
    )
    sync_log = DynamoSyncLog(table, ttl_days=1)

    def refuse(tenant: str, crm: str) -> Any:
        raise NeedsReauth("The superoffice connection must be re-authorised by an admin.")

    export = ExportServices(
        links=links,
        sync_log=sync_log,
        settings=lambda tenant, crm: default_settings(crm),
        connector=refuse,
        active_crm=lambda tenant: "superoffice",
        leases=DynamoLeadLeases(table),
    )
    return LifecycleServices(export, OutboundStore(table), ProcessedEvents(table)), sync_log


def test_a_refused_retry_is_rescheduled_with_backoff_until_it_gives_up_and_logs_it(
    revoked: tuple[LifecycleServices, DynamoSyncLog],
) -> None:
    svc, sync_log = revoked
    svc.outbound.add(pending("L-1", 10))
    svc.outbound.add(pending("L-1", 20, due=NOW + timedelta(hours=5)))  # not due in any run below

    first = retry_pending_outbound(svc, "t1", "superoffice", now=NOW, budget=10)

    assert (first.due, first.rescheduled, first.remaining, first.applied) == (1, 1, 2, 0)
    item = svc.outbound.pending("t1", "superoffice")[0]
    assert item.attempts == 2 and item.next_attempt_at == NOW + backoff(2)
    assert item.last_error is not None and item.last_error.code == "needs_reauth"

    now = NOW
    for _ in range(MAX_ATTEMPTS - 2):
        now = svc.outbound.pending("t1", "superoffice")[0].next_attempt_at
        counts = retry_pending_outbound(svc, "t1", "superoffice", now=now, budget=10)

    assert (counts.due, counts.dropped) == (1, 1)
    assert [i.occurred_at.minute for i in svc.outbound.pending("t1", "superoffice")] == [20]
    gave_up = sync_log.query("t1", lead_id="L-1").items[0]
    assert gave_up.outcome is Outcome.FAILED and f"gave up after {MAX_ATTEMPTS} attempts" in gave_up.error.message  # type: ignore[union-attr]


def test_the_budget_limits_a_run_and_a_busy_lead_waits_for_the_next(
    revoked: tuple[LifecycleServices, DynamoSyncLog],
) -> None:
    svc, _ = revoked
    for minute in (1, 2, 3):
        svc.outbound.add(pending(f"L-{minute}", minute))
    assert svc.export.leases is not None
    svc.export.leases.acquire("t1", "superoffice", "L-1", "someone-else", 35)  # L-1 is being exported right now

    counts = retry_pending_outbound(svc, "t1", "superoffice", now=NOW, budget=2)

    assert (counts.due, counts.busy, counts.remaining) == (2, 1, 3)
    assert LeadEvent.model_validate(svc.outbound.pending("t1", "superoffice")[0].event).lead.id == "L-1"
