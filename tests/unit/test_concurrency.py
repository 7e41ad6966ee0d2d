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


def test_calls_nested_in_calls_never_wait_on_threads_their_callers_hold() -> None:
    # More outer calls than a level has threads, each waiting on nested calls: with one pool for both levels, the
    # outer calls would hold every thread and the nested ones would wait behind them for ever.
    from leadbridge.concurrency import _THREADS_PER_LEVEL

    outer = _THREADS_PER_LEVEL + 4
    results: list[list[list[int]]] = []

    def middle(group: int) -> list[int]:
        return each(lambda n: group * 10 + n, [1, 2])

    runner = threading.Thread(target=lambda: results.append(each(middle, list(range(outer)), limit=outer)))
    runner.start()
    runner.join(timeout=60)

    assert not runner.is_alive(), "nested calls waited on the threads their callers held"
    assert results == [[[g * 10 + 1, g * 10 + 2] for g in range(outer)]]


def test_calls_nested_deeper_than_the_levels_run_in_their_callers_thread() -> None:
    from leadbridge.concurrency import LEVELS

    threads: list[str] = []

    def nest(depth: int) -> int:
        if depth == LEVELS + 1:
            threads.append(threading.current_thread().name)
            return depth
        return max(each(nest, [depth + 1, depth + 1]))

    assert nest(0) == LEVELS + 1
    assert all(name.startswith(f"overlap-{LEVELS - 1}") for name in threads)
