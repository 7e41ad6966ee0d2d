"""Fault injection for sandboxes: make the next N matching requests fail, slow down or hang.

Kinds:
- "429", "500", "503", "421", or any other 3-digit status: answer with that status (429/503 may carry Retry-After).
- "latency": sleep `seconds`, then handle the request normally.
- "timeout": sleep `seconds` (pick longer than the client timeout), then answer nobody (the client gave up).

A fault matches when every filter it has matches (method, path prefix, scope such as a customer id). `after=N` lets
the first N matching requests through untouched (a failure in the middle of a run). `count=None` keeps it active
until cleared; otherwise each matching request it applies to consumes one.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

_KINDS_NON_STATUS = {"latency", "timeout"}
_never = threading.Event()  # never set: waiting on it is the sleep of a latency or timeout fault


@dataclass
class Fault:
    id: int
    kind: str
    count: int | None = 1
    path_prefix: str | None = None
    method: str | None = None
    scope: str | None = None
    retry_after: int | None = None
    seconds: float = 0.0
    message: str | None = None
    after: int = 0  # matching requests still to let through before the fault applies

    @property
    def status(self) -> int | None:
        return None if self.kind in _KINDS_NON_STATUS else int(self.kind)

    def matches(self, method: str, paths: tuple[str, ...], scope: str | None) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.scope and self.scope != scope:
            return False
        if self.path_prefix:
            prefix = self.path_prefix.lower()
            if not any(p.lower().startswith(prefix) for p in paths):
                return False
        return True

    def retry_after_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str | int,
        *,
        count: int | None = 1,
        path_prefix: str | None = None,
        method: str | None = None,
        scope: str | None = None,
        retry_after: int | None = None,
        seconds: float = 0.0,
        message: str | None = None,
        after: int = 0,
    ) -> Fault:
        kind = str(kind).lower()
        if kind not in _KINDS_NON_STATUS and not (kind.isdigit() and len(kind) == 3):
            raise ValueError(f"unknown fault kind {kind!r}: use a 3-digit status, 'latency' or 'timeout'")
        if count is not None and count < 1:
            raise ValueError("count must be >= 1, or None for 'until cleared'")
        if after < 0:
            raise ValueError("after must be >= 0")
        if kind in _KINDS_NON_STATUS and seconds <= 0:
            raise ValueError(f"fault kind {kind!r} needs seconds > 0")
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            count=count,
            path_prefix=path_prefix,
            method=method,
            scope=scope,
            retry_after=retry_after,
            seconds=seconds,
            message=message,
            after=after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, paths: tuple[str, ...], scope: str | None) -> list[Fault]:
        """Consume and return the faults that apply to this request: all matching latency faults, then at most one
        terminal fault (status or timeout), oldest first."""
        taken: list[Fault] = []
        with self._lock:
            terminal_taken = False
            for fault in list(self._faults):
                if not fault.matches(method, paths, scope):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                terminal = fault.kind != "latency"
                if terminal and terminal_taken:
                    continue
                terminal_taken = terminal_taken or terminal
                taken.append(fault)
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return taken

    def hold(self, method: str, paths: tuple[str, ...], scope: str | None) -> Fault | None:
        """Apply this request's faults: wait out every latency fault, then return the terminal fault for the CRM to
        answer (a status, or a timeout whose `seconds` have been waited out too), or None to serve the request."""
        for fault in self.take(method, paths, scope):
            if fault.kind == "latency":
                _never.wait(fault.seconds)
                continue
            if fault.kind == "timeout":
                _never.wait(fault.seconds)
            return fault
        return None

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self, fault_id: int | None = None) -> None:
        with self._lock:
            if fault_id is None:
                self._faults.clear()
            else:
                self._faults = [f for f in self._faults if f.id != fault_id]
