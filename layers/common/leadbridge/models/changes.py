"""Changes to the app: what leadbridge learned from a CRM, as the app receives it on the EventBridge bus and reads it
from `GET /changes`. Both carry the same `ChangeEvent`; docs/events.md shows an example of each type."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from leadbridge.models.base import DeferredModel
from leadbridge.models.crm import CrmObject

# What json.dumps uses for a str with ensure_ascii (its C writer where available).
_encode_ascii: Any = getattr(json.encoder, "c_encode_basestring_ascii", None) or json.encoder.py_encode_basestring_ascii


class ChangeType(StrEnum):
    """The EventBridge `detail-type` of each change."""

    COMPANY_CHANGED = "CompanyChanged"
    PERSON_CHANGED = "PersonChanged"
    DEAL_CHANGED = "DealChanged"
    ACTIVITY_CHANGED = "ActivityChanged"
    RECORD_DELETED = "RecordDeleted"
    LEAD_WON = "LeadWon"
    LEAD_LOST = "LeadLost"

    @classmethod
    def changed(cls, obj: CrmObject) -> ChangeType:
        return _CHANGED[obj]


_CHANGED = {
    CrmObject.COMPANY: ChangeType.COMPANY_CHANGED,
    CrmObject.PERSON: ChangeType.PERSON_CHANGED,
    CrmObject.DEAL: ChangeType.DEAL_CHANGED,
    CrmObject.ACTIVITY: ChangeType.ACTIVITY_CHANGED,
}


class ChangeAction(StrEnum):
    CREATED = "created"  # first time leadbridge sees this CRM record
    UPDATED = "updated"
    DELETED = "deleted"
    WON = "won"
    LOST = "lost"


class ChangeSource(StrEnum):
    SCHEDULE = "schedule"  # an incremental pull, housekeeping or initial import
    WEBHOOK = "webhook"


class ChangeEvent(DeferredModel):
    """One change of one CRM record, mapped to the app's fields."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(
        description="Stable id of this change: a redelivery of the same change carries the same id, so the app can "
        "de-duplicate (delivery is at least once)."
    )
    type: ChangeType
    action: ChangeAction
    tenant: str
    crm: str
    object: CrmObject
    crm_id: str = Field(description="The record's id in the CRM.")
    app_id: str | None = Field(default=None, description="The app record linked to it, if leadbridge exported it.")
    lead_id: str | None = Field(default=None, description="The lead the record was exported from, if any.")
    parent_crm_id: str | None = Field(default=None, description="The CRM company a person or deal belongs to.")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="The record's values mapped to app fields (the mappings that read from CRM)."
    )
    changed_fields: list[str] = Field(
        default_factory=list, description="App fields whose value differs from the last change leadbridge reported."
    )
    crm_updated_at: datetime | None = Field(default=None, description="When the CRM says the record last changed.")
    url: str | None = Field(default=None, description="Deep link to the record in the CRM.")
    source: ChangeSource
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    run_id: str | None = None
    correlation_id: str | None = None

    @staticmethod
    def stable_id(*parts: Any) -> str:
        # The text `json.dumps([str(p) for p in parts], separators=(",", ":"))` gives, written with the encoder's own
        # string writer: ids are made for every change an inbound sync reports, and must stay what they were.
        raw = "[" + ",".join(_encode_ascii(str(p)) for p in parts) + "]"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


class ChangeFeedPage(DeferredModel):
    """A page of `GET /changes`, oldest first."""

    items: list[ChangeEvent]
    next_cursor: str = Field(
        description="Pass as `cursor` next time. Always present: when there are no newer changes yet, it is the "
        "same position, so polling with it later returns only what happened since."
    )
    has_more: bool = Field(description="True when more changes are ready now; poll again at once.")
