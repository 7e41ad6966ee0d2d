"""The export API's request and result models. They are in the OpenAPI document: their names and fields are part of
the contract with the app."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, PrivateAttr, model_validator

from leadbridge.export.matching import MatchResult
from leadbridge.models.lead import Lead


class ExportMode(StrEnum):
    AUTO = "auto"
    LINK = "link"
    CREATE = "create"


class ExportChoice(BaseModel):
    model_config = ConfigDict(defer_build=True)

    mode: ExportMode = Field(
        default=ExportMode.AUTO,
        description="`auto`: link on an exact match, create when nothing matches, refuse (409 with the candidates) "
        "when there are only possible matches. `link`: link to `crm_company_id`. `create`: always a new company "
        "(unless the lead is already linked: then the linked company is updated).",
    )
    crm_company_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="The CRM company to link to (mode `link`)."
    )


class ExportRequest(BaseModel):
    model_config = ConfigDict(defer_build=True)

    lead: Lead
    choice: ExportChoice = Field(default_factory=ExportChoice)


MAX_BULK_LEADS = 1000


class BulkExportRequest(BaseModel):
    """`POST /exports`: up to 1,000 leads, each exported exactly as `POST /leads/{id}/export` would."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    leads: list[Lead] = Field(
        min_length=1, max_length=MAX_BULK_LEADS, description="The leads, each as `/export` takes it; ids unique."
    )
    match: Literal["auto", "create"] = Field(
        default="auto",
        description="`auto`: per lead, link on an exact match, create when nothing matches, and set the lead aside "
        "as `needs_decision` when there are only possible matches. `create`: a new company for each lead not "
        "linked yet (as `choice.mode: create`).",
    )


class IdempotentExportRequest(BaseModel):
    """What Powertools idempotency hashes: the key scoped to tenant, CRM and lead, plus a hash of the body so the
    same key with another body is refused instead of answered with the first result."""

    model_config = ConfigDict(defer_build=True)

    tenant: str
    crm: str
    lead_id: str
    key: str
    body_hash: str
    body: ExportRequest

    @classmethod
    def of(cls, tenant: str, crm: str, key: str, body: ExportRequest) -> IdempotentExportRequest:
        digest = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        return cls(tenant=tenant, crm=crm, lead_id=body.lead.id, key=key, body_hash=digest, body=body)


class RecordAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    LINKED = "linked"
    UNCHANGED = "unchanged"
    CONVERTED = "converted"  # a CRM lead converted into this record (Salesforce Lead mode): the same app record


class CompanyResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    crm_id: str
    url: str | None = None
    action: RecordAction


class PersonResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    app_id: str = Field(description="The contact's id in the app, or its e-mail / position when it has none.")
    email: str | None = None
    crm_id: str
    url: str | None = None
    action: RecordAction
    matched_by: str | None = Field(default=None, description="`link`, `email`, `name` or `created`.")
    fields_written: list[str] = Field(default_factory=list)


class FieldSkip(BaseModel):
    model_config = ConfigDict(defer_build=True)

    field: str
    reason: str
    detail: str = ""


class ExportResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: str = Field(description="`exported`, or `unchanged` when nothing differed and nothing was written.")
    lead_id: str
    crm: str
    company: CompanyResult
    persons: list[PersonResult] = Field(default_factory=list)
    persons_waiting: list[str] = Field(
        default_factory=list,
        description="Contacts (app ids) not written yet because the CRM record is a lead that holds one person "
        "(Salesforce Lead mode): they are created under the company the lead is converted into.",
    )
    fields_written: list[str] = Field(default_factory=list, description="Company fields written in this export.")
    fields_skipped: list[FieldSkip] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    match: MatchResult | None = Field(default=None, description="The match decision when candidates were searched.")
    log_entry_id: str
    crm_calls: int = Field(description="CRM API calls this export used.")


class MatchRequest(BaseModel):
    """`POST /leads/{id}/match`: the lead, as `/export` and `/preview` take it (`{"lead": {...}}`). The bare lead of
    earlier versions is still read for one release (deprecated: the answer then carries `Deprecation: true`)."""

    model_config = ConfigDict(defer_build=True)

    lead: Lead
    _bare_lead: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _accept_bare_lead(cls, data: Any, handler: ModelWrapValidatorHandler[MatchRequest]) -> MatchRequest:
        bare = isinstance(data, dict) and "lead" not in data and "id" in data
        model = handler({"lead": data} if bare else data)
        model._bare_lead = bare
        return model

    @property
    def bare_lead(self) -> bool:
        """The request used the deprecated bare-lead body."""
        return self._bare_lead
