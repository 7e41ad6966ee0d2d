"""Step `outbound`: lead events still waiting for the CRM (`lifecycle.retry_pending_outbound`, when wired), up to the
run's outbound budget; their counts go into the run."""

from __future__ import annotations

from pydantic import BaseModel

from leadbridge.errors import LeadbridgeError, RateLimited, StoreUnavailable
from leadbridge.inbound.run_scope import RunScope


def retry_outbound(scope: RunScope) -> None:
    svc, run = scope.svc, scope.run
    if svc.outbound is None:
        return
    try:
        counts = svc.outbound(run.tenant, run.crm, svc.clock(), scope.config.outbound_budget)
    except (RateLimited, StoreUnavailable):
        raise
    except LeadbridgeError as exc:
        scope.recorder.error(exc.code, f"retrying lead events failed: {exc.message}")
        return
    dumped = counts.model_dump() if isinstance(counts, BaseModel) else dict(counts or {})
    run.outbound = {k: int(v) for k, v in dumped.items() if isinstance(v, int)}
