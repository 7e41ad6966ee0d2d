"""The test suite's waiting helpers (tests/support/waiting.py) on a clock that moves only when they sleep."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tests.support.waiting import wait_until, wait_while_progressing


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_until_returns_as_soon_as_the_condition_holds() -> None:
    clock, answers = Clock(), iter([False, False, True])

    wait_until(lambda: next(answers), what="the third look", interval=0.1, clock=clock, sleep=clock.sleep)

    assert clock.now == pytest.approx(0.1 + 0.15)  # looked at 0, 0.1 and 0.25 s


def test_wait_until_looks_less_often_the_longer_it_waits_up_to_a_bound() -> None:
    clock, looks = Clock(), []

    def look() -> bool:
        looks.append(clock.now)
        return clock.now >= 10

    wait_until(look, what="ten seconds", interval=0.1, clock=clock, sleep=clock.sleep)

    gaps = [round(b - a, 6) for a, b in pairwise(looks)]
    assert gaps[:3] == [0.1, 0.15, 0.225]  # soon at first: most conditions hold within a few looks
    assert max(gaps) == pytest.approx(0.4) and gaps[-2] == pytest.approx(0.4)  # then every 0.4 s at most
    assert len(looks) < 40  # against 100 looks at a fixed 0.1 s


def test_wait_until_names_what_it_waited_for_when_it_gives_up() -> None:
    clock = Clock()

    with pytest.raises(AssertionError, match="gave up waiting 60 s for the queue to drain"):
        wait_until(lambda: False, what="the queue to drain", clock=clock, sleep=clock.sleep)

    assert clock.now == pytest.approx(60.0)


def test_slow_work_is_waited_for_as_long_as_it_moves() -> None:
    clock, done_so_far = Clock(), iter(range(0, 1001, 10))  # 10 more every 0.5 s: 50 s, far beyond any stall limit

    last = wait_while_progressing(lambda: next(done_so_far), lambda n: n >= 1000, what="the burst",
                                  stalled_after=5.0, clock=clock, sleep=clock.sleep)

    assert last == 1000 and clock.now == pytest.approx(50.0)


def test_work_that_stops_moving_fails_after_the_stall_limit_with_where_it_stuck() -> None:
    clock, progress = Clock(), iter([1, 2, 3])

    with pytest.raises(AssertionError, match=r"the burst: no progress for 180 s, stuck at 3"):
        wait_while_progressing(lambda: next(progress, 3), lambda n: n >= 1000, what="the burst", clock=clock,
                               sleep=clock.sleep)

    assert clock.now == pytest.approx(1.0 + 180.0)
