"""Held-back children: persons, deals and activities the inbound filter held back because their company is not in the
app (`leadbridge.inbound.filtering`). Once the company comes in, the sync worker's `held_children` step reads each of
them from the CRM again and brings it in (`leadbridge.inbound.steps.held_children`).

Items: `PK=T#{tenant}#{crm}`, `SK=HELD#{parent_id}#{object}#{crm_id}` (`store.table.held_child_key`), with a TTL: a
child whose company never comes in is forgotten after `HELD_DAYS` (a full run still finds it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pydantic import BaseModel, ConfigDict

from leadbridge.models.crm import CrmObject
from leadbridge.store.table import TTL_ATTRIBUTE, Table, expires_at, held_child_key, tenant_crm_pk

HELD_DAYS = 180


class HeldChild(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant: str
    crm: str
    parent_id: str  # the company's CRM id
    object: CrmObject
    crm_id: str


class DynamoHeldChildren:
    def __init__(self, table: Table) -> None:
        self._table = table

    def hold_many(self, children: Sequence[HeldChild]) -> None:
        """Remember each child under its company (a repeat overwrites: safe to call again for the same child)."""
        if not children:
            return
        self._table.write_many(
            puts=[
                {
                    **held_child_key(c.tenant, c.crm, c.parent_id, c.object.value, c.crm_id),
                    **c.model_dump(mode="json"),
                    TTL_ATTRIBUTE: expires_at(HELD_DAYS),
                }
                for c in {(c.object, c.crm_id): c for c in children}.values()
            ]
        )

    def all(self, tenant: str, crm: str) -> Iterator[HeldChild]:
        for item in self._table.query_all(tenant_crm_pk(tenant, crm), sk_prefix="HELD#"):
            yield HeldChild.model_validate({k: item[k] for k in ("tenant", "crm", "parent_id", "object", "crm_id")})

    def release(self, child: HeldChild) -> None:
        self._table.delete(held_child_key(child.tenant, child.crm, child.parent_id, child.object.value, child.crm_id))
