"""What the relay of the change feed makes of a chunk (`leadbridge.inbound.change_relay`), apart from any store: the
summary events of `ChangeEvents=summary`, and the sync-log entry of a chunk the bus did not take, which must be the
same entry however often Lambda delivers the chunk again."""

from __future__ import annotations

import json

from leadbridge.inbound.change_relay import SUMMARY_MAX_IDS, changes_reported, relay_failure_entry
from leadbridge.models.changes import ChangeAction, ChangeEvent, ChangeSource, ChangeType
from leadbridge.models.crm import CrmObject
from leadbridge.store.changes import AppendedChunk

TENANT = "acme"
CRM = "superoffice"


def person_changes(count: int) -> list[ChangeEvent]:
    return [ChangeEvent(id=ChangeEvent.stable_id("c", i), type=ChangeType.PERSON_CHANGED, action=ChangeAction.UPDATED,
                        tenant=TENANT, crm=CRM, object=CrmObject.PERSON, crm_id=str(i), source=ChangeSource.WEBHOOK)
            for i in range(count)]  # fmt: skip


def test_a_summary_of_the_most_changes_one_event_holds_fits_an_eventbridge_entry() -> None:
    summaries = changes_reported(person_changes(SUMMARY_MAX_IDS + 1))

    assert [s.detail["count"] for s in summaries] == [SUMMARY_MAX_IDS, 1]
    largest = len(json.dumps(summaries[0].detail, separators=(",", ":")).encode())
    assert largest < 256 * 1024 - 1024  # EventBridge: 256 KB an entry, with room for the envelope


def test_a_chunk_the_bus_did_not_take_has_one_log_entry_per_error_however_often_it_is_retried() -> None:
    chunk = AppendedChunk(tenant=TENANT, seq=1_796_303_283_901_000_123, events=person_changes(3))

    first = relay_failure_entry(chunk, "ThrottlingException", "Rate exceeded", undelivered=3)
    again = relay_failure_entry(chunk, "ThrottlingException", "Rate exceeded", undelivered=2)
    other = relay_failure_entry(chunk, "ValidationException", "too big", undelivered=1)
    later = relay_failure_entry(AppendedChunk(tenant=TENANT, seq=chunk.seq + 1, events=chunk.events),
                                "ThrottlingException", "Rate exceeded", undelivered=3)  # fmt: skip

    assert (first.id, first.time) == (again.id, again.time)  # the conditional write keeps the first
    assert len({first.id, other.id, later.id}) == 3
    assert first.time.isoformat().startswith("2026-12-03T13:08:03.901")  # the chunk's time, from its seq
    assert first.details == {"error_code": "ThrottlingException", "retried": True,
                             "change_ids": [e.id for e in chunk.events]}  # fmt: skip
    assert other.details is not None and other.details["retried"] is False
