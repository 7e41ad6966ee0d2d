"""Record links: which CRM record an app record was exported to, and a hash of exactly what was written.

Items: `PK=T#{tenant}#{crm}`, `SK=LINK#{object}#{app_id}`, and beside each a pointer `SK=CRMLINK#{object}#{crm_id}`
holding the app id, so inbound sync finds the app record from a CRM id by key: strongly consistent (a webhook right
after an export sees the link) and a page of records at a time (BatchGetItem), where an index query would be
eventually consistent and one call per record. A pointer is trusted only when the link it names still points back
(a link re-pointed to another CRM record leaves its old pointer behind). A lead's persons are linked under
`app_id = {lead_id}~{person ref}`, so one query by prefix returns every person link of a lead.

`field_hashes` holds a short hash per written CRM field: a re-export compares against them to write only the fields
whose value changed, without reading the CRM. `input_hash` fingerprints the whole export input (lead + settings
version) and is set only when an export completed, so an unchanged re-export can stop before any CRM call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.models.crm import CrmObject
from leadbridge.store.table import Item, Table, link_by_crm_id_key, link_key, part, tenant_crm_pk

PERSON_SEPARATOR = "~"


class RecordLink(BaseModel):
    model_config = ConfigDict(defer_build=True)

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


CONVERTED = "converted"  # `match` of the links a conversion in the CRM moved (a Salesforce Lead converted)


def moved_by_conversion(link: RecordLink, crm_id: str, *, url: str | None, now: datetime) -> RecordLink:
    """`link` after its CRM record was converted into `crm_id` (by leadbridge or by a CRM user). The input
    fingerprint is cleared, so the next export of the lead runs and creates the persons that waited for it."""
    return link.model_copy(
        update={"crm_id": crm_id, "url": url, "match": CONVERTED, "input_hash": None, "updated_at": now}
    )


def deal_link_from_conversion(
    tenant: str, crm: str, lead_id: str, deal_id: str, *, url: str | None, now: datetime
) -> RecordLink:
    """The link of the deal a conversion made for the app lead. No field hashes yet: the deal write that follows
    writes every mapped field."""
    return RecordLink(
        tenant=tenant, crm=crm, object=CrmObject.DEAL, app_id=lead_id, crm_id=deal_id, url=url, lead_id=lead_id,
        content_hash="", field_hashes={}, match=CONVERTED, created_at=now, updated_at=now,
    )  # fmt: skip


def person_app_id(lead_id: str, person_ref: str) -> str:
    return f"{part(lead_id, 'lead_id')}{PERSON_SEPARATOR}{part(person_ref, 'person')}"


class LinkStore:
    """Record links of all tenants. Raises only `leadbridge.errors` (through `Table`)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> RecordLink | None:
        item = self._table.get(link_key(tenant, crm, obj.value, app_id), consistent=True)
        return _link(item) if item else None

    def get_many(self, tenant: str, crm: str, obj: CrmObject, app_ids: Sequence[str]) -> dict[str, RecordLink]:
        """The links of those app records that have one, by app id: one batched read per 100 ids."""
        keys = [link_key(tenant, crm, obj.value, app_id) for app_id in dict.fromkeys(app_ids)]
        found = (_link(item) for item in self._table.get_many(keys, consistent=True))
        return {link.app_id: link for link in found}

    def persons_of(self, tenant: str, crm: str, lead_id: str) -> list[RecordLink]:
        prefix = f"LINK#{CrmObject.PERSON.value}#{part(lead_id, 'lead_id')}{PERSON_SEPARATOR}"
        items = self._table.query_all(tenant_crm_pk(tenant, crm), sk_prefix=prefix, consistent=True)
        return [_link(i) for i in items]

    def by_crm_id(self, tenant: str, crm: str, obj: CrmObject, crm_id: str) -> RecordLink | None:
        return self.by_crm_ids(tenant, crm, obj, [crm_id]).get(crm_id)

    def by_crm_ids(self, tenant: str, crm: str, obj: CrmObject, crm_ids: Sequence[str]) -> dict[str, RecordLink]:
        """The links of those CRM records that have one, by CRM id: two batched reads per 100 ids."""
        wanted = set(crm_ids)
        pointer_keys = [link_by_crm_id_key(tenant, crm, obj.value, crm_id) for crm_id in wanted]
        pointers = self._table.get_many(pointer_keys, consistent=True)
        app_ids = list(dict.fromkeys(str(p["app_id"]) for p in pointers))
        links = self._table.get_many([link_key(tenant, crm, obj.value, a) for a in app_ids], consistent=True)
        found = (_link(item) for item in links)
        return {link.crm_id: link for link in found if link.crm_id in wanted}

    def save(self, link: RecordLink) -> None:
        self.save_many([link])

    def save_many(self, links: Sequence[RecordLink]) -> None:
        """Each link with its pointer by CRM id, 12 links to a call."""
        items: list[Item] = []
        for link in links:
            item: Item = {k: v for k, v in link.model_dump(mode="json").items() if v is not None}
            item.update(link_key(link.tenant, link.crm, link.object.value, link.app_id))
            pointer: Item = {"app_id": link.app_id}
            pointer.update(link_by_crm_id_key(link.tenant, link.crm, link.object.value, link.crm_id))
            items += [item, pointer]
        self._table.write_many(puts=items)

    def delete(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> None:
        old = self._table.delete(link_key(tenant, crm, obj.value, app_id))
        if old is not None:
            self._table.delete(link_by_crm_id_key(tenant, crm, obj.value, str(old["crm_id"])))


_KEYS = {"PK", "SK"}


def _link(item: dict[str, Any]) -> RecordLink:
    return RecordLink.model_validate({k: v for k, v in item.items() if k not in _KEYS})
