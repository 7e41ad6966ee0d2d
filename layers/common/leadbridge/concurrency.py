"""Independent AWS calls overlapped.

A page applied by the sync worker makes calls that do not depend on each other (the feed, the bus, the log; the 25-item
chunks of one batched write): each one mostly waits on the network, so a few in flight cost about the slowest of them
instead of their sum. boto3 clients are thread-safe once made, so callers make theirs before handing calls here.

Each call to these functions uses its own short-lived threads (never a shared pool): a call made from inside another
one (a batched write inside an overlapped report) then cannot wait on a pool its own caller occupies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT = 4  # requests of one caller in flight at once: enough to hide the network, few enough not to be throttled


def together(*calls: Callable[[], object]) -> None:
    """Run the calls at once and wait for all of them; then raise the first one's error, if any. Every call runs to
    its end even when another fails (a write half-done because its neighbour failed is harder to reason about)."""
    each(lambda call: call(), calls)


def each(fn: Callable[[T], R], items: Sequence[T], *, limit: int = IN_FLIGHT) -> list[R]:
    """`[fn(item) for item in items]`, at most `limit` at once, results in order. The first error (in item order) is
    raised once every call has ended."""
    if len(items) <= 1 or limit <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="overlap") as pool:
        futures = [pool.submit(fn, item) for item in items]
    # Leaving the pool waited for every call, so no future below blocks.
    return [future.result() for future in futures]
