"""SOQL literals: values reach a query only through these (quotes, backslashes and LIKE wildcards escaped)."""

from __future__ import annotations

from datetime import UTC, datetime


def soql_string(value: str) -> str:
    """A SOQL string literal (quotes and backslashes escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def soql_like(value: str) -> str:
    """A LIKE pattern's literal text: `%` and `_` in the value match themselves."""
    return value.replace("\\", "\\\\").replace("'", "\\'").replace("%", "\\%").replace("_", "\\_")


def soql_datetime(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


