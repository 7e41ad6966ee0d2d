"""Sync log entry ids and model rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from leadbridge.models.synclog import Action, Direction, Outcome, SyncLogEntry, Trigger, new_entry_id
from leadbridge.store.table import iso, log_key, log_lead_index

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_ids_are_ulids_that_sort_by_time():
    ids = [new_entry_id(T0 + timedelta(milliseconds=ms)) for ms in (0, 1, 2, 1000, 86_400_000)]
    assert all(len(i) == 26 and set(i) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for i in ids)
    assert ids == sorted(ids)
    assert len({new_entry_id(T0) for _ in range(1000)}) == 1000


def test_iso_keys_sort_in_time_order_across_offsets_and_precision():
    times = [
        datetime(2025, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC),
        datetime(2025, 3, 1, 13, 0, 1, tzinfo=timezone(timedelta(hours=1))),  # 12:00:01 UTC
        datetime(2025, 3, 1, 12, 0, 2),  # naive = UTC
    ]
    keys = [log_key("acme", t, "01ID")["SK"] for t in times]
    assert keys == sorted(keys)
    assert iso(times[1]) == "2025-03-01T12:00:01.000000Z"


def test_lead_index_is_scoped_by_tenant():
    assert log_lead_index("acme", "lead-1", T0, "X")["GSI3PK"] == "T#acme#LEAD#lead-1"
    assert log_lead_index("bravo", "lead-1", T0, "X")["GSI3PK"] != log_lead_index("acme", "lead-1", T0, "X")["GSI3PK"]


def test_entry_requires_the_core_facts_and_a_non_negative_call_count():
    with pytest.raises(ValidationError):
        SyncLogEntry(
            tenant="acme", crm="superoffice", direction="sideways", trigger="export", action="create", outcome="success"
        )
    with pytest.raises(ValidationError):
        SyncLogEntry(
            tenant="acme",
            crm="superoffice",
            direction=Direction.TO_CRM,
            trigger=Trigger.EXPORT,
            action=Action.CREATE,
            outcome=Outcome.SUCCESS,
            crm_calls=-1,
        )
    e = SyncLogEntry(
        tenant="acme", crm="superoffice", direction="from_crm", trigger="webhook", action="update", outcome="skipped"
    )
    assert e.id and e.time.tzinfo is not None and e.fields_written == [] and e.object is None
