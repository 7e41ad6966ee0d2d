"""The change feed against DynamoDB (moto): each event id once, whatever replays a page, in order, cursors intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadbridge.models.changes import ChangeAction, ChangeEvent, ChangeSource, ChangeType
from leadbridge.models.crm import CrmObject
from leadbridge.store.changes import DynamoChangeFeed
from leadbridge.store.table import Table, tenant_pk

TENANT = "acme"


@pytest.fixture
def table(aws: Any) -> Table:
    return Table(aws.table_name)


@pytest.fixture
def feed(table: Table) -> DynamoChangeFeed:
    return DynamoChangeFeed(table)


def change(crm_id: str, tenant: str = TENANT) -> ChangeEvent:
    return ChangeEvent(
        id=ChangeEvent.stable_id(tenant, "superoffice", "company", crm_id, "v1"),
        type=ChangeType.COMPANY_CHANGED,
        action=ChangeAction.UPDATED,
        tenant=tenant,
        crm="superoffice",
        object=CrmObject.COMPANY,
        crm_id=crm_id,
        fields={"company_name": f"Firma {crm_id}"},
        changed_fields=["company_name"],
        source=ChangeSource.SCHEDULE,
    )


def everything(feed: DynamoChangeFeed, tenant: str = TENANT, limit: int = 2) -> list[ChangeEvent]:
    later = datetime.now(UTC) + timedelta(minutes=1)
    items: list[ChangeEvent] = []
    cursor = None
    while True:
        page = feed.read(tenant, cursor=cursor, limit=limit, now=later)
        items += page.items
        cursor = page.next_cursor
        if not page.has_more:
            return items


def test_a_replayed_page_adds_nothing_and_new_changes_follow_in_order(feed: DynamoChangeFeed) -> None:
    page = [change("1"), change("2"), change("3")]
    feed.append(page)
    feed.append(page)  # a run resumed after a kill reports the page again, same ids
    feed.append([change("2"), change("4"), change("4")])  # a repeat inside one append, too

    assert [c.crm_id for c in everything(feed)] == ["1", "2", "3", "4"]


def test_a_cursor_taken_before_a_replay_sees_only_what_is_new(feed: DynamoChangeFeed) -> None:
    feed.append([change("1"), change("2")])
    later = datetime.now(UTC) + timedelta(minutes=1)
    first = feed.read(TENANT, cursor=None, limit=10, now=later)

    feed.append([change("2"), change("3")])
    after = feed.read(TENANT, cursor=first.next_cursor, limit=10, now=later)

    assert [c.crm_id for c in first.items] == ["1", "2"]
    assert [c.crm_id for c in after.items] == ["3"]


def test_ids_are_per_tenant_and_the_pointers_expire_with_the_changes(feed: DynamoChangeFeed, table: Table) -> None:
    feed.append([change("1")])
    feed.append([change("1", tenant="globex")])

    assert [c.crm_id for c in everything(feed, "globex")] == ["1"]
    items = list(table.query_all(tenant_pk(TENANT), sk_prefix="CHG"))
    assert sorted(str(i["SK"]).split("#")[0] for i in items) == ["CHG", "CHGID"]  # the change and its id
    assert {i["expires_at"] for i in items} and all(i["expires_at"] > datetime.now(UTC).timestamp() for i in items)


def test_a_page_of_many_changes_is_appended_whole(feed: DynamoChangeFeed) -> None:
    page = [change(str(i)) for i in range(120)]
    feed.append(page)
    feed.append([*page[100:], change("120")])

    assert [c.crm_id for c in everything(feed, limit=500)] == [str(i) for i in range(121)]


def test_ids_another_writer_appended_meanwhile_are_left_out_by_the_condition(
    feed: DynamoChangeFeed, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed.append([change("1"), change("3")])
    # Another writer appended them between this append's read of the ids and its write: the read sees nothing.
    monkeypatch.setattr(table, "get_many", lambda keys, consistent=False: [])
    feed.append([change("1"), change("2"), change("3"), change("4")])

    assert [c.crm_id for c in everything(feed)] == ["1", "3", "2", "4"]


def test_an_id_whose_writer_stopped_after_its_pointer_is_written_on_the_next_append(
    feed: DynamoChangeFeed, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed.append([change("1")])
    real = table.write_many
    monkeypatch.setattr(table, "write_many", lambda puts=(), deletes=(): None)  # killed after the pointers
    feed.append([change("2"), change("3")])
    monkeypatch.setattr(table, "write_many", real)
    cursor = feed.read(TENANT, cursor=None, limit=10, now=datetime.now(UTC) + timedelta(minutes=1)).next_cursor

    feed.append([change("2"), change("3"), change("4")])  # the replay
    feed.append([change("2"), change("3"), change("4")])  # and once more

    assert [c.crm_id for c in everything(feed)] == ["1", "2", "3", "4"]
    after = feed.read(TENANT, cursor=cursor, limit=10, now=datetime.now(UTC) + timedelta(minutes=1))
    assert [c.crm_id for c in after.items] == ["2", "3", "4"]  # a reader already past "1" sees them


def big_change(crm_id: str) -> ChangeEvent:
    """A change with ~50 fields, as a company with every custom field mapped carries."""
    event = change(crm_id)
    return event.model_copy(update={"fields": {f"field_{i}": f"value {i} of {crm_id} " * 4 for i in range(50)}})


def test_a_page_of_a_thousand_changes_is_a_few_items_read_back_in_order_across_them(
    feed: DynamoChangeFeed, table: Table
) -> None:
    page = [big_change(str(i)) for i in range(1000)]
    feed.append(page, exclusive=True)

    chunks = list(table.query_all(tenant_pk(TENANT), sk_prefix="CHG#"))
    assert 2 <= len(chunks) <= 15  # ~300 KB each, under DynamoDB's 400 KB item limit
    assert all(len(str(c["events"]).encode()) <= 300_000 for c in chunks)
    assert [c.crm_id for c in everything(feed, limit=137)] == [str(i) for i in range(1000)]
    assert [c.fields for c in everything(feed, limit=500)] == [c.fields for c in page]


def test_a_cursor_inside_a_chunk_goes_on_from_the_next_change_after_more_appends(feed: DynamoChangeFeed) -> None:
    later = datetime.now(UTC) + timedelta(minutes=1)
    feed.append([change(str(i)) for i in range(5)])
    first = feed.read(TENANT, cursor=None, limit=2, now=later)
    feed.append([change("5"), change("6")])

    second = feed.read(TENANT, cursor=first.next_cursor, limit=4, now=later)
    third = feed.read(TENANT, cursor=second.next_cursor, limit=4, now=later)

    assert [c.crm_id for c in first.items] == ["0", "1"] and first.has_more
    assert [c.crm_id for c in second.items] == ["2", "3", "4", "5"] and second.has_more
    assert [c.crm_id for c in third.items] == ["6"] and not third.has_more


def test_under_the_run_lease_a_page_costs_no_item_per_change_beyond_its_chunk_and_replays_add_nothing(
    feed: DynamoChangeFeed, table: Table
) -> None:
    page = [change(str(i)) for i in range(60)]

    feed.append(page, exclusive=True)
    feed.append(page, exclusive=True)  # the run resumed after a kill
    feed.append([change("5")])  # a webhook with the same change, before the run stored its state

    kinds = sorted(str(i["SK"]).split("#")[0] for i in table.query_all(tenant_pk(TENANT), sk_prefix="CHG"))
    assert kinds == ["CHG", "CHGRUN"]  # one chunk, and the run's last append: no pointer per change
    assert [c.crm_id for c in everything(feed, limit=500)] == [str(i) for i in range(60)]


def test_a_run_stopped_between_naming_its_chunks_and_writing_them_writes_them_on_its_replay(
    feed: DynamoChangeFeed, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed.append([change("1")], exclusive=True)
    real = table.write_many
    monkeypatch.setattr(table, "write_many", lambda puts=(), deletes=(): None)  # killed before the chunk
    feed.append([change("2"), change("3")], exclusive=True)
    monkeypatch.setattr(table, "write_many", real)

    feed.append([change("2"), change("3")], exclusive=True)  # the replay
    feed.append([change("3")])  # and a webhook repeating the last one

    assert [c.crm_id for c in everything(feed)] == ["1", "2", "3"]


def test_changes_written_one_item_each_before_chunks_are_still_read(feed: DynamoChangeFeed, table: Table) -> None:
    old = change("old")
    table.put({"PK": tenant_pk(TENANT), "SK": f"CHG#{1:020d}", "event": old.model_dump(mode="json", exclude_none=True)})
    feed.append([change("new")])

    assert [c.crm_id for c in everything(feed)] == ["old", "new"]
