"""Paged reads from a CRM, in the three shapes CRM APIs use: a cursor the CRM hands back (Salesforce
`nextRecordsUrl`, HubSpot `after`), keyset paging on a sorted key (SuperOffice archives: `pk gt last`), and offsets.

Whatever the shape, a page token the CRM already gave is never followed again: a CRM that ignores the token (or a
filter bug on our side) would otherwise make a run loop over the same page until its budget runs out. It raises
`RepeatedPageToken`, a `CrmUnavailable` naming the CRM, the operation and the token.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from leadbridge.errors import CrmUnavailable

R = TypeVar("R")  # an item of a page
T = TypeVar("T", bound=Hashable)  # a page token


class RepeatedPageToken(CrmUnavailable):
    def __init__(self, crm: str, op: str, token: object) -> None:
        shown = str(token)
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        super().__init__(
            f"{crm} {op} answered with a page token it already gave ({shown!r}); stopped instead of looping",
            details={"crm": crm, "page_token": shown},
        )


@dataclass(frozen=True)
class Page(Generic[R, T]):
    items: list[R]
    next_token: T | None  # None: the last page


def check_next_token(crm: str, op: str, token: T | None, next_token: T | None) -> T | None:
    """For reads that return one page per call (the caller keeps the token): the next token, unless it is the one
    this page was read with."""
    if next_token is not None and next_token == token:
        raise RepeatedPageToken(crm, op, next_token)
    return next_token


def pages(
    fetch: Callable[[T | None], Page[R, T]], *, crm: str, op: str, start: T | None = None
) -> Iterator[list[R]]:
    """Cursor paging: `fetch(token)` reads one page (`None`: the first) and says which token comes next."""
    seen: set[T] = set()
    token = start
    while True:
        page = fetch(token)
        yield page.items
        if page.next_token is None:
            return
        if token is not None:
            seen.add(token)
        if page.next_token == token or page.next_token in seen:
            raise RepeatedPageToken(crm, op, page.next_token)
        token = page.next_token


def keyset_pages(
    fetch_after: Callable[[T | None], list[R]],
    key: Callable[[R], T],
    *,
    page_size: int,
    crm: str,
    op: str,
) -> Iterator[list[R]]:
    """Keyset paging: `fetch_after(last_key)` reads up to `page_size` items sorted by `key`, after `last_key`
    (`None`: from the start); a shorter page is the last."""

    def fetch(after: T | None) -> Page[R, T]:
        items = fetch_after(after)
        return Page(items, key(items[-1]) if items and len(items) >= page_size else None)

    return pages(fetch, crm=crm, op=op)


def offset_pages(
    fetch_at: Callable[[int], list[R]], *, page_size: int, crm: str, op: str
) -> Iterator[list[R]]:
    """Offset paging: `fetch_at(offset)` reads up to `page_size` items from `offset`; a shorter page is the last."""

    def fetch(offset: int | None) -> Page[R, int]:
        start = offset or 0
        items = fetch_at(start)
        return Page(items, start + len(items) if items and len(items) >= page_size else None)

    return pages(fetch, crm=crm, op=op)
