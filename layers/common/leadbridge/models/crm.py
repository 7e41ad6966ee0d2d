"""Canonical CRM-side models shared by every connector.

Records carry their fields as a flat dict keyed by the connector's *field names* (the names `Connector.fields()`
lists: standard fields such as `Name`, `OrgNr`, `Url`, `Email`, and custom fields by their CRM id such as the
SuperOffice prog id `RabitIQ:1` or the Salesforce API name `Score__c`). Values are plain Python values (str, int,
float, bool, date, datetime, None); the connector converts to and from the CRM's own encodings. This keeps the
mapping engine and the sync code CRM-agnostic.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from leadbridge.models.base import DeferredModel


class CrmObject(StrEnum):
    """The app-facing object kinds. Each connector maps them to its own objects (SuperOffice Contact/Person/Sale/
    Appointment; Salesforce Account or Lead/Contact/Opportunity/Task; HubSpot companies/contacts/deals/tasks)."""

    COMPANY = "company"
    PERSON = "person"
    DEAL = "deal"
    ACTIVITY = "activity"


class FieldType(StrEnum):
    STRING = "string"  # short single-line text
    TEXT = "text"  # long text
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    PICKLIST = "picklist"
    REFERENCE = "reference"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    COUNTRY = "country"


class PicklistValue(DeferredModel):
    model_config = ConfigDict(frozen=True)
    value: str
    label: str
    active: bool = True


class FieldInfo(DeferredModel):
    """Metadata of one CRM field, as the settings screen and the mapping validator need it."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    type: FieldType
    length: int | None = None  # maximum text length the CRM accepts; values are truncated to it
    scale: int | None = None  # decimal places a number field keeps (Salesforce describe `scale`); None: any
    required: bool = False
    updateable: bool = True
    custom: bool = False
    picklist: list[PicklistValue] = Field(default_factory=list)
    restricted_picklist: bool = False
    # Whether a search can filter by it (Salesforce describe `filterable`); the settings' `matching` may name only
    # such a field of a text-like type.
    filterable: bool = True


class CrmObjectInfo(DeferredModel):
    model_config = ConfigDict(frozen=True)

    object: CrmObject
    crm_name: str  # the CRM's own name, e.g. "Contact", "Account", "companies"
    label: str


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    STALLED = "stalled"


class Stage(DeferredModel):
    """A pipeline stage or a deal status value the CRM offers (SuperOffice sale stages and statuses, Salesforce
    OpportunityStage/LeadStatus, HubSpot deal stages)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: StageKind = StageKind.OPEN
    probability: int | None = None
    rank: int = 0
    group: str = "stage"  # "stage" or "status" (SuperOffice keeps won/lost in Status, not in the stage list)


class CrmUser(DeferredModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    email: str | None = None
    active: bool = True


class CrmRecord(DeferredModel):
    """One CRM record in canonical form."""

    object: CrmObject
    id: str
    fields: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None  # the company a person/deal/activity belongs to
    person_id: str | None = None  # the person a deal/activity belongs to, when any
    updated_at: datetime | None = None
    created_at: datetime | None = None
    deleted: bool = False
    url: str | None = None  # deep link into the CRM's UI
    # Deals only: whether the deal is open, won or lost, in the CRM's own terms mapped to one vocabulary (SuperOffice
    # Sale.Status, Salesforce Opportunity IsWon/IsClosed), so sync code can tell "won" without knowing the CRM.
    stage_kind: StageKind | None = None
    # Whether the CRM says leadbridge's own user made the last change (Salesforce LastModifiedById = the connection's
    # user); None when the CRM does not tell. A second line against echoes, beside the record states.
    modified_by_us: bool | None = None
    # The records the CRM converted this one into, by app object (Salesforce: a converted Lead became an Account, a
    # Contact and maybe an Opportunity). The app record follows them; the record itself is no longer news.
    converted_into: dict[CrmObject, str] = Field(default_factory=dict)


class ChangePage(DeferredModel):
    """One page of an incremental read. `next_page_token` is None on the last page; the caller persists it (with
    `since`) after every page so that an interrupted run resumes where it stopped."""

    records: list[CrmRecord]
    next_page_token: str | None = None


class Grant(DeferredModel):
    """What an OAuth exchange or refresh yields. Lives only in the token vault (Secrets Manager)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds; None when the CRM does not say (Salesforce)
    token_type: str = "Bearer"
    account_id: str  # the CRM account: SuperOffice customer id (Cust12345), Salesforce org id, HubSpot portal id
    account_name: str | None = None
    api_base: str  # where API calls go: SuperOffice webapi_url, Salesforce instance_url, HubSpot api host
    user_id: str | None = None  # the CRM user who consented
    user_email: str | None = None
    user_is_admin: bool | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class WebhookRegistration(DeferredModel):
    id: str
    url: str
    events: list[str] = Field(default_factory=list)
    active: bool = True
    state: str | None = None  # CRM's own state word, e.g. SuperOffice "TooManyErrors"
    # What an admin must do in the CRM when webhooks cannot be created through its API (Salesforce Outbound Messages).
    setup_steps: list[str] = Field(default_factory=list)


class WebhookEvent(DeferredModel):
    """A CRM event after verification and parsing."""

    event_id: str
    event: str  # CRM event name, e.g. "contact.changed", "sale.sold"
    object: CrmObject | None  # None for events we do not sync (test events, unknown entities)
    record_id: str | None
    account_id: str | None  # e.g. SuperOffice ContextIdentifier, to route and check the connection
    action: str  # "created" | "changed" | "deleted" | "won" | "lost" | "test" | other CRM-specific words
    occurred_at: datetime | None = None
    changed_fields: list[str] = Field(default_factory=list)
    changed_by: str | None = None  # CRM user id, to suppress echoes of our own writes
    payload: dict[str, Any] = Field(default_factory=dict)  # CRM field values carried by the event, if any
    is_test: bool = False
