"""Whether a sync run has room for one more step: the Lambda invocation's time left (less a reserve and twice the
slowest step so far) and the run's CRM request budget. Out of room, the run unwinds with `RunStopped`.

A step is whatever a run does between two checks: a slice of a page (`WorkerConfig.apply_slice` records), waiting
for a page the CRM is slow to return, one read of a held child, a chunk of selection members, a worker step. Steps
are timed by the invocation's own countdown (`remaining_ms`, Lambda's `get_remaining_time_in_millis`), so a test
that injects the countdown also sets how long each step took."""

from __future__ import annotations

from collections.abc import Callable

from leadbridge.crm.base import Connector
from leadbridge.models.runs import SyncRun


class RunStopped(Exception):
    """Unwinds a run to its top: out of time, throttled (continue later) or out of budget (`end`: finish the run)."""

    def __init__(self, reason: str, *, delay: int = 0, end: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.end = end


def crm_calls(connector: Connector | None) -> int:
    """CRM requests the connector has made so far (0 before the run has a connector)."""
    return connector.request_count() if connector is not None else 0


class RunBudget:
    """The room left in one invocation of one run. `run.crm_calls` adds up over the run's invocations (continuations):
    what earlier invocations used, plus what this invocation's connector has made since counting started."""

    def __init__(self, run: SyncRun, *, remaining_ms: Callable[[], int], reserve_ms: int) -> None:
        self.run = run
        self.remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms
        self.slowest_step_ms = 0.0
        self._step_began: int | None = None  # remaining_ms() at the last check
        self._connector: Connector | None = None
        self._calls_before = run.crm_calls  # used by earlier invocations of this run
        self._calls_at_start = 0

    def count_calls_of(self, connector: Connector) -> None:
        """From now on the run's CRM calls are this connector's."""
        self._connector = connector
        self._calls_at_start = crm_calls(connector)

    def update_run_calls(self) -> None:
        self.run.crm_calls = self._calls_before + crm_calls(self._connector) - self._calls_at_start

    def check_room(self) -> None:
        """Before a step: raises `RunStopped` when the run is at its request budget (ends) or the invocation has less
        than the reserve plus twice the slowest step left. What happened since the previous check was one step."""
        self.update_run_calls()
        budget = self.run.request_budget
        if budget is not None and self.run.crm_calls >= budget:
            raise RunStopped(f"the run reached its CRM request budget of {budget}", end=True)
        remaining = self.remaining_ms()
        if self._step_began is not None:
            self.slowest_step_ms = max(self.slowest_step_ms, float(self._step_began - remaining))
        self._step_began = remaining
        if remaining < self._needed_ms():
            raise RunStopped("the invocation is about to time out")

    def has_room(self) -> bool:
        """Whether a step could start now (e.g. a read ahead), without counting a step."""
        self.update_run_calls()
        budget = self.run.request_budget
        if budget is not None and self.run.crm_calls >= budget:
            return False
        return self.remaining_ms() >= self._needed_ms()

    def _needed_ms(self) -> float:
        return self.reserve_ms + 2 * self.slowest_step_ms
