"""`leadbridge.models.time.as_utc`: the one rule for timestamps that may arrive naive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from leadbridge.models.time import as_utc


def test_a_naive_timestamp_is_taken_as_utc() -> None:
    assert as_utc(datetime(2026, 3, 1, 12, 0)) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert as_utc(datetime(2026, 3, 1, 12, 0)).tzinfo is UTC


def test_an_aware_timestamp_is_converted_to_utc() -> None:
    oslo_summer = timezone(timedelta(hours=2))
    converted = as_utc(datetime(2026, 6, 1, 14, 30, tzinfo=oslo_summer))
    assert converted.tzinfo is UTC
    assert converted.isoformat() == "2026-06-01T12:30:00+00:00"


def test_results_compare_and_print_alike() -> None:
    naive = datetime(2026, 6, 1, 12, 30)
    aware = datetime(2026, 6, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(naive) == as_utc(aware)
    assert as_utc(naive).isoformat() == as_utc(aware).isoformat()
