"""Record links: which CRM record an app record was exported to, and a hash of exactly what was written.

Items: `PK=T#{tenant}#{crm}`, `SK=LINK#{object}#{app_id}`, with `GSI2PK=T#{tenant}#{crm}#{object}`,
`GSI2SK=CRM#{crm_id}` so inbound sync finds the app record from a CRM id. A lead's persons are linked under
`app_id = {lead_id}~{person ref}`, so one query by prefix returns every person link of a lead.

`field_hashes` holds a short hash per written CRM field: a re-export compares against them to write only the fields
whose value changed, without reading the CRM. `input_hash` fingerprints the whole export input (lead + settings
version) and is set only when an export completed, so an unchanged re-export can stop before any CRM call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from leadbridge.models.crm import CrmObject
from leadbridge.store.table import Item, Table, link_crm_index, link_key, part, tenant_crm_pk

PERSON_SEPARATOR = "~"


class RecordLink(BaseModel):
    tenant: str
    crm: str
    object: CrmObject
    app_id: str
    crm_id: str
    url: str | None = None
    lead_id: str | None = None  # the lead this record was exported from
    content_hash: str = ""  # hash of every field value written to the CRM record
    field_hashes: dict[str, str] = Field(default_factory=dict)
    input_hash: str | None = None  # company link only: fingerprint of the last completed export's input
    match: str | None = None  # how the CRM record was found: created, linked (chosen/exact match), matched_email, ...
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    synced_at: datetime | None = None
    last_event_at: datetime | None = None  # deal link: when the newest applied lead event happened (event order)


def person_app_id(lead_id: str, person_ref: str) -> str:
    return f"{part(lead_id, 'lead_id')}{PERSON_SEPARATOR}{part(person_ref, 'person')}"


class LinkStore:
    """Record links of all tenants. Raises only `leadbridge.errors` (through `Table`)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> RecordLink | None:
        item = self._table.get(link_key(tenant, crm, obj.value, app_id), consistent=True)
        return _link(item) if item else None

    def persons_of(self, tenant: str, crm: str, lead_id: str) -> list[RecordLink]:
        prefix = f"LINK#{CrmObject.PERSON.value}#{part(lead_id, 'lead_id')}{PERSON_SEPARATOR}"
        items = self._table.query_all(tenant_crm_pk(tenant, crm), sk_prefix=prefix, consistent=True)
        return [_link(i) for i in items]

    def by_crm_id(self, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> RecordLink | None:
        index = link_crm_index(tenant, crm, obj.value, crm_id)
        page = self._table.query(index["GSI2PK"], index="GSI2", sk_between=(index["GSI2SK"], index["GSI2SK"]), limit=1)
        return _link(page.items[0]) if page.items else None

    def save(self, link: RecordLink) -> None:
        item: Item = {k: v for k, v in link.model_dump(mode="json").items() if v is not None}
        item.update(link_key(link.tenant, link.crm, link.object.value, link.app_id))
        item.update(link_crm_index(link.tenant, link.crm, link.object.value, link.crm_id))
        self._table.put(item)

    def delete(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> None:
        self._table.delete(link_key(tenant, crm, obj.value, app_id))


_KEYS = {"PK", "SK", "GSI2PK", "GSI2SK"}


def _link(item: dict[str, Any]) -> RecordLink:
    return RecordLink.model_validate({k: v for k, v in item.items() if k not in _KEYS})
