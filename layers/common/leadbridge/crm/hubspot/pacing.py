"""Client-side pacing of HubSpot requests per installed account (reference §3, §7), shared by every connector of
that account in this process.

- general: 110 requests per rolling 10 s per account (search not counted);
- search: 5 requests per rolling second per account, a budget of its own (search answers carry no rate-limit
  headers, so only client-side pacing keeps search under it).

A request waits (the injected `sleep`) until its window has room, then counts. The window is corrected by
`X-HubSpot-RateLimit-Remaining` when HubSpot sends it (another process or container using the same account):
when HubSpot says fewer remain than this process counted, the difference is counted as spent now.

Windows live at module level keyed by hub id and clock, so connectors built for different runs of one account share
them (in a deployment every connector reads the one monotonic clock); thread-safe. A test's own clock gets windows of
its own: a window counted on a clock that stopped would otherwise make the next connector of that hub id wait for
ever. Tests call `reset()` between tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

GENERAL = (110, 10.0)  # requests, seconds (public apps, per installing account, search excluded)
SEARCH = (5, 1.0)
MARGIN = 0.05  # of a window, added to it on this side (see Window.span)
MIN_MARGIN_SECONDS = 0.05


@dataclass
class Window:
    limit: int
    seconds: float
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: deque[float] = deque()

    @property
    def span(self) -> float:
        """How long a request counts here: HubSpot's window plus a margin, since HubSpot counts a request when it
        arrives, and one sent just as the window allows it can arrive before an earlier one counted there (a 429
        the margin avoids)."""
        return self.seconds + max(self.seconds * MARGIN, MIN_MARGIN_SECONDS)

    def _expire(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.span:
            self._hits.popleft()

    def acquire(self, sleep: Callable[[float], None]) -> float:
        """Wait until one more request fits, and count it. Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                self._expire(now)
                if len(self._hits) < self.limit:
                    self._hits.append(now)
                    return waited
                delay = max(self._hits[0] + self.span - now, 0.001)
            sleep(delay)  # outside the lock: others may count meanwhile; the loop checks again
            waited += delay

    def remaining(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return self.limit - len(self._hits)

    def correct(self, remaining: int) -> None:
        """HubSpot says `remaining` requests are left in its window: count what others spent as spent now."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            missing = (self.limit - len(self._hits)) - max(remaining, 0)
            self._hits.extend([now] * max(missing, 0))

    def exhaust(self) -> None:
        """A 429 says the window is full: count it full from now."""
        self.correct(0)


@dataclass
class AccountLimits:
    general: Window
    search: Window


_lock = threading.Lock()
_accounts: dict[tuple[str, Callable[[], float]], AccountLimits] = {}


def for_account(
    hub_id: str, *, clock: Callable[[], float] = time.monotonic, general: tuple[int, float] = GENERAL,
    search: tuple[int, float] = SEARCH,
) -> AccountLimits:
    """The account's windows on `clock` (made on first use)."""
    with _lock:
        limits = _accounts.get((hub_id, clock))
        if limits is None:
            limits = AccountLimits(Window(*general, clock), Window(*search, clock))
            _accounts[(hub_id, clock)] = limits
        return limits


def reset() -> None:
    """Forget every account's windows (tests)."""
    with _lock:
        _accounts.clear()
