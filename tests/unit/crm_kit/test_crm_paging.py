"""The connector kit's paginator (`leadbridge.crm.paging`): cursor, keyset and offset paging, and a repeated page
token stopping the read with a `CrmUnavailable` that names the CRM and the token instead of looping."""

from __future__ import annotations

import pytest

from leadbridge.crm.paging import Page, RepeatedPageToken, check_next_token, keyset_pages, offset_pages, pages
from leadbridge.errors import CrmUnavailable

ROWS = list(range(1, 8))  # 7 records, pages of 3


def test_cursor_paging_follows_the_tokens_to_the_last_page() -> None:
    tokens = {None: ([1, 2], "b"), "b": ([3, 4], "c"), "c": ([5], None)}
    assert list(pages(lambda t: Page(*tokens[t]), crm="Test CRM", op="x.list")) == [[1, 2], [3, 4], [5]]


def test_keyset_paging_asks_after_the_last_key_and_stops_on_a_short_page() -> None:
    asked: list[int | None] = []

    def after(last: int | None) -> list[int]:
        asked.append(last)
        return [r for r in ROWS if last is None or r > last][:3]

    read = keyset_pages(after, lambda r: r, page_size=3, crm="Test CRM", op="x.ids")
    assert [r for page in read for r in page] == ROWS
    assert asked == [None, 3, 6]


def test_offset_paging_moves_by_the_rows_read() -> None:
    asked: list[int] = []

    def at(offset: int) -> list[int]:
        asked.append(offset)
        return ROWS[offset : offset + 3]

    assert [r for page in offset_pages(at, page_size=3, crm="Test CRM", op="x.list") for r in page] == ROWS
    assert asked == [0, 3, 6]


def test_a_crm_that_ignores_the_keyset_filter_is_stopped_not_followed_forever() -> None:
    reads = 0

    def ignores_after(last: int | None) -> list[int]:
        nonlocal reads
        reads += 1
        assert reads < 10, "looped"
        return ROWS[:3]  # the same page, whatever we ask for

    with pytest.raises(RepeatedPageToken) as exc:
        list(keyset_pages(ignores_after, lambda r: r, page_size=3, crm="Test CRM", op="x.ids"))
    assert isinstance(exc.value, CrmUnavailable) and reads == 2
    assert "Test CRM x.ids" in exc.value.message and "'3'" in exc.value.message
    assert exc.value.details == {"crm": "Test CRM", "page_token": "3"}


def test_a_cursor_that_comes_back_after_others_is_stopped_too() -> None:
    tokens = {None: ([1], "a"), "a": ([2], "b"), "b": ([3], "a")}
    with pytest.raises(RepeatedPageToken, match="'a'"):
        list(pages(lambda t: Page(*tokens[t]), crm="Test CRM", op="x.list"))


def test_one_page_per_call_reads_refuse_a_next_token_equal_to_the_one_they_were_read_with() -> None:
    assert check_next_token("Test CRM", "x.changes", "id:3", "id:6") == "id:6"
    assert check_next_token("Test CRM", "x.changes", None, None) is None
    with pytest.raises(RepeatedPageToken, match="id:3"):
        check_next_token("Test CRM", "x.changes", "id:3", "id:3")
