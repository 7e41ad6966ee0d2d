"""The settings API's own models: the result of a save (the document, missing fields, warnings) and the preview's
request and result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.export.company import FieldSource
from leadbridge.mapping import LeadPlan
from leadbridge.mapping.validation import MissingField, Problem
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import AppFieldKind
from leadbridge.models.settings import ConflictPolicy, OnExisting, SettingsDocument


class AppField(BaseModel):
    """A field of the app's records that mappings and selective-sync rules can name (`GET /app-fields`)."""

    model_config = ConfigDict(defer_build=True)

    object: CrmObject
    name: str
    kind: AppFieldKind


class SaveResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    settings: SettingsDocument
    missing_fields: list[MissingField] = Field(
        default_factory=list, description="Mapped custom fields the CRM does not have (yet): skipped, not fatal."
    )
    warnings: list[Problem] = Field(default_factory=list)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(defer_build=True)

    lead: dict[str, Any] = Field(description="A sample app lead, as the app would export it.")
    linked: bool = Field(default=False, strict=True, description="Preview as if the lead already had a CRM record.")
    settings: dict[str, Any] | None = Field(
        default=None,
        description="Unsaved changes to preview with: a JSON merge patch over the saved settings, as `PATCH "
        "/settings/{crm}` takes it. They are validated as a save would validate them (422 naming each `path`) and "
        "saved nowhere.",
    )


class FieldOwnership(BaseModel):
    """Who owns one mapped field, and what each policy will do with it (the preview's `ownership`)."""

    model_config = ConfigDict(defer_build=True)

    object: CrmObject
    crm_field: str
    app_fields: list[str]
    direction: str
    conflict_policy: ConflictPolicy | None = Field(default=None, description="Set for two-way (`both`) fields only.")
    on_existing: OnExisting | None = Field(default=None, description="Set for fields written to the CRM.")
    precedence: int | None = None
    to_crm: str | None = Field(default=None, description="What an export writes, to new and to existing records.")
    from_crm: str | None = Field(default=None, description="What a CRM-side edit does in the app.")


class MatchSearch(BaseModel):
    """What exporting the sample lead searches the CRM for to find its company (the settings' `matching`)."""

    model_config = ConfigDict(defer_build=True)

    crm_object: str = Field(description="The CRM object searched (Salesforce: Account or Lead).")
    org_nr_field: str | None = Field(
        description="The field searched for the org number (exact); None: the CRM's standard field, if it has one."
    )
    org_nr_field_from: FieldSource = Field(
        description="`settings` (matching.org_nr_field), `field_mapping` (the field app `org_number` is written "
        "to) or `crm_default`."
    )
    org_nr: str | None = Field(description="The lead's org number as searched (normalised); None: not searched.")
    name: str | None = Field(description="The company name searched as a prefix (legal form left out).")
    domain_field: str | None = Field(
        description="The field searched for the domain; None: the CRM's standard web-address field."
    )
    domain_field_from: FieldSource
    domain: str | None = Field(description="The lead's domain as searched (website, else a non-free e-mail's).")


class PreviewResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    settings_version: int = Field(description="The saved version the preview starts from.")
    unsaved_changes: bool = Field(
        default=False, description="True when the request's `settings` patch was applied over that version."
    )
    plan: LeadPlan
    matching: MatchSearch | None = Field(
        default=None, description="What the export searches to find the company; None when companies are not exported."
    )
    ownership: list[FieldOwnership] = Field(
        default_factory=list,
        description="Per mapped field of the synced objects: direction, conflict policy, on_existing, and in words "
        "what each does.",
    )
    warnings: list[str] = Field(
        default_factory=list, description="What export would warn about, e.g. a phone number it cannot normalise."
    )
