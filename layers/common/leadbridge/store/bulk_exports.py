"""The leads of a bulk export (`POST /exports`) and what became of each.

Item per lead: `PK=T#{tenant}#{crm}`, `SK=EXPORTLEAD#{run_id}#{index:04d}` with the lead as JSON (`lead`) and, once
exported, its `outcome`. Writing the outcome is conditional (only the first writer records one), so a redelivered or
duplicated slice finds each finished lead's outcome instead of exporting it again. Items are kept 7 days: they hold
the app's lead data, which leadbridge needs only until the run is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadbridge.errors import Conflict
from leadbridge.store.table import PK, SK, TTL_ATTRIBUTE, Condition, Item, Key, Table, expires_at, part, tenant_crm_pk

LEAD_TTL_DAYS = 7
_INDEX_WIDTH = 4  # up to 9,999 leads per run (the API takes 1,000)


@dataclass(frozen=True)
class BulkLead:
    index: int
    lead: str  # the lead as JSON, as the request carried it
    outcome: dict[str, Any] | None


def bulk_lead_key(tenant: str, crm: str, run_id: str, index: int) -> Key:
    return {PK: tenant_crm_pk(tenant, crm), SK: f"EXPORTLEAD#{part(run_id, 'run_id')}#{index:0{_INDEX_WIDTH}d}"}


class DynamoBulkExportLeads:
    """`leadbridge.export.bulk.BulkLeads` on the single table."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def put_all(self, tenant: str, crm: str, run_id: str, leads: Sequence[str]) -> None:
        """Store the run's leads (25 to a call). Safe to repeat: the same run id always carries the same leads."""
        ttl = expires_at(LEAD_TTL_DAYS)
        self._table.write_many(
            [
                {**bulk_lead_key(tenant, crm, run_id, i), "lead": lead, TTL_ATTRIBUTE: ttl}
                for i, lead in enumerate(leads)
            ]
        )

    def page(self, tenant: str, crm: str, run_id: str, start: int, limit: int) -> list[BulkLead]:
        """Leads `start`, `start + 1`, ... (at most `limit`), with their outcomes; read consistently."""
        first = bulk_lead_key(tenant, crm, run_id, start)[SK]
        last = bulk_lead_key(tenant, crm, run_id, 10**_INDEX_WIDTH - 1)[SK]
        found: list[BulkLead] = []
        start_key: Key | None = None
        while len(found) < limit:
            page = self._table.query(
                tenant_crm_pk(tenant, crm),
                sk_between=(first, last),
                limit=limit - len(found),
                start_key=start_key,
                consistent=True,
            )
            found += [_bulk_lead(item) for item in page.items]
            if page.last_key is None:
                break
            start_key = page.last_key
        return found

    def record(self, tenant: str, crm: str, run_id: str, index: int, outcome: dict[str, Any]) -> dict[str, Any]:
        """Record the lead's outcome unless one is recorded already; returns the outcome that stands."""
        key = bulk_lead_key(tenant, crm, run_id, index)
        try:
            first = Condition("attribute_exists(PK) AND attribute_not_exists(outcome)")
            self._table.update(key, set_values={"outcome": outcome}, condition=first)
        except Conflict:
            item = self._table.get(key, consistent=True)
            if item is None or not isinstance(item.get("outcome"), dict):
                raise
            return dict(item["outcome"])
        return outcome


def _bulk_lead(item: Item) -> BulkLead:
    index = int(str(item[SK]).rsplit("#", 1)[1])
    outcome = item.get("outcome")
    return BulkLead(index=index, lead=str(item["lead"]), outcome=dict(outcome) if isinstance(outcome, dict) else None)
