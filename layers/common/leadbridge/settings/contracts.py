"""The settings API's own models: the result of a save (the document, missing fields, warnings) and the preview's
request and result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from leadbridge.mapping import LeadPlan
from leadbridge.mapping.validation import MissingField, Problem
from leadbridge.models.settings import SettingsDocument


class SaveResult(BaseModel):
    settings: SettingsDocument
    missing_fields: list[MissingField] = Field(
        default_factory=list, description="Mapped custom fields the CRM does not have (yet): skipped, not fatal."
    )
    warnings: list[Problem] = Field(default_factory=list)


class PreviewRequest(BaseModel):
    lead: dict[str, Any] = Field(description="A sample app lead, as the app would export it.")
    linked: bool = Field(default=False, description="Preview as if the lead already had a CRM record.")


class PreviewResult(BaseModel):
    settings_version: int
    plan: LeadPlan
    warnings: list[str] = Field(
        default_factory=list, description="What export would warn about, e.g. a phone number it cannot normalise."
    )
