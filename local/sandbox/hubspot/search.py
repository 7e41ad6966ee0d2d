"""CRM search (§3): the limits (5 groups of 6 filters, 18 in all; `limit` ≤ 200; query ≤ 3,000 characters; no page
past the 10,000th result), the operators, ORed groups of ANDed filters, sorts and the integer `after` cursor.

Values compare by the property's type: numbers and dates as numbers (date filters accept epoch milliseconds or
ISO-8601, the reference leaves open which the server takes), everything else as case-insensitive text, except that
`IN`/`NOT_IN` values on string properties must be lower-case (an upper-case value matches nothing, as documented)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.sandbox.hubspot.model import Filter, Record, SearchRequest, Sort, validation_error

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
MAX_QUERY = 3000
MAX_RESULTS = 10_000
_NUMERIC = {"number", "date", "datetime"}


def check_limits(request: SearchRequest) -> int:
    """The request's offset; a 400 VALIDATION_ERROR for anything over the documented limits."""
    groups = request.filterGroups
    if len(groups) > MAX_GROUPS:
        raise validation_error(f"Too many filter groups: {len(groups)} (maximum {MAX_GROUPS})")
    for group in groups:
        if len(group.filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(f"Too many filters in a group: {len(group.filters)} "
                                   f"(maximum {MAX_FILTERS_PER_GROUP})")
    total = sum(len(g.filters) for g in groups)
    if total > MAX_FILTERS:
        raise validation_error(f"Too many filters: {total} (maximum {MAX_FILTERS} across all groups)")
    if not 0 < request.limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}")
    if request.query is not None and len(request.query) > MAX_QUERY:
        raise validation_error(f"query is longer than {MAX_QUERY} characters")
    after = request.after or "0"
    if not after.isdigit():
        raise validation_error(f"after must be an integer, got {after!r}")
    offset = int(after)
    if offset >= MAX_RESULTS:
        raise validation_error(f"Paging past {MAX_RESULTS} results is not supported: narrow the filters")
    return offset


def to_number(value: Any) -> float | None:
    """A number, an epoch-ms timestamp, or an ISO-8601 date/datetime as epoch milliseconds; None if none of those."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def _compare(kind: str, stored: str, wanted: Any) -> int | None:
    """-1/0/1 of stored vs wanted, None when they cannot be compared."""
    if kind in _NUMERIC:
        a, b = to_number(stored), to_number(wanted)
        if a is None or b is None:
            return None
        return (a > b) - (a < b)
    left, right = stored.lower(), str(wanted).lower()
    return (left > right) - (left < right)


def matches(filter_: Filter, record: Record, property_type: str) -> bool:
    stored = record.properties.get(filter_.propertyName)
    op = filter_.operator
    if op == "HAS_PROPERTY":
        return stored not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return stored in (None, "")
    if op in ("IN", "NOT_IN"):
        values = [str(v) for v in filter_.values or []]
        if property_type in _NUMERIC:
            hit = any(_compare(property_type, stored or "", v) == 0 for v in values)
        else:
            hit = stored is not None and stored.lower() in values  # values themselves must be lower-case
        return hit if op == "IN" else not hit
    if stored in (None, ""):
        return op in ("NEQ", "NOT_CONTAINS_TOKEN")
    assert stored is not None
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(filter_.value or "").lower().strip("*")
        found = token in stored.lower()
        return found if op == "CONTAINS_TOKEN" else not found
    if op == "BETWEEN":
        low, high = _compare(property_type, stored, filter_.value), _compare(property_type, stored, filter_.highValue)
        return low is not None and high is not None and low >= 0 and high <= 0
    order = _compare(property_type, stored, filter_.value)
    if order is None:
        return op == "NEQ"
    return {"EQ": order == 0, "NEQ": order != 0, "LT": order < 0, "LTE": order <= 0, "GT": order > 0,
            "GTE": order >= 0}[op]


def run(request: SearchRequest, records: list[Record], property_type: Callable[[str], str | None],
        text_properties: list[str]) -> tuple[int, list[Record], int]:
    """(total, the page of records, the offset the page starts at). `property_type` is None for an unknown property
    (a 400); `text_properties` are what `query` searches."""
    offset = check_limits(request)
    for group in request.filterGroups:
        for f in group.filters:
            if property_type(f.propertyName) is None:
                raise validation_error(f"There was a problem with the request: property {f.propertyName!r} "
                                       "does not exist")

    def keep(record: Record) -> bool:
        if request.query and not any(request.query.lower() in (record.properties.get(p) or "").lower()
                                     for p in text_properties):
            return False
        if not request.filterGroups:
            return True
        return any(all(matches(f, record, property_type(f.propertyName) or "string") for f in g.filters)
                   for g in request.filterGroups)

    found = [r for r in records if keep(r)]
    sorts = [s if isinstance(s, Sort) else Sort(propertyName=s.lstrip("-"),
                                                  direction="DESCENDING" if s.startswith("-") else "ASCENDING")
             for s in request.sorts] or [Sort(propertyName="hs_object_id")]
    for sort in reversed(sorts):
        kind = property_type(sort.propertyName) or "string"
        if kind in _NUMERIC:
            found.sort(key=lambda r, n=sort.propertyName: to_number(r.properties.get(n)) or 0.0,  # type: ignore[misc]
                       reverse=sort.direction == "DESCENDING")
        else:
            found.sort(key=lambda r, n=sort.propertyName: (r.properties.get(n) or "").lower(),  # type: ignore[misc]
                       reverse=sort.direction == "DESCENDING")
    end = min(offset + request.limit, MAX_RESULTS)
    return len(found), found[offset:end], offset
