"""Previewing an export: exactly what exporting a sample lead would write under the current settings; writes
nothing."""

from __future__ import annotations

from pydantic import ValidationError

from leadbridge.errors import InvalidInput
from leadbridge.mapping import plan_lead
from leadbridge.mapping.phones import prepare_lead
from leadbridge.models.crm import CrmObject
from leadbridge.models.lead import Lead
from leadbridge.settings.contracts import PreviewRequest, PreviewResult
from leadbridge.settings.crm_metadata import metadata_source
from leadbridge.settings.ports import SettingsServices
from leadbridge.settings.reading import get_settings
from leadbridge.settings.validation import invalid_from_pydantic


def preview(svc: SettingsServices, tenant_id: str, crm: str, request: PreviewRequest) -> PreviewResult:
    """Exactly what exporting the sample lead would write under the current settings; writes nothing."""
    settings = get_settings(svc, tenant_id, crm)
    try:
        lead = Lead.model_validate(request.lead)
    except ValidationError as exc:
        error = invalid_from_pydantic(exc)
        for problem in error.errors:
            problem["loc"] = ["body", "lead", *problem["loc"][1:]]
            problem["path"] = "lead." + problem["path"] if problem["path"] else "lead"
        raise InvalidInput(
            error.message.replace("Invalid settings", "Invalid sample lead"), errors=error.errors
        ) from None
    # The same preparation export does (phones to E.164 for the lead's country), so preview == export.
    lead, warnings = prepare_lead(lead, settings)
    source = metadata_source(svc, tenant_id, crm, settings)
    outbound = [
        o
        for o in (CrmObject.COMPANY, CrmObject.PERSON, CrmObject.DEAL)
        if settings.objects.for_object(o).direction.outbound
    ]
    fields = {obj: source.fields(obj) for obj in outbound}
    return PreviewResult(
        settings_version=settings.version,
        plan=plan_lead(settings, lead, fields, linked=request.linked),
        warnings=warnings,
    )
