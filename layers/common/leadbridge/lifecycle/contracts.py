"""The lead event contracts: the event the app reports (HTTP body or EventBridge `detail`), its result, the deal
part of the result, and the counts of a run over deferred events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.export import CompanyResult, MatchResult, PersonResult
from leadbridge.models.lead import Lead


class LeadEventType(StrEnum):
    CREATED = "created"
    STAGE_CHANGED = "stage_changed"
    WON = "won"
    LOST = "lost"
    DELETED = "deleted"
    TRANSFERRED = "transferred"


class LeadEvent(BaseModel):
    """Something that happened to a lead in the app."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: LeadEventType
    lead: Lead = Field(description="The lead as it is after the event.")
    stage: str | None = Field(
        default=None, min_length=1, max_length=100, description="The new stage (stage_changed); default `lead.stage`."
    )
    owner: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The new owner's app user id (transferred); default `lead.owner`.",
    )
    occurred_at: datetime | None = Field(
        default=None, description="When it happened in the app (ISO 8601; no zone = UTC). Default: when received."
    )
    event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[^#]+$",
        description="The app's id of this event: a second delivery returns the first outcome (kept 7 days).",
    )


class LeadEventMessage(BaseModel):
    """`detail` of a `LeadEvent` the app puts on its EventBridge bus (docs/events.md)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    tenant_id: str = Field(min_length=1, max_length=200, pattern=r"^[^#]+$")
    crm: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    lead_id: str = Field(min_length=1, max_length=200, pattern=r"^[^#~]+$")
    event: LeadEvent


class LeadEventOutcome(StrEnum):
    APPLIED = "applied"
    SKIPPED = "skipped"
    NEEDS_DECISION = "needs_decision"
    QUEUED = "queued"


class DealAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


class DealResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    crm_id: str
    url: str | None = None
    action: DealAction
    fields_written: list[str] = Field(default_factory=list)


class RetryInfo(BaseModel):
    model_config = ConfigDict(defer_build=True)

    attempts: int
    next_attempt_at: datetime
    reason: str


class LeadEventResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    outcome: LeadEventOutcome = Field(
        description="`applied`; `skipped` (see `reason`); `needs_decision`: only possible company matches, export the "
        "lead with a choice; `queued`: the CRM is unavailable, leadbridge retries (see `retry`)."
    )
    event_type: LeadEventType
    event_id: str | None = None
    lead_id: str
    crm: str
    reason: str | None = None
    company: CompanyResult | None = None
    persons: list[PersonResult] = Field(default_factory=list)
    deal: DealResult | None = None
    match: MatchResult | None = Field(default=None, description="The candidates, when the outcome is needs_decision.")
    retry: RetryInfo | None = None
    log_entry_id: str | None = None
    crm_calls: int = 0
    replayed: bool = Field(default=False, description="True when this is the stored outcome of an earlier delivery.")


class RetryCounts(BaseModel):
    model_config = ConfigDict(defer_build=True)

    due: int = 0  # items whose time had come, up to the budget
    applied: int = 0  # reached the CRM (or turned out to need nothing: skipped, stale)
    rescheduled: int = 0  # failed again, retryably
    dropped: int = 0  # failed for good or ran out of attempts (logged)
    busy: int = 0  # the lead was being exported right now; left for the next run
    remaining: int = 0  # still pending after this run
