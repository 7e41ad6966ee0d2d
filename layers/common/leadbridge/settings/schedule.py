"""Next-run computation for the sync scheduler (seed 000 step 5: four frequencies + start date and time).

Semantics, in the schedule's IANA time zone:
- `every_15_minutes` and `hourly` run at fixed *elapsed* intervals from the start instant (a DST change neither adds
  nor drops a run: there are always 4 runs, or 1, per real hour).
- `daily` and `weekly` run at the same *wall-clock* time (09:00 stays 09:00 local across DST). A start time that does
  not exist on a spring-forward day (02:30 in a gap) runs at the same elapsed offset after the gap (03:30); a time
  that occurs twice on a fall-back day runs at the first occurrence.
- `manual` never runs by itself: next run None.
Every result is an aware UTC datetime strictly after `now`.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from leadbridge.models.settings import Frequency, Schedule

_INTERVALS = {Frequency.EVERY_15_MINUTES: timedelta(minutes=15), Frequency.HOURLY: timedelta(hours=1)}
_PERIOD_DAYS = {Frequency.DAILY: 1, Frequency.WEEKLY: 7}


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `zone` (gap: shifted forward; overlap: first occurrence)."""
    # fold=0 resolves an ambiguous time to its first occurrence and a non-existent one with the pre-gap offset,
    # which lands the same elapsed time after the gap.
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(UTC)


def next_run(schedule: Schedule, now: datetime, *, today: date | None = None) -> datetime | None:
    """The first run strictly after `now` (aware). A missing `start_date` means the local date of `now`
    (or `today` when given)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if schedule.frequency is Frequency.MANUAL:
        return None
    zone = ZoneInfo(schedule.timezone)
    start_day = schedule.start_date or today or now.astimezone(zone).date()
    start = local_instant(start_day, schedule.start_time, zone)
    now = now.astimezone(UTC)
    if start > now:
        return start

    interval = _INTERVALS.get(schedule.frequency)
    if interval is not None:
        steps = math.floor((now - start) / interval) + 1
        return start + steps * interval

    period = _PERIOD_DAYS[schedule.frequency]
    # Walk local calendar days (not 24 h steps) so the wall-clock time holds across DST.
    local_today = now.astimezone(zone).date()
    elapsed_days = (local_today - start_day).days
    day = start_day + timedelta(days=(elapsed_days // period) * period)
    while True:
        candidate = local_instant(day, schedule.start_time, zone)
        if candidate > now:
            return candidate
        day += timedelta(days=period)


def runs_between(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """All runs in (after, until]; for previews in the settings screen and for tests."""
    out: list[datetime] = []
    cursor = after
    while True:
        run = next_run(schedule, cursor)
        if run is None or run > until:
            return out
        out.append(run)
        cursor = run
