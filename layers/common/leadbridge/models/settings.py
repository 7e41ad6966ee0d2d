"""The integration settings document: one per tenant and CRM (issue 5; seeds 000, 003, 004).

Sections (each can be replaced alone with PATCH): `objects`, `field_mappings`, `status_mapping`, `owners`, `schedule`,
`selective_sync`, `inbound_filter`, `initial_import`, `selections`, `country_mapping`, `matching`. `version`,
`updated_by`, `updated_at` are set by the server; `schedule.next_run_at` is computed by the server.

Shape checks live here (pydantic → 422 naming the path); checks that need the CRM's live metadata (unknown or
read-only CRM fields, stage ids, user ids) live in `leadbridge.mapping.validation`.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from leadbridge.models.base import DeferredModel
from leadbridge.models.crm import CrmObject


class _Section(DeferredModel):
    model_config = ConfigDict(extra="forbid")


class Direction(StrEnum):
    TO_CRM = "to_crm"
    FROM_CRM = "from_crm"
    BOTH = "both"
    OFF = "off"

    @property
    def outbound(self) -> bool:
        return self in (Direction.TO_CRM, Direction.BOTH)

    @property
    def inbound(self) -> bool:
        return self in (Direction.FROM_CRM, Direction.BOTH)


class ConflictPolicy(StrEnum):
    """Which side wins when a two-way (`both`) field changed on both sides since leadbridge last wrote it."""

    CRM_WINS = "crm_wins"  # a CRM edit always reaches the app
    APP_WINS = "app_wins"  # the app's value stays once leadbridge has written it; CRM edits of it are not reported
    LATEST_WINS = "latest_wins"  # the newer change wins (the CRM's change time against leadbridge's last write)
    FILL_EMPTY = "fill_empty"  # a CRM value reaches the app only where the app had none when it was last exported


class OnExisting(StrEnum):
    """What an export does to a field of a CRM record leadbridge did not create (export `mode: link` or an exact
    match): seed 002 updates an existing company's data, so `overwrite` is the default."""

    OVERWRITE = "overwrite"  # write the app's value (when it differs)
    FILL_EMPTY = "fill_empty"  # write only where the CRM record has no value
    NEVER = "never"  # never write this field to a record leadbridge did not create


# --- objects ------------------------------------------------------------------------------------------------------


class ObjectSetting(_Section):
    """Which CRM object an app object maps to, and which way data flows."""

    crm_object: str = Field(min_length=1, max_length=100)  # the CRM's own name: "Contact", "Account", "Lead", ...
    direction: Direction = Direction.OFF


# --- field mappings -----------------------------------------------------------------------------------------------


class TruncateTransform(_Section):
    """Cut text to `length` characters (default: the CRM field's length). Text is always cut to the CRM's length
    before writing; this transform sets a shorter limit."""

    kind: Literal["truncate"]
    length: int | None = Field(default=None, ge=1, le=1_000_000, strict=True)


class CountryTransform(_Section):
    """Map a country/location name to the CRM's country name through the document's `country_mapping`."""

    kind: Literal["country"]


class SplitNameTransform(_Section):
    """Take one part of a full name: "first" (all but the last word) or "last" (the last word)."""

    kind: Literal["split_name"]
    part: Literal["first", "last"]


class JoinTransform(_Section):
    """Join the values of several app fields (empty ones left out) with `separator`."""

    kind: Literal["join"]
    separator: str = Field(default="\n\n", max_length=20)


class ConvertTransform(_Section):
    """Convert the value to another type (e.g. the text "42" to the number 42 for a number field)."""

    kind: Literal["convert"]
    to: Literal["string", "integer", "decimal", "boolean", "date", "datetime"]


class DomainTransform(_Section):
    """Keep only the host of a web address, without `www.` (`https://www.acme.dk/about` → `acme.dk`), for CRM
    fields that hold a bare domain (HubSpot's company `domain`, which HubSpot matches companies by)."""

    kind: Literal["domain"]


class DefaultTransform(_Section):
    """Use `value` when the app value is empty."""

    kind: Literal["default"]
    value: Annotated[str, StringConstraints(max_length=32_000)] | int | float | bool


Transform = Annotated[
    TruncateTransform
    | CountryTransform
    | SplitNameTransform
    | JoinTransform
    | ConvertTransform
    | DefaultTransform
    | DomainTransform,
    Field(discriminator="kind"),
]


class FieldMapping(_Section):
    """One CRM field fed from one or more app fields (and/or back)."""

    app_fields: list[str] = Field(min_length=1, max_length=20)
    crm_field: str = Field(min_length=1, max_length=200)  # connector field name; custom fields by prog id / API name
    direction: Literal["to_crm", "from_crm", "both"] = "to_crm"
    transforms: list[Transform] = Field(default_factory=list, max_length=10)
    conflict_policy: ConflictPolicy = ConflictPolicy.LATEST_WINS
    # Export into a CRM record leadbridge did not create (link or exact match): overwrite, fill empty, never.
    on_existing: OnExisting = OnExisting.OVERWRITE
    # When several CRM fields feed one app field from the CRM: 1 is asked first; the first non-empty value wins.
    # Required (distinct) on each of them, else the settings are refused (422 naming the mappings).
    precedence: int | None = Field(default=None, ge=1, le=100, strict=True)
    # A custom field that may not exist in the CRM yet: when missing it is listed as skipped, not rejected.
    custom: bool = Field(default=False, strict=True)

    @model_validator(mode="after")
    def _shape(self) -> FieldMapping:
        kinds = [t.kind for t in self.transforms]
        if len(self.app_fields) > 1 and "join" not in kinds:
            raise ValueError("several app_fields need a 'join' transform that says how to combine them")
        if len(self.app_fields) > 1 and self.direction != "to_crm":
            raise ValueError("a joined mapping can only write to the CRM (direction 'to_crm')")
        if "split_name" in kinds and self.direction != "to_crm":
            raise ValueError("a split_name mapping can only write to the CRM (direction 'to_crm')")
        return self

    @property
    def outbound(self) -> bool:
        return self.direction in ("to_crm", "both")

    @property
    def inbound(self) -> bool:
        return self.direction in ("from_crm", "both")


class FieldMappings(_Section):
    company: list[FieldMapping] = Field(default_factory=list, max_length=300)
    person: list[FieldMapping] = Field(default_factory=list, max_length=300)
    deal: list[FieldMapping] = Field(default_factory=list, max_length=300)
    activity: list[FieldMapping] = Field(default_factory=list, max_length=300)

    def for_object(self, obj: CrmObject) -> list[FieldMapping]:
        mappings: list[FieldMapping] = getattr(self, obj.value)
        return mappings


class Objects(_Section):
    company: ObjectSetting
    person: ObjectSetting
    deal: ObjectSetting
    activity: ObjectSetting

    def for_object(self, obj: CrmObject) -> ObjectSetting:
        setting: ObjectSetting = getattr(self, obj.value)
        return setting


# --- status mapping -----------------------------------------------------------------------------------------------


class StageMapping(_Section):
    """One app pipeline stage → the CRM's stage (probability step) and/or status (open/won/lost/stalled)."""

    app_stage: str = Field(min_length=1, max_length=100)
    crm_stage: str | None = Field(default=None, max_length=100)  # id of a CRM Stage with group "stage"
    crm_status: str | None = Field(default=None, max_length=100)  # id of a CRM Stage with group "status"
    # Inbound: when several app stages map to the same CRM stage/status, the one marked `inbound` comes back to the
    # app (at most one per CRM value); without a mark, the first of them in `stages`.
    inbound: bool = Field(default=False, strict=True)

    @property
    def crm_key(self) -> tuple[str | None, str | None]:
        return self.crm_stage, self.crm_status


class OnWon(StrEnum):
    MARK_WON = "mark_won"
    NOTHING = "nothing"


class OnLostOrDeleted(StrEnum):
    MARK_LOST = "mark_lost"
    DELETE = "delete"
    NOTHING = "nothing"


class OnTransferred(StrEnum):
    UPDATE_OWNER = "update_owner"  # the new owner, mapped through the owner settings
    NOTHING = "nothing"


class StatusMapping(_Section):
    # The app's pipeline, in order. The app sends it; leadbridge does not invent stages.
    app_stages: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100
    )
    stages: list[StageMapping] = Field(default_factory=list, max_length=100)
    # First app stage at which a lead is sent and the CRM record created; earlier stages are not sent.
    # None: every stage is sent.
    create_at_stage: str | None = Field(default=None, max_length=100)
    on_won: OnWon = OnWon.MARK_WON
    on_lost: OnLostOrDeleted = OnLostOrDeleted.MARK_LOST
    on_deleted: OnLostOrDeleted = OnLostOrDeleted.NOTHING
    on_transferred: OnTransferred = OnTransferred.UPDATE_OWNER

    @model_validator(mode="after")
    def _stages_known(self) -> StatusMapping:
        if len(set(self.app_stages)) != len(self.app_stages):
            raise ValueError("app_stages contains duplicates")
        known = set(self.app_stages)
        if self.create_at_stage is not None and self.create_at_stage not in known:
            raise ValueError(f"create_at_stage {self.create_at_stage!r} is not one of app_stages")
        seen: set[str] = set()
        for i, m in enumerate(self.stages):
            if m.app_stage not in known:
                raise ValueError(f"stages[{i}].app_stage {m.app_stage!r} is not one of app_stages")
            if m.app_stage in seen:
                raise ValueError(f"stages[{i}].app_stage {m.app_stage!r} is mapped twice")
            seen.add(m.app_stage)
        marked: dict[tuple[str | None, str | None], int] = {}
        for i, m in enumerate(self.stages):
            if not m.inbound:
                continue
            if m.crm_key == (None, None):
                raise ValueError(f"stages[{i}] is marked 'inbound' but maps to no crm_stage or crm_status")
            if m.crm_key in marked:
                raise ValueError(
                    f"stages[{marked[m.crm_key]}] and stages[{i}] both map to the same CRM stage/status and are both "
                    "marked 'inbound'; mark only the app stage that a CRM change to it should come back as"
                )
            marked[m.crm_key] = i
        return self

    def stage_rank(self, stage: str | None) -> int | None:
        """Position of `stage` in the app pipeline; None when unknown."""
        if stage is None or stage not in self.app_stages:
            return None
        return self.app_stages.index(stage)

    def mapping_for(self, stage: str | None) -> StageMapping | None:
        return next((m for m in self.stages if m.app_stage == stage), None)

    def app_stage_for(self, crm_stage: str | None, crm_status: str | None, *, status_only: bool = False) -> str | None:
        """The app stage a CRM deal in `crm_stage` / `crm_status` comes back as (the mapping used both ways); None
        when no mapping matches. A mapping matches when every CRM value it names equals the deal's; one naming both
        wins over one naming the status, which wins over one naming the stage (a won/lost status says more than the
        step the deal was in); among equals the one marked `inbound`, else the first. `status_only`: a record with a
        status and no stage (a Salesforce Lead): the mappings naming that status match, whatever stage they name."""
        best: tuple[int, int, int] | None = None
        found: str | None = None
        for index, m in enumerate(self.stages):
            if m.crm_key == (None, None) or (status_only and m.crm_status is None):
                continue
            if m.crm_stage is not None and m.crm_stage != crm_stage and not status_only:
                continue
            if m.crm_status is not None and m.crm_status != crm_status:
                continue
            specific = 2 if m.crm_stage is not None and m.crm_status is not None else 1 if m.crm_status else 0
            rank = (-specific, 0 if m.inbound else 1, index)
            if best is None or rank < best:
                best, found = rank, m.app_stage
        return found

    def creates_record(self, stage: str | None) -> bool:
        """True when a lead in `stage` is far enough in the pipeline to be sent."""
        if self.create_at_stage is None:
            return True
        rank, threshold = self.stage_rank(stage), self.stage_rank(self.create_at_stage)
        return rank is not None and threshold is not None and rank >= threshold


# --- owners -------------------------------------------------------------------------------------------------------


class Owners(_Section):
    default_crm_user: str | None = Field(default=None, max_length=200)  # CRM user id for records created from the app
    default_app_user: str | None = Field(default=None, max_length=200)  # app user for records created in the CRM
    # Optional explicit pairs (app user → CRM user id); unlisted users fall back to the defaults.
    user_map: dict[str, str] = Field(default_factory=dict, max_length=1000)
    # A CRM record leadbridge did not create (link, exact match) keeps its owner ("keep"); "overwrite" gives it the
    # lead owner's mapped CRM user (user_map, else default_crm_user) like a created record.
    on_existing: Literal["keep", "overwrite"] = "keep"


# --- schedule -----------------------------------------------------------------------------------------------------


class Frequency(StrEnum):
    EVERY_15_MINUTES = "every_15_minutes"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MANUAL = "manual"


class Schedule(_Section):
    frequency: Frequency = Frequency.MANUAL
    start_date: date | None = None  # None: today in `timezone` when the schedule is saved
    start_time: time = time(0, 0)
    timezone: str = Field(default="UTC", max_length=64)
    next_run_at: datetime | None = None  # computed by the server (UTC); ignored on input

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Europe/Copenhagen')") from exc
        return value

    @field_validator("start_time")
    @classmethod
    def _naive_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("start_time is a local wall-clock time; give the zone in 'timezone'")
        return value


# --- selective sync -----------------------------------------------------------------------------------------------


class RuleOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    AT_OR_AFTER_STAGE = "at_or_after_stage"  # pipeline position, by the order of status_mapping.app_stages


class Condition(_Section):
    object: CrmObject = CrmObject.COMPANY
    field: str = Field(min_length=1, max_length=100)  # app field name, e.g. "score", "stage", "industry"
    op: RuleOp
    value: Any = None

    @model_validator(mode="after")
    def _value_shape(self) -> Condition:
        if self.op in (RuleOp.IS_EMPTY, RuleOp.IS_NOT_EMPTY):
            return self
        if self.value is None:
            raise ValueError(f"op {self.op.value!r} needs a value")
        if self.op in (RuleOp.IN, RuleOp.NOT_IN) and not isinstance(self.value, list):
            raise ValueError(f"op {self.op.value!r} needs a list value")
        if self.op in (RuleOp.GT, RuleOp.GTE, RuleOp.LT, RuleOp.LTE) and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float | str)
        ):
            raise ValueError(f"op {self.op.value!r} needs a number or a date string")
        if self.op is RuleOp.AT_OR_AFTER_STAGE and self.field != "stage":
            raise ValueError("op 'at_or_after_stage' applies to the field 'stage' only")
        return self


class SelectiveSync(_Section):
    """Which app records sync automatically (seed 004). Rules decide whether a record not yet in the CRM is created;
    records already linked keep syncing ("going forward, not retroactively")."""

    enabled: bool = Field(default=False, strict=True)
    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(default_factory=list, max_length=50)
    effective_from: datetime | None = None  # set by the server when the rules change


class InboundCondition(_Section):
    """One condition on a CRM-side value of a record the app has not heard of yet (`crm_field` is the connector's
    field name, as `GET /crm/{crm}/fields/{object}` lists it)."""

    object: CrmObject = CrmObject.COMPANY
    crm_field: str = Field(min_length=1, max_length=200)
    op: RuleOp
    value: Any = None

    @model_validator(mode="after")
    def _value_shape(self) -> InboundCondition:
        if self.op is RuleOp.AT_OR_AFTER_STAGE:
            raise ValueError("op 'at_or_after_stage' compares app pipeline stages; use 'eq' or 'in' on a CRM field")
        Condition(object=self.object, field=self.crm_field, op=self.op, value=self.value)  # the same value shapes
        return self


class InboundFilter(_Section):
    """Which CRM records the app hears of (inbound only; the outbound `selective_sync` rules never filter what comes
    in). Default: no conditions, every record. A record the app already knows keeps syncing; a person, deal or
    activity of a company held back by the filter is held back with it."""

    match: Literal["all", "any"] = "all"
    conditions: list[InboundCondition] = Field(default_factory=list, max_length=50)


class Selections(_Section):
    """Inbound person sources (seed 003; SuperOffice): static selections and the connected user's favourites."""

    static_selection_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        max_length=100,
        description="Static selections whose persons sync in (ids from `GET /crm/{crm}/selections`); checked on save.",
    )
    favourite_companies: bool = Field(default=False, strict=True)
    favourite_persons: bool = Field(default=False, strict=True)
    appointment_persons: bool = Field(
        strict=True,
        default=True,
        description="Persons linked to the connected user's appointments (from 30 days back on) sync in on every run "
        "(seed 003).",
    )


CountryName = Annotated[str, StringConstraints(max_length=255)]


class CountryMapping(_Section):
    # App country/location name → CRM country name. Lookup ignores case and surrounding spaces.
    names: dict[CountryName, CountryName] = Field(default_factory=dict, max_length=1000)
    # Used when the app value is empty or not in `names`; None: leave the CRM country unset.
    default: str | None = Field(default=None, max_length=255)
    # CRM country name → the value the CRM's country *reference* field takes (SuperOffice CountryId: "208" for
    # Denmark). Needed only when the mapped CRM field is a reference rather than a country name.
    crm_values: dict[CountryName, CountryName] = Field(default_factory=dict, max_length=1000)


# --- matching -----------------------------------------------------------------------------------------------------


class Matching(_Section):
    """Which fields of the CRM's company object (Salesforce: Account or Lead) an export searches to find the lead's
    company (seed 002: by CVR). None: the CRM field the company field mapping of the app field `org_number` (resp.
    `website`) writes to, else the CRM's standard field (Salesforce `AccountNumber` on Account, none on Lead,
    `Website`; SuperOffice `OrgNr`, `Url`). Checked on save against the CRM's metadata: a field the CRM does not
    have or cannot search by is a 422 naming `matching.<key>`."""

    org_nr_field: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="CRM field holding the company registration number (e.g. Salesforce `CVR__c`); None: the default.",
    )
    domain_field: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="CRM field holding the company's web address, searched for the lead's domain; None: the default.",
    )


# --- lead conversion ----------------------------------------------------------------------------------------------


class LeadConversion(_Section):
    """When companies are kept as CRM leads (Salesforce: `objects.company.crm_object = "Lead"`), the stage at which
    leadbridge converts the CRM lead into a company, a person and a deal (Salesforce's lead conversion). Until then the
    CRM lead's status follows the app stage and no deal exists; afterwards the app lead is linked to what it became.
    Ignored for CRM objects that are not leads."""

    convert_at_stage: str | None = Field(
        default=None,
        max_length=100,
        description="App stage at (or after) which the CRM lead is converted; None: when the lead is won.",
    )
    create_deal: bool = Field(
        strict=True,
        default=True,
        description="Create the deal (Salesforce Opportunity) in the conversion; needs `objects.deal` outbound.",
    )


# --- the document -------------------------------------------------------------------------------------------------

SECTIONS: tuple[str, ...] = (
    "objects",
    "field_mappings",
    "status_mapping",
    "owners",
    "schedule",
    "selective_sync",
    "inbound_filter",
    "initial_import",
    "selections",
    "country_mapping",
    "matching",
    "lead_conversion",
)


class _SettingsSections(_Section):
    objects: Objects
    field_mappings: FieldMappings
    status_mapping: StatusMapping
    owners: Owners
    schedule: Schedule
    selective_sync: SelectiveSync
    inbound_filter: InboundFilter = Field(default_factory=InboundFilter)
    initial_import: bool = Field(default=False, strict=True)
    selections: Selections
    country_mapping: CountryMapping
    matching: Matching = Field(default_factory=Matching)
    lead_conversion: LeadConversion = Field(default_factory=LeadConversion)

    @model_validator(mode="after")
    def _conversion_stage_known(self) -> _SettingsSections:
        at = self.lead_conversion.convert_at_stage
        if at is not None and at not in self.status_mapping.app_stages:
            raise ValueError(f"lead_conversion.convert_at_stage {at!r} is not one of status_mapping.app_stages")
        return self


class SettingsInput(_SettingsSections):
    """What a client PUTs: every section (server-owned fields are ignored when present)."""

    # Accepted and ignored so a client can PUT back what it GOT.
    crm: str | None = Field(default=None, max_length=64)
    version: int | None = None
    updated_by: str | None = Field(default=None, max_length=255)
    updated_at: datetime | None = None


class SettingsDocument(_SettingsSections):
    crm: str
    version: int = 0  # 0: nothing stored yet, these are the CRM's defaults
    updated_by: str | None = None
    updated_at: datetime | None = None

    def sections(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SECTIONS}
