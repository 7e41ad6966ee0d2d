"""OData archive query building for the SuperOffice REST archives (`/api/v1/Contact`, `/api/v1/Archive/{provider}`).

Values are always quoted here, never spliced raw into a filter: a company called `O'Brien's` becomes
`'O''Brien''s'` (OData doubles single quotes), so user data cannot change the query.

Operators used (SOD `en/api/search/odata/*.md`): `eq` (strings, exact; unconfirmed on `orgnr`, with a `begins`
fallback), `begins`, `contains`, `afterTime` (datetime), `gt` (int, for keyset paging). `le`/`ge` are avoided
(the official samples mark them as failing).
"""

from __future__ import annotations

from datetime import UTC, datetime


def quote(value: str) -> str:
    """An OData string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def odata_datetime(moment: datetime) -> str:
    """A UTC timestamp literal without offset, as the archive date columns (UTC) compare it."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return quote(moment.strftime("%Y-%m-%dT%H:%M:%S"))


def eq(column: str, value: str | int) -> str:
    return f"{column} eq {value}" if isinstance(value, int) else f"{column} eq {quote(value)}"


def begins(column: str, value: str) -> str:
    return f"{column} begins {quote(value)}"


def contains(column: str, value: str) -> str:
    return f"{column} contains {quote(value)}"


def after_time(column: str, moment: datetime) -> str:
    return f"{column} afterTime {odata_datetime(moment)}"


def greater_than(column: str, value: int) -> str:
    return f"{column} gt {int(value)}"


def all_of(*clauses: str | None) -> str:
    return " and ".join(c for c in clauses if c)


def archive_params(
    *,
    select: list[str],
    filter: str | None = None,
    order_by: str | None = None,
    top: int | None = None,
    skip: int | None = None,
) -> dict[str, str]:
    """Query parameters, named exactly as the spec declares them (`$orderBy`, not `$orderby`)."""
    params: dict[str, str] = {"$select": ",".join(select)}
    if filter:
        params["$filter"] = filter
    if order_by:
        params["$orderBy"] = order_by
    if top is not None:
        params["$top"] = str(int(top))
    if skip:
        params["$skip"] = str(int(skip))
    return params
