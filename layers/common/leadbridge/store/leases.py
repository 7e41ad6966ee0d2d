"""Per-lead leases: one item per (tenant, CRM, lead) that at most one export or lead event holds at a time.

Item `PK=T#{tenant}#{crm}`, `SK=LEASE#lead#{lead_id}` with `owner` and `lease_until` (epoch seconds). Taking it is a
conditional put that succeeds when no lease exists or the existing one ran out, so two concurrent requests cannot
both get it; the TTL attribute only cleans up leases of crashed holders.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from leadbridge.errors import Conflict, StoreUnavailable
from leadbridge.store.table import PK, SK, TTL_ATTRIBUTE, Condition, Key, Table, part, tenant_crm_pk

log = logging.getLogger(__name__)


def lead_lease_key(tenant: str, crm: str, lead_id: str) -> Key:
    return {PK: tenant_crm_pk(tenant, crm), SK: f"LEASE#lead#{part(lead_id, 'lead_id')}"}


class DynamoLeadLeases:
    """`leadbridge.export.ports.LeadLeases` on the single table."""

    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def acquire(self, tenant: str, crm: str, lead_id: str, owner: str, seconds: float) -> float | None:
        key = lead_lease_key(tenant, crm, lead_id)
        now = self._clock()
        try:
            self._table.put(
                {
                    **key,
                    "owner": owner,
                    "lease_until": round(now + seconds, 3),
                    TTL_ATTRIBUTE: int(now + seconds) + 3600,
                },
                condition=Condition("attribute_not_exists(PK) OR lease_until < :now", values={":now": round(now, 3)}),
            )
        except Conflict:
            holder = self._table.get(key, consistent=True)
            if holder is None:  # released between our put and this read: the caller may simply retry
                return 0.001
            return max(0.001, float(holder.get("lease_until", now)) - now)
        return None

    def release(self, tenant: str, crm: str, lead_id: str, owner: str) -> None:
        try:
            self._table.delete(
                lead_lease_key(tenant, crm, lead_id),
                condition=Condition("#o = :owner", names={"#o": "owner"}, values={":owner": owner}),
            )
        except Conflict:
            return  # our lease ran out and someone else holds it now: theirs to release
        except StoreUnavailable:
            log.warning("could not release a lead lease; it runs out by itself", extra={"lead_id": lead_id})
