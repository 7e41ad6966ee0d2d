"""A lead's sync status (the read model behind the sync-status route): its company and person links and its latest
failure when that is newer than the last sync. Links are kept while the CRM is disconnected, so the status is
answered then too (`connected: false`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.crm.base import supported
from leadbridge.errors import ConnectionMissing, InvalidInput
from leadbridge.export.ports import ExportServices
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import LogError, Outcome


class LinkedRecord(BaseModel):
    model_config = ConfigDict(defer_build=True)

    app_id: str
    crm_id: str
    url: str | None = None


class SyncStatus(BaseModel):
    model_config = ConfigDict(defer_build=True)

    lead_id: str
    crm: str
    connected: bool = Field(
        default=True,
        description="Whether the CRM is connected now. False: the links are kept from before the disconnect; "
        "nothing syncs until an admin connects the same CRM account again.",
    )
    synced: bool
    synced_at: datetime | None = None
    company: LinkedRecord | None = None
    persons: list[LinkedRecord] = Field(default_factory=list)
    last_error: LogError | None = Field(default=None, description="The latest failure, when it is newer than the sync.")
    last_error_at: datetime | None = None
    last_log_entry_id: str | None = None


def sync_status(svc: ExportServices, tenant: str, lead_id: str, *, crm: str | None = None) -> SyncStatus:
    try:
        active: str | None = svc.active_crm(tenant)
    except ConnectionMissing as missing:  # disconnected: the links are kept, and shown
        active = None
        crm = crm or _linked_crm(svc, tenant, lead_id)
        if crm is None:  # nothing linked, and no CRM to say it of
            raise missing from None
    except InvalidInput:  # several CRMs connected: the caller must name one (`crm`)
        if crm is None:
            raise
        active = crm
    crm = crm or active
    assert crm is not None
    connected = crm == active
    company = svc.links.get(tenant, crm, CrmObject.COMPANY, lead_id)
    persons = svc.links.persons_of(tenant, crm, lead_id) if company else []
    latest = svc.sync_log.query(tenant, lead_id=lead_id, limit=10).items
    status = SyncStatus(
        lead_id=lead_id,
        crm=crm,
        connected=connected,
        synced=bool(company and company.synced_at),
        synced_at=company.synced_at if company else None,
        company=LinkedRecord(app_id=lead_id, crm_id=company.crm_id, url=company.url) if company else None,
        persons=[LinkedRecord(app_id=p.app_id.split("~", 1)[1], crm_id=p.crm_id, url=p.url) for p in persons],
        last_log_entry_id=latest[0].id if latest else None,
    )
    failure = next((e for e in latest if e.outcome is Outcome.FAILED and e.crm == crm), None)
    if failure is not None and (status.synced_at is None or failure.time > status.synced_at):
        status.last_error, status.last_error_at = failure.error, failure.time
    return status


def _linked_crm(svc: ExportServices, tenant: str, lead_id: str) -> str | None:
    """The CRM the lead is linked in, while no CRM is connected (links outlive a disconnect)."""
    return next((crm for crm in supported() if svc.links.get(tenant, crm, CrmObject.COMPANY, lead_id)), None)
