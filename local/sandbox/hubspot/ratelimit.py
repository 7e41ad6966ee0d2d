"""Rolling-window request limits (§7): 110 requests per 10 s per installed account (portal + app), and search's own
5 per second per account. Time comes from the sandbox's clock, so tests move it instead of sleeping."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    name: str  # the 429 body's `policyName`
    limit: int
    window_s: float


class RollingWindow:
    def __init__(self, policy: Policy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)

    def take(self, key: str) -> int | None:
        """Count one request for `key`: the requests still allowed in the window after it, or None when over the
        limit (the refused request is not counted)."""
        now = self._clock()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.policy.window_s:
                hits.popleft()
            if len(hits) >= self.policy.limit:
                return None
            hits.append(now)
            return self.policy.limit - len(hits)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
