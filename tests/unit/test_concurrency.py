"""`leadbridge.concurrency`: overlapped calls keep their order, all run to their end, and the first error is raised."""

from __future__ import annotations

import threading

import pytest

from leadbridge.concurrency import each, together


def test_each_returns_results_in_item_order_with_calls_in_flight_at_once() -> None:
    # Two calls must be in flight together for either to pass the barrier: run one after the other, this would fail.
    barrier = threading.Barrier(2, timeout=30)

    def square(n: int) -> int:
        if n < 2:
            barrier.wait()
        return n * n

    assert each(square, [0, 1, 2, 3, 4], limit=2) == [0, 1, 4, 9, 16]


def test_every_call_ends_before_the_first_error_in_item_order_is_raised() -> None:
    done: list[int] = []

    def work(n: int) -> int:
        if n in (1, 3):
            raise ValueError(f"item {n}")
        done.append(n)
        return n

    with pytest.raises(ValueError, match="item 1"):
        each(work, range(6))
    assert sorted(done) == [0, 2, 4, 5]


def test_together_runs_every_call_and_raises_the_failure() -> None:
    ran: list[str] = []

    def fails() -> None:
        ran.append("fails")
        raise RuntimeError("bus down")

    with pytest.raises(RuntimeError, match="bus down"):
        together(fails, lambda: ran.append("feed"))
    assert sorted(ran) == ["fails", "feed"]
