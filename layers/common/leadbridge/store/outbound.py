"""Lead events waiting to reach the CRM, and the outcomes of processed lead events (de-duplication by event id).

Pending outbound items: `PK=T#{tenant}#{crm}`, `SK=OUT#{occurred_at}#{lead_id}#{id}`. The sort key starts with the
event's time, so one query returns a connection's pending events oldest first and a retry run applies them in the
order they happened. Each holds the event as JSON, the attempts so far, when the next attempt is due and the last
error.

Processed events: `PK=T#{tenant}#{crm}`, `SK=LEVT#{lead_id}#{event_id}` with the first outcome as JSON and a TTL.
`remember` is a conditional put, so of two deliveries of one event only the first outcome is kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.errors import Conflict
from leadbridge.models.synclog import LogError, new_entry_id
from leadbridge.store.table import (
    ITEM_NOT_EXISTS,
    PK,
    SK,
    TTL_ATTRIBUTE,
    Condition,
    Key,
    Table,
    expires_at,
    iso,
    part,
    tenant_crm_pk,
)

PROCESSED_TTL_DAYS = 7
PENDING_TTL_DAYS = 14  # a pending event older than this is dropped by TTL even if no run ever gave up on it


class PendingOutbound(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant: str
    crm: str
    lead_id: str
    id: str = Field(default_factory=new_entry_id)
    event: dict[str, Any]  # the lead event, as JSON (leadbridge.lifecycle.LeadEvent)
    occurred_at: datetime
    attempts: int = Field(default=0, ge=0, description="CRM attempts so far, the failed first one included.")
    next_attempt_at: datetime
    last_error: LogError | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def pending_key(item: PendingOutbound) -> Key:
    return {
        PK: tenant_crm_pk(item.tenant, item.crm),
        SK: f"OUT#{iso(item.occurred_at)}#{part(item.lead_id, 'lead_id')}#{part(item.id, 'id')}",
    }


class OutboundStore:
    """Pending outbound lead events. Raises only `leadbridge.errors` (through `Table`)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def add(self, item: PendingOutbound) -> None:
        self._table.put(self._item(item), condition=ITEM_NOT_EXISTS)

    def save(self, item: PendingOutbound) -> None:
        """Store the item's new attempt count, due time and error (it must still exist)."""
        self._table.put(self._item(item), condition=Condition("attribute_exists(PK)"))

    def remove(self, item: PendingOutbound) -> None:
        self._table.delete(pending_key(item))

    def pending(self, tenant: str, crm: str, *, limit: int | None = None) -> list[PendingOutbound]:
        """Every pending item of the connection, oldest event first."""
        items = []
        for raw in self._table.query_all(tenant_crm_pk(tenant, crm), sk_prefix="OUT#", consistent=True):
            items.append(_pending(raw))
            if limit is not None and len(items) >= limit:
                break
        return items

    def _item(self, item: PendingOutbound) -> dict[str, Any]:
        data = item.model_dump(mode="json", exclude_none=True)
        data.update(pending_key(item))
        data[TTL_ATTRIBUTE] = expires_at(PENDING_TTL_DAYS, item.created_at)
        return data


def _pending(raw: dict[str, Any]) -> PendingOutbound:
    return PendingOutbound.model_validate({k: v for k, v in raw.items() if k not in (PK, SK, TTL_ATTRIBUTE)})


def processed_key(tenant: str, crm: str, lead_id: str, event_id: str) -> Key:
    return {
        PK: tenant_crm_pk(tenant, crm),
        SK: f"LEVT#{part(lead_id, 'lead_id')}#{part(event_id, 'event_id')}",
    }


class ProcessedEvents:
    """First outcomes of lead events by event id (JSON text, so the store does not reshape numbers)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant: str, crm: str, lead_id: str, event_id: str) -> str | None:
        item = self._table.get(processed_key(tenant, crm, lead_id, event_id), consistent=True)
        return str(item["result"]) if item else None

    def remember(self, tenant: str, crm: str, lead_id: str, event_id: str, result_json: str) -> str:
        """Store `result_json` unless an outcome is stored already; returns the outcome that is kept."""
        try:
            self._table.put(
                {
                    **processed_key(tenant, crm, lead_id, event_id),
                    "result": result_json,
                    TTL_ATTRIBUTE: expires_at(PROCESSED_TTL_DAYS),
                },
                condition=ITEM_NOT_EXISTS,
            )
        except Conflict:
            kept = self.get(tenant, crm, lead_id, event_id)
            return kept if kept is not None else result_json
        return result_json
