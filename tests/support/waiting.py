"""Waiting for something to happen in a test, never for time to pass.

A test that sleeps hopes the work is done by then: on a busy machine it is not, and the test fails for no reason.
These helpers poll the condition itself. `wait_until` gives up after a timeout that only a broken system reaches;
`wait_while_progressing` has no deadline on the work at all and gives up only when the work stops moving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# A condition that holds at all holds well within this, however busy the machine (tests usually wait well under 1 s).
GENEROUS_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
# A look at the condition is often a request through the local stack, which takes the CPU from the work waited for:
# after the first looks, look less often, up to this.
MAX_POLL_INTERVAL = 0.4
POLL_BACKOFF = 1.5


def wait_until(predicate: Callable[[], object], *, timeout: float = GENEROUS_TIMEOUT, what: str,
               interval: float = POLL_INTERVAL, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> None:
    """Until `predicate()` is true; fails naming `what` when it is still false after `timeout` seconds. Looks every
    `interval` seconds at first, then 1.5 times less often each time, up to every `MAX_POLL_INTERVAL` seconds."""
    deadline = clock() + timeout
    while not predicate():
        if clock() >= deadline:
            raise AssertionError(f"gave up waiting {timeout:.0f} s for {what}")
        sleep(min(interval, deadline - clock()))  # one last look at the deadline, not past it
        interval = min(max(interval, MAX_POLL_INTERVAL), interval * POLL_BACKOFF)


def wait_while_progressing(progress: Callable[[], T], done: Callable[[T], bool], *, what: str,
                           stalled_after: float = 180.0, interval: float = 0.5,
                           clock: Callable[[], float] = time.monotonic,
                           sleep: Callable[[float], None] = time.sleep) -> T:
    """Until `done(progress())`, however long that takes while `progress()` keeps changing; fails only when its value
    stays the same for `stalled_after` seconds (the work is stuck, not slow). Returns the last value."""
    last = progress()
    changed_at = clock()
    while not done(last):
        if clock() - changed_at >= stalled_after:
            raise AssertionError(f"{what}: no progress for {stalled_after:.0f} s, stuck at {last!r}")
        sleep(interval)
        current = progress()
        if current != last:
            last, changed_at = current, clock()
    return last
