"""Independent AWS calls overlapped.

A page applied by the sync worker makes calls that do not depend on each other (the feed, the bus, the log; the 25-item
chunks of one batched write): each one mostly waits on the network, so a few in flight cost about the slowest of them
instead of their sum. botocore clients are thread-safe once made, so callers make theirs before handing calls here.

The threads are kept for the life of the process, one pool per nesting level: a call made from inside another one (a
batched write inside an overlapped report) runs on the next level's pool, so it never waits on a pool its own caller
occupies, and calls nested deeper than `LEVELS` run one after the other in the caller's thread. Starting threads for
every call was about a twentieth of the sync worker's CPU (a few threads per batched read or write).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Requests of one caller in flight at once: enough to hide the network, few enough not to be throttled. 8, not 4: a
# slice's 20 PutEvents calls go in 3 waves instead of 5, its 8 log and 8 state chunks in 1 instead of 2; with 5 ms per
# AWS call the worker applied about 4 % more records/s (benchmarks/results/peer-in-flight-ab.json).
IN_FLIGHT = 8
LEVELS = 3  # nesting levels with threads of their own (the worker nests two: a report's write, its chunks)
# Threads per level: a few callers at once (the local stack runs several invocations in one process) get their share.
_THREADS_PER_LEVEL = 4 * IN_FLIGHT

_level = threading.local()
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def together(*calls: Callable[[], object]) -> None:
    """Run the calls at once and wait for all of them; then raise the first one's error, if any. Every call runs to
    its end even when another fails (a write half-done because its neighbour failed is harder to reason about)."""
    each(lambda call: call(), calls)


def each(fn: Callable[[T], R], items: Sequence[T], *, limit: int = IN_FLIGHT) -> list[R]:
    """`[fn(item) for item in items]`, at most `limit` at once, results in order. The first error (in item order) is
    raised once every call has ended."""
    level = getattr(_level, "depth", 0)
    if len(items) <= 1 or limit <= 1 or level >= LEVELS:
        return [fn(item) for item in items]
    pool = _pool(level)
    futures: list[Future[R]] = []
    running: set[Future[R]] = set()
    for item in items:
        if len(running) >= limit:
            _, running = wait(running, return_when=FIRST_COMPLETED)
        futures.append(pool.submit(fn, item))
        running.add(futures[-1])
    wait(running)
    # Every call has ended, so no future below blocks.
    return [future.result() for future in futures]


def _pool(level: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if level not in _pools:
            _pools[level] = ThreadPoolExecutor(
                max_workers=_THREADS_PER_LEVEL,
                thread_name_prefix=f"overlap-{level}",
                initializer=_enter_level,
                initargs=(level + 1,),
            )
        return _pools[level]


def _enter_level(depth: int) -> None:
    _level.depth = depth
