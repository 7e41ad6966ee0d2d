"""The batched store calls a page of inbound records goes through, over real DynamoDB in moto: reads and writes past
DynamoDB's per-call limits, the time guard of record states in a batch, and links found by CRM id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadbridge.models.crm import CrmObject
from leadbridge.store.links import LinkStore, RecordLink
from leadbridge.store.records import DynamoRecordStates, RecordState
from leadbridge.store.table import Table

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def table(aws: Any) -> Table:
    return Table(aws.table_name)


def count_calls(table: Table) -> dict[str, int]:
    counts: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]
        counts[op] = counts.get(op, 0) + 1

    table.client.meta.events.register("before-call.dynamodb", count)
    return counts


def test_many_items_are_written_and_read_past_the_per_call_limits(table: Table):
    calls = count_calls(table)
    items = [{"PK": "T#batch", "SK": f"ITEM#{i:04d}", "n": i} for i in range(260)]
    table.write_many(puts=items)
    keys = [{"PK": "T#batch", "SK": f"ITEM#{i:04d}"} for i in range(0, 300, 2)]  # 150 keys, 20 of them missing

    found = table.get_many(keys, consistent=True)

    assert sorted(i["n"] for i in found) == list(range(0, 260, 2))
    assert calls == {"BatchWriteItem": 11, "BatchGetItem": 2}  # 25 writes and 100 reads to a call
    table.write_many(deletes=[{"PK": "T#batch", "SK": f"ITEM#{i:04d}"} for i in range(0, 260, 2)])
    assert sorted(i["n"] for i in table.query_all("T#batch")) == list(range(1, 260, 2))


def state(crm_id: str, at: datetime, name: str = "x") -> RecordState:
    return RecordState(
        tenant="acme", crm="superoffice", object=CrmObject.COMPANY, crm_id=crm_id, crm_updated_at=at,
        field_hashes={"company_name": name},
    )  # fmt: skip


@pytest.mark.parametrize("exclusive", [False, True], ids=["guarded puts", "under the run lease"])
def test_a_batch_of_record_states_keeps_every_newer_stored_state(table: Table, exclusive: bool):
    states = DynamoRecordStates(table)
    assert states.save_many([state("1", T0 + timedelta(hours=1), "newer"), state("3", T0, "old")]) == set()
    batch = [state(str(i), T0 + timedelta(minutes=i), f"batch {i}") for i in range(1, 151)]
    calls = count_calls(table)

    stale = states.save_many(batch, exclusive=exclusive)

    if exclusive:  # the stored times read again (2 calls of 100), then 25 states to a write
        assert calls == {"BatchGetItem": 2, "BatchWriteItem": 6}
    else:
        assert calls == {"PutItem": 150}

    assert stale == {(CrmObject.COMPANY, "1")}  # stored one is an hour newer; "3" is older and is replaced
    stored = states.get_many("acme", "superoffice", [(CrmObject.COMPANY, str(i)) for i in range(1, 152)])
    assert len(stored) == 150 and (CrmObject.COMPANY, "151") not in stored
    assert stored[(CrmObject.COMPANY, "1")].field_hashes == {"company_name": "newer"}
    assert stored[(CrmObject.COMPANY, "3")].field_hashes == {"company_name": "batch 3"}
    with pytest.raises(ValueError, match="once"):
        states.save_many([state("7", T0), state("7", T0)])


def link(app_id: str, crm_id: str) -> RecordLink:
    return RecordLink(tenant="acme", crm="superoffice", object=CrmObject.COMPANY, app_id=app_id, crm_id=crm_id)


def test_links_are_found_by_crm_id_and_a_re_pointed_link_leaves_no_trace(table: Table):
    links = LinkStore(table)
    links.save(link("lead-1", "100"))
    links.save(link("lead-2", "200"))
    links.save(link("lead-1", "101"))  # the user linked lead-1 to another CRM company

    found = links.by_crm_ids("acme", "superoffice", CrmObject.COMPANY, ["100", "101", "200", "999"])

    assert {crm_id: lk.app_id for crm_id, lk in found.items()} == {"101": "lead-1", "200": "lead-2"}
    assert links.by_crm_id("acme", "superoffice", CrmObject.COMPANY, "100") is None
    links.delete("acme", "superoffice", CrmObject.COMPANY, "lead-2")
    assert links.by_crm_id("acme", "superoffice", CrmObject.COMPANY, "200") is None
    assert links.by_crm_ids("acme", "superoffice", CrmObject.PERSON, ["101"]) == {}


def test_a_link_is_found_by_crm_id_without_an_index_query(table: Table):
    # An index is eventually consistent: a webhook right after an export must still see the link.
    links = LinkStore(table)
    links.save(link("lead-9", "900"))
    calls = count_calls(table)

    assert links.by_crm_id("acme", "superoffice", CrmObject.COMPANY, "900") is not None
    assert "Query" not in calls and calls.get("BatchGetItem") == 2


def test_the_links_of_many_leads_are_read_in_one_call_per_hundred(table: Table):
    # A bulk export asks which of its window's leads are linked already before it searches for the others.
    links = LinkStore(table)
    links.save_many([link(f"lead-{i}", str(500 + i)) for i in range(0, 150, 3)])
    calls = count_calls(table)

    found = links.get_many("acme", "superoffice", CrmObject.COMPANY, [f"lead-{i}" for i in range(150)])

    assert sorted(found) == sorted(f"lead-{i}" for i in range(0, 150, 3))
    assert found["lead-3"].crm_id == "503"
    assert calls == {"BatchGetItem": 2}
    assert links.get_many("acme", "superoffice", CrmObject.PERSON, ["lead-3"]) == {}


def test_a_record_state_written_before_its_hashes_were_one_string_is_read_as_it_was(table: Table):
    table.put(
        {"PK": "T#acme#superoffice", "SK": "REC#company#9", "tenant": "acme", "crm": "superoffice",
         "object": "company", "crm_id": "9", "crm_updated_at": "2026-11-02T09:00:00.000000Z",
         "field_hashes": {"company_name": "old-style"}, "seen_at": "2026-11-02T09:00:00.000000Z"}
    )  # fmt: skip
    states = DynamoRecordStates(table)

    assert states.get("acme", "superoffice", CrmObject.COMPANY, "9") == RecordState(
        tenant="acme", crm="superoffice", object=CrmObject.COMPANY, crm_id="9", crm_updated_at=T0,
        field_hashes={"company_name": "old-style"}, seen_at=T0,
    )  # fmt: skip
    states.save(state("9", T0 + timedelta(minutes=1), "new-style"))
    raw = table.get({"PK": "T#acme#superoffice", "SK": "REC#company#9"})
    assert raw is not None and raw["fh"] == '{"company_name":"new-style"}' and "field_hashes" not in raw
