"""Previewing an export: exactly what exporting a sample lead would write under the current settings; writes
nothing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationError

from leadbridge.crm.defaults import profile
from leadbridge.errors import InvalidInput
from leadbridge.export.company import FieldSource, field_source, key_fields, search_domain, search_name
from leadbridge.export.matching import normalise_org_nr
from leadbridge.mapping import plan_lead
from leadbridge.mapping.conflicts import explain
from leadbridge.mapping.phones import prepare_lead
from leadbridge.mapping.validation import plan_warnings, searchable
from leadbridge.models.crm import CrmObject, FieldInfo
from leadbridge.models.lead import Lead
from leadbridge.models.settings import FieldMapping, OnExisting, SettingsDocument
from leadbridge.settings.contracts import FieldOwnership, MatchSearch, PreviewRequest, PreviewResult
from leadbridge.settings.crm_metadata import metadata_source
from leadbridge.settings.ports import SettingsServices
from leadbridge.settings.reading import get_settings
from leadbridge.settings.saving import candidate_settings, check_patch, patched
from leadbridge.settings.validation import invalid_from_pydantic


def preview(svc: SettingsServices, tenant_id: str, crm: str, request: PreviewRequest) -> PreviewResult:
    """Exactly what exporting the sample lead would write under the current settings, or under them with the
    request's unsaved changes (`settings`, a merge patch validated as a save would); writes nothing."""
    saved = get_settings(svc, tenant_id, crm)
    settings = saved if request.settings is None else _with_unsaved(svc, tenant_id, saved, request.settings)
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
    plan = plan_lead(settings, lead, fields, linked=request.linked)
    # What export would refuse (422, nothing written) and what the CRM would change, in the same words.
    warnings += plan_warnings(plan, fields, creating=not request.linked)
    return PreviewResult(
        settings_version=saved.version,
        unsaved_changes=request.settings is not None,
        plan=plan,
        matching=match_search(settings, lead, fields[CrmObject.COMPANY]) if CrmObject.COMPANY in fields else None,
        ownership=ownership(settings),
        warnings=warnings,
    )


def _with_unsaved(
    svc: SettingsServices, tenant_id: str, saved: SettingsDocument, patch: dict[str, Any]
) -> SettingsDocument:
    check_patch(patch, loc=("body", "settings"))
    try:
        candidate, _report = candidate_settings(
            svc, tenant_id, saved, patched(saved, patch), actor=None, now=svc.clock()
        )
    except InvalidInput as exc:
        for problem in exc.errors:  # the same `path` a save names; `loc` says it was in the request's `settings`
            loc = problem.get("loc")
            if isinstance(loc, list) and loc[:1] == ["body"]:
                problem["loc"] = ["body", "settings", *loc[1:]]
        raise
    return candidate


def match_search(settings: SettingsDocument, lead: Lead, company_fields: list[FieldInfo]) -> MatchSearch:
    """The fields and values `export.company.match_company` searches for the lead. A field only the field mapping
    names that the CRM cannot search (a custom field not created yet) gives way to the CRM's standard field there,
    so it is shown as that."""
    keys = key_fields(settings)
    by_name = {f.name: f for f in company_fields}

    def resolved(name: str | None, key: Literal["org_nr_field", "domain_field"]) -> tuple[str | None, FieldSource]:
        source = field_source(settings, key)
        info = by_name.get(name) if name else None
        if source == "field_mapping" and (info is None or not searchable(info)):
            return None, "crm_default"
        return name, source

    org_nr_field, org_nr_from = resolved(keys.org_nr, "org_nr_field")
    domain_field, domain_from = resolved(keys.website, "domain_field")
    return MatchSearch(
        crm_object=settings.objects.company.crm_object,
        org_nr_field=org_nr_field,
        org_nr_field_from=org_nr_from,
        org_nr=normalise_org_nr(lead.org_number),
        name=search_name(lead.company_name),
        domain_field=domain_field,
        domain_field_from=domain_from,
        domain=search_domain(lead),
    )


_ON_EXISTING = {
    OnExisting.OVERWRITE: "overwritten with the app's value when it differs",
    OnExisting.FILL_EMPTY: "written only where the CRM record has no value",
    OnExisting.NEVER: "never written",
}


def ownership(settings: SettingsDocument) -> list[FieldOwnership]:
    """Per mapped field of every synced object: who owns it and what each policy does, in words."""
    out: list[FieldOwnership] = []
    for obj in CrmObject:
        direction = settings.objects.for_object(obj).direction
        if direction.value == "off":
            continue
        for mapping in settings.field_mappings.for_object(obj):
            out.append(_field_ownership(settings, obj, mapping, outbound=direction.outbound, inbound=direction.inbound))
    owner = profile(settings.crm).owner_field
    if owner:
        keep = settings.owners.on_existing == "keep"
        out.append(
            FieldOwnership(
                object=CrmObject.COMPANY,
                crm_field=owner,
                app_fields=["owner"],
                direction="to_crm",
                to_crm="new records: the lead owner's CRM user (owners.user_map, else owners.default_crm_user); "
                + (
                    "existing CRM records keep their owner (owners.on_existing 'keep')"
                    if keep
                    else "existing CRM records get it too (owners.on_existing 'overwrite')"
                ),
            )
        )
    return out


def _field_ownership(
    settings: SettingsDocument, obj: CrmObject, mapping: FieldMapping, *, outbound: bool, inbound: bool
) -> FieldOwnership:
    writes, reads = mapping.outbound and outbound, mapping.inbound and inbound
    to_crm = from_crm = None
    if writes:
        to_crm = (
            f"new CRM records: written; CRM records leadbridge did not create (link, exact match): "
            f"{_ON_EXISTING[mapping.on_existing]}; later exports write it when the app value changes"
        )
    if reads:
        feeding = [
            m for m in settings.field_mappings.for_object(obj) if m.inbound and m.app_fields[0] == mapping.app_fields[0]
        ]
        shared = (
            f" ({mapping.app_fields[0]!r} is also fed by {', '.join(m.crm_field for m in feeding if m is not mapping)};"
            " "
            f"precedence {mapping.precedence}: the first non-empty value wins)"
            if len(feeding) > 1
            else ""
        )
        from_crm = (
            f"CRM edits come back to the app: {explain(mapping.conflict_policy)}"
            if writes
            else ("CRM edits come back to the app (the app never writes it)")
        )
        from_crm += shared
    return FieldOwnership(
        object=obj,
        crm_field=mapping.crm_field,
        app_fields=list(mapping.app_fields),
        direction=mapping.direction if outbound or inbound else "off",
        conflict_policy=mapping.conflict_policy if writes and reads else None,
        on_existing=mapping.on_existing if writes else None,
        precedence=mapping.precedence,
        to_crm=to_crm,
        from_crm=from_crm,
    )
