"""Thread-safe request counters, grouped by scope (e.g. a customer id) and operation."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict


class CallCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def hit(self, scope: str, operation: str) -> None:
        with self._lock:
            self._counts[scope][operation] += 1

    def counts(self, scope: str) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.get(scope, Counter()))

    def total(self, scope: str) -> int:
        with self._lock:
            return sum(self._counts.get(scope, Counter()).values())

    def reset(self, scope: str | None = None) -> None:
        with self._lock:
            if scope is None:
                self._counts.clear()
            else:
                self._counts.pop(scope, None)
