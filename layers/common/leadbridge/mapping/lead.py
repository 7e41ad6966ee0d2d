"""A whole lead → the CRM payloads the current settings write: company, its persons, and the deal.

`plan_lead` is what the settings preview shows and what export writes (export calls it, then hands each
`MappedRecord.fields` to the connector), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, Field

from leadbridge.crm.defaults import CrmProfile, profile
from leadbridge.mapping.engine import MappedRecord, Skipped, SkipReason, apply
from leadbridge.mapping.rules import evaluate
from leadbridge.models.crm import CrmObject, FieldInfo
from leadbridge.models.lead import Lead
from leadbridge.models.settings import SettingsDocument


class LeadPlan(BaseModel):
    lead_id: str
    send: bool  # False: nothing is written for this lead now (see `not_sent`)
    not_sent: list[Skipped] = Field(default_factory=list)  # why the lead (or an object of it) is not written
    company: MappedRecord | None = None
    persons: list[MappedRecord] = Field(default_factory=list)
    deal: MappedRecord | None = None


def plan_lead(
    settings: SettingsDocument,
    lead: Lead,
    crm_fields: Mapping[CrmObject, Iterable[FieldInfo]] | None,
    *,
    linked: bool = False,
    crm_profile: CrmProfile | None = None,
) -> LeadPlan:
    """What exporting `lead` writes under `settings`.

    `crm_fields` is the CRM's live field metadata per object; `linked` says whether the lead already has a CRM record
    (then the create-stage and selective-sync rules no longer hold it back: they apply going forward to new records).
    """
    prof = crm_profile or profile(settings.crm)
    plan = LeadPlan(lead_id=lead.id, send=True)
    company, persons, deal = lead.company(), lead.persons(), lead.deal()

    if not linked and not settings.status_mapping.creates_record(lead.stage):
        plan.send = False
        plan.not_sent.append(
            Skipped(
                reason=SkipReason.STAGE_NOT_SENT,
                app_fields=["stage"],
                detail=f"stage {lead.stage!r} is before {settings.status_mapping.create_at_stage!r}, the first stage "
                "that creates the CRM record",
            )
        )
    decision = evaluate(
        settings.selective_sync,
        {CrmObject.COMPANY: company.model_dump(), CrmObject.DEAL: deal.model_dump()}
        | ({CrmObject.PERSON: persons[0].model_dump()} if persons else {}),
        status_mapping=settings.status_mapping,
        linked=linked,
    )
    if not decision.sync:
        plan.send = False
        plan.not_sent.extend(Skipped(reason=SkipReason.RULE_EXCLUDED, detail=r) for r in decision.reasons)
    if not plan.send:
        return plan

    def fields_of(obj: CrmObject) -> Iterable[FieldInfo] | None:
        return None if crm_fields is None else crm_fields.get(obj, [])

    owner = settings.owners.user_map.get(lead.owner or "", settings.owners.default_crm_user)
    for obj in (CrmObject.COMPANY, CrmObject.PERSON, CrmObject.DEAL):
        if not settings.objects.for_object(obj).direction.outbound:
            plan.not_sent.append(
                Skipped(
                    reason=SkipReason.OBJECT_OFF, detail=f"{obj.value} is not synced to the CRM (objects.{obj.value})"
                )
            )
    if settings.objects.company.direction.outbound:
        plan.company = apply(settings, CrmObject.COMPANY, company, fields_of(CrmObject.COMPANY))
        _set_owner(plan.company, prof, owner)
    if settings.objects.person.direction.outbound:
        for person in persons:
            record = apply(settings, CrmObject.PERSON, person, fields_of(CrmObject.PERSON))
            _set_owner(record, prof, owner)
            plan.persons.append(record)
    if settings.objects.deal.direction.outbound:
        plan.deal = apply(settings, CrmObject.DEAL, deal, fields_of(CrmObject.DEAL))
        _set_owner(plan.deal, prof, owner)
        stage = settings.status_mapping.mapping_for(lead.stage)
        if stage is not None and stage.crm_stage is not None and prof.stage_field:
            plan.deal.fields[prof.stage_field] = stage.crm_stage
        if stage is not None and stage.crm_status is not None and prof.status_field:
            plan.deal.fields[prof.status_field] = stage.crm_status
    return plan


def _set_owner(record: MappedRecord, prof: CrmProfile, owner: str | None) -> None:
    if owner is not None and prof.owner_field:
        record.fields[prof.owner_field] = owner
