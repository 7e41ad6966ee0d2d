"""The lead's lease: one export or lead event of a lead at a time, so two concurrent requests cannot both create its
company."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from leadbridge.errors import Conflict
from leadbridge.export.ports import ExportServices
from leadbridge.models.synclog import new_entry_id

# Longer than the export function's timeout (29 s), so a running export never loses its lease; a crashed holder
# blocks the lead at most this long.
LEASE_SECONDS = 35.0


class ExportInProgress(Conflict):
    """Another export or lead event of the same lead holds its lease (HTTP 409 with Retry-After)."""

    code = "export_in_progress"

    def __init__(self, lead_id: str, retry_after: int) -> None:
        super().__init__(
            f"Lead {lead_id!r} is being exported by another request right now.",
            details={
                "retry_after": retry_after,
                "hint": f"Retry in {retry_after} s; the retry links to what the running export creates.",
            },
        )
        self.retry_after = retry_after


@contextmanager
def lead_lease(
    svc: ExportServices, tenant: str, crm: str, lead_id: str, *, seconds: float = LEASE_SECONDS
) -> Iterator[None]:
    """Hold the lead's lease for the block, or raise ExportInProgress at once (no waiting inside the request).
    `seconds`: how long it lasts if the holder dies (a bulk export's window holds it for its whole invocation)."""
    if svc.leases is None:
        yield
        return
    owner = new_entry_id()
    left = svc.leases.acquire(tenant, crm, lead_id, owner, seconds)
    if left is not None:
        # Exports take a second or two; the full lease only runs out after a crash.
        raise ExportInProgress(lead_id, retry_after=max(1, min(math.ceil(left), 5)))
    try:
        yield
    finally:
        svc.leases.release(tenant, crm, lead_id, owner)
