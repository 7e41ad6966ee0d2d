"""The settings API's own models: the result of a save (the document, missing fields, warnings) and the preview's
request and result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from leadbridge.mapping import LeadPlan
from leadbridge.mapping.validation import MissingField, Problem
from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import ConflictPolicy, OnExisting, SettingsDocument


class SaveResult(BaseModel):
    settings: SettingsDocument
    missing_fields: list[MissingField] = Field(
        default_factory=list, description="Mapped custom fields the CRM does not have (yet): skipped, not fatal."
    )
    warnings: list[Problem] = Field(default_factory=list)


class PreviewRequest(BaseModel):
    lead: dict[str, Any] = Field(description="A sample app lead, as the app would export it.")
    linked: bool = Field(default=False, description="Preview as if the lead already had a CRM record.")


class FieldOwnership(BaseModel):
    """Who owns one mapped field, and what each policy will do with it (the preview's `ownership`)."""

    object: CrmObject
    crm_field: str
    app_fields: list[str]
    direction: str
    conflict_policy: ConflictPolicy | None = Field(default=None, description="Set for two-way (`both`) fields only.")
    on_existing: OnExisting | None = Field(default=None, description="Set for fields written to the CRM.")
    precedence: int | None = None
    to_crm: str | None = Field(default=None, description="What an export writes, to new and to existing records.")
    from_crm: str | None = Field(default=None, description="What a CRM-side edit does in the app.")


class PreviewResult(BaseModel):
    settings_version: int
    plan: LeadPlan
    ownership: list[FieldOwnership] = Field(
        default_factory=list,
        description="Per mapped field of the synced objects: direction, conflict policy, on_existing, and in words "
        "what each does.",
    )
    warnings: list[str] = Field(
        default_factory=list, description="What export would warn about, e.g. a phone number it cannot normalise."
    )
