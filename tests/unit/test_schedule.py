"""Next-run computation for every frequency, including across both DST changes of Europe/Copenhagen."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from leadbridge.models.settings import Frequency, Schedule
from leadbridge.settings.schedule import next_run, runs_between

CPH = "Europe/Copenhagen"  # DST 2025: 30 March 02:00 → 03:00, 26 October 03:00 → 02:00


def sched(freq: str, start: date, at: time, tz: str = CPH) -> Schedule:
    return Schedule(frequency=Frequency(freq), start_date=start, start_time=at, timezone=tz)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_manual_never_runs() -> None:
    assert next_run(Schedule(frequency=Frequency.MANUAL), utc(2025, 1, 1)) is None


def test_before_start_the_first_run_is_the_start() -> None:
    s = sched("daily", date(2025, 6, 1), time(9, 0))
    assert next_run(s, utc(2025, 5, 1)) == utc(2025, 6, 1, 7, 0)  # 09:00 CEST


def test_next_run_is_strictly_after_now() -> None:
    s = sched("hourly", date(2025, 1, 1), time(0, 0), tz="UTC")
    assert next_run(s, utc(2025, 1, 1, 5, 0)) == utc(2025, 1, 1, 6, 0)


def test_every_15_minutes_keeps_elapsed_spacing_over_spring_forward() -> None:
    s = sched("every_15_minutes", date(2025, 3, 29), time(0, 0))
    runs = runs_between(s, utc(2025, 3, 30, 0, 40), utc(2025, 3, 30, 1, 20))
    # 01:45 CET, 03:00 CEST, 03:15 CEST: the skipped local hour has no runs; spacing stays 15 real minutes.
    assert runs == [utc(2025, 3, 30, 0, 45), utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 15)]


def test_hourly_runs_once_per_real_hour_through_fall_back() -> None:
    s = sched("hourly", date(2025, 10, 1), time(0, 30))
    runs = runs_between(s, utc(2025, 10, 25, 23, 0), utc(2025, 10, 26, 3, 0))
    # Local 02:30 happens twice (CEST then CET): both are runs, one per real hour.
    assert runs == [
        utc(2025, 10, 25, 23, 30),
        utc(2025, 10, 26, 0, 30),
        utc(2025, 10, 26, 1, 30),
        utc(2025, 10, 26, 2, 30),
    ]
    assert [r.astimezone(ZoneInfo(CPH)).strftime("%H:%M%z") for r in runs] == [
        "01:30+0200",
        "02:30+0200",
        "02:30+0100",
        "03:30+0100",
    ]


def test_daily_keeps_wall_clock_time_across_spring_forward() -> None:
    s = sched("daily", date(2025, 3, 1), time(9, 0))
    runs = runs_between(s, utc(2025, 3, 28, 12, 0), utc(2025, 4, 1, 12, 0))
    assert runs == [utc(2025, 3, 29, 8, 0), utc(2025, 3, 30, 7, 0), utc(2025, 3, 31, 7, 0), utc(2025, 4, 1, 7, 0)]


def test_daily_keeps_wall_clock_time_across_fall_back() -> None:
    s = sched("daily", date(2025, 10, 1), time(9, 0))
    assert next_run(s, utc(2025, 10, 25, 12, 0)) == utc(2025, 10, 26, 8, 0)  # 09:00 CET


def test_daily_start_time_in_the_spring_gap_runs_after_the_gap() -> None:
    s = sched("daily", date(2025, 3, 1), time(2, 30))
    assert next_run(s, utc(2025, 3, 29, 12, 0)) == utc(2025, 3, 30, 1, 30)  # 03:30 CEST, once
    assert next_run(s, utc(2025, 3, 30, 1, 30)) == utc(2025, 3, 31, 0, 30)  # back to 02:30 CEST


def test_daily_start_time_in_the_fall_overlap_runs_once_at_first_occurrence() -> None:
    s = sched("daily", date(2025, 10, 1), time(2, 30))
    first = next_run(s, utc(2025, 10, 25, 12, 0))
    assert first == utc(2025, 10, 26, 0, 30)  # 02:30 CEST
    assert next_run(s, first) == utc(2025, 10, 27, 1, 30)  # next day 02:30 CET, not the repeated 02:30


def test_weekly_same_weekday_and_local_time_across_dst() -> None:
    s = sched("weekly", date(2025, 3, 24), time(8, 0))  # a Monday
    runs = runs_between(s, utc(2025, 3, 24, 12, 0), utc(2025, 4, 8, 0, 0))
    assert runs == [utc(2025, 3, 31, 6, 0), utc(2025, 4, 7, 6, 0)]  # 08:00 CEST Mondays
    assert next_run(s, utc(2025, 3, 24, 7, 0)) == utc(2025, 3, 31, 6, 0)  # start (08:00 CET) is not "after" itself


def test_weekly_across_fall_back_in_new_york() -> None:
    s = sched("weekly", date(2025, 10, 27), time(7, 0), tz="America/New_York")  # Monday, EDT
    assert next_run(s, utc(2025, 10, 27, 12, 0)) == utc(2025, 11, 3, 12, 0)  # 07:00 EST (DST ended 2 Nov)


def test_missing_start_date_means_today_in_the_zone() -> None:
    s = Schedule(frequency=Frequency.DAILY, start_time=time(23, 0), timezone=CPH)
    # 22:30 UTC on 1 June is already 00:30 on 2 June in Copenhagen: "today" there is 2 June.
    assert next_run(s, utc(2025, 6, 1, 22, 30)) == utc(2025, 6, 2, 21, 0)


def test_unknown_zone_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="unknown IANA time zone 'Mars/Olympus'"):
        Schedule(frequency=Frequency.DAILY, timezone="Mars/Olympus")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_run(sched("daily", date(2025, 1, 1), time(0, 0)), datetime(2025, 1, 1))
