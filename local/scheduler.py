"""EventBridge schedules, locally: template `Schedule` events invoke their function on the rate/cron expression.

moto stores schedule rules but never fires them, so this loop does. `fire_now` invokes at once (tests, `make run`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local.events import scheduled_event
from local.lambda_runtime import FunctionRuntime, Invocation
from local.template import SamTemplate, ScheduleSpec

log = logging.getLogger("local.scheduler")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}  # EventBridge: 1 = Sunday


class UnsupportedSchedule(ValueError):
    pass


@dataclass(frozen=True)
class Rate:
    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None = "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # EventBridge numbering, 1 = Sunday
    years: frozenset[int] | None

    def matches(self, moment: datetime) -> bool:
        eventbridge_dow = (moment.isoweekday() % 7) + 1  # Monday=1 in ISO -> 2 in EventBridge
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and (self.days_of_month is None or moment.day in self.days_of_month)
            and (self.days_of_week is None or eventbridge_dow in self.days_of_week)
            and (self.years is None or moment.year in self.years)
        )

    def next_after(self, moment: datetime) -> datetime:
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + timedelta(days=366 * 5)
        while candidate < limit:
            if candidate.month not in self.months or (self.years is not None and candidate.year not in self.years):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if self.matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise UnsupportedSchedule("cron expression never fires in the next five years")


def parse_schedule(expression: str) -> Rate | Cron:
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1 or (value == 1) != (not rate.group(2).endswith("s")):
            raise UnsupportedSchedule(f"{expression}: EventBridge wants 'rate(1 {unit})' or 'rate(N {unit}s)'")
        return Rate(timedelta(**{f"{unit}s": value}))
    cron = _CRON.match(text)
    if not cron:
        raise UnsupportedSchedule(f"{expression}: not rate(...) or cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise UnsupportedSchedule(f"{expression}: cron needs 6 fields (min hour day-of-month month day-of-week year)")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise UnsupportedSchedule(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_field(minute, 0, 59),
        hours=_field(hour, 0, 23),
        days_of_month=None if dom == "?" else _field(dom, 1, 31),
        months=_field(month, 1, 12, _MONTHS),
        days_of_week=None if dow == "?" else _field(dow, 1, 7, _DAYS),
        years=None if year in ("*", "?") else _field(year, 1970, 2199),
    )


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    if any(c in text for c in "LW#"):
        raise UnsupportedSchedule(f"cron field {text!r}: L, W and # are not supported locally")

    def number(token: str) -> int:
        value = (names or {}).get(token.upper())
        return value if value is not None else int(token)

    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = number(first), number(last)
        else:
            start = number(base)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high):
            raise UnsupportedSchedule(f"cron field {text!r} outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


class Scheduler:
    def __init__(
        self,
        template: SamTemplate,
        runtime: FunctionRuntime,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runtime = runtime
        self.resolver = template.resolver
        self.schedules = template.schedules()
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rule_arn(self, spec: ScheduleSpec) -> str:
        # SAM names the generated rule after the function and event.
        return (f"arn:aws:events:{self.resolver.region}:{self.resolver.account_id}:rule/"
                f"{self.resolver.stack_name}-{spec.function_id}{spec.event_id}")

    def event_for(self, spec: ScheduleSpec, at: datetime | None = None) -> Any:
        if spec.input is not None:
            return json.loads(spec.input)
        return scheduled_event(self.rule_arn(spec), at=at or self._now(), region=self.resolver.region)

    def fire_now(self, function_id: str, event_id: str | None = None) -> Invocation:
        """Invoke the function as its schedule would, now. A missing handler is logged and reported, not raised."""
        specs = [s for s in self.schedules if s.function_id == function_id and event_id in (None, s.event_id)]
        if not specs:
            raise KeyError(f"{function_id} has no schedule event in the template")
        return self._fire(specs[0])

    def _fire(self, spec: ScheduleSpec) -> Invocation:
        invocation = self.runtime.invoke(spec.function_id, self.event_for(spec))
        if invocation.not_built:
            log.warning("schedule %s.%s skipped: %s", spec.function_id, spec.event_id, invocation.error)
        elif not invocation.ok:
            log.warning("schedule %s.%s: invocation failed: %s", spec.function_id, spec.event_id, invocation.error)
        return invocation

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="local-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        due: dict[ScheduleSpec, tuple[Rate | Cron, datetime]] = {}
        start = self._now()
        for spec in self.schedules:
            if not spec.enabled:
                continue
            try:
                expression = parse_schedule(spec.expression)
            except UnsupportedSchedule as exc:
                log.warning("schedule %s.%s not run locally: %s", spec.function_id, spec.event_id, exc)
                continue
            due[spec] = (expression, expression.next_after(start))
        while due and not self._stop.is_set():
            spec, (expression, at) = min(due.items(), key=lambda item: item[1][1])
            wait = (at - self._now()).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 1.0))  # short naps: the clock may be moved (tests)
                continue
            try:
                self._fire(spec)
            except Exception:
                log.exception("schedule %s.%s failed", spec.function_id, spec.event_id)
            # A run longer than the interval skips the missed slots instead of firing back-to-back.
            following = expression.next_after(at)
            now = self._now()
            while following <= now:
                following = expression.next_after(following)
            due[spec] = (expression, following)
