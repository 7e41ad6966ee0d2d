"""Whether a sync run has room for one more page or step: the Lambda invocation's time left (less a reserve and twice
the slowest page so far) and the run's CRM request budget. Out of room, the run unwinds with `RunStopped`."""

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
        self.slowest_page_ms = 0.0
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
        """Raises `RunStopped` when the run is at its request budget (ends) or the invocation about to time out."""
        self.update_run_calls()
        budget = self.run.request_budget
        if budget is not None and self.run.crm_calls >= budget:
            raise RunStopped(f"the run reached its CRM request budget of {budget}", end=True)
        if self.remaining_ms() < self.reserve_ms + 2 * self.slowest_page_ms:
            raise RunStopped("the invocation is about to time out")

    def may_start_page(self) -> bool:
        try:
            self.check_room()
        except RunStopped:
            return False
        return True

    def page_took(self, elapsed_ms: float) -> None:
        self.slowest_page_ms = max(self.slowest_page_ms, elapsed_ms)
