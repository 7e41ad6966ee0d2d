"""A whole lead → the CRM payloads the current settings write: company, its persons, and the deal.

`plan_lead` is what the settings preview shows and what export writes (export calls it, then hands each
`MappedRecord.fields` to the connector), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.crm.defaults import CrmProfile, profile
from leadbridge.mapping import transforms as t
from leadbridge.mapping.engine import MappedRecord, Skipped, SkipReason, apply
from leadbridge.mapping.rules import evaluate
from leadbridge.models.crm import CrmObject, FieldInfo, Stage
from leadbridge.models.lead import Lead
from leadbridge.models.settings import OnExisting, SettingsDocument


class LeadPlan(BaseModel):
    model_config = ConfigDict(defer_build=True)

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
    stages: Sequence[Stage] | None = None,
) -> LeadPlan:
    """What exporting `lead` writes under `settings`.

    `crm_fields` is the CRM's live field metadata per object; `linked` says whether the lead already has a CRM record
    (then the create-stage and selective-sync rules no longer hold it back: they apply going forward to new records).
    `stages` is the CRM's stage list (`Connector.stages()`); with it, a deal written with a stage also gets that
    stage's default probability where the CRM keeps one per deal (`CrmProfile.probability_field`), unless a field
    mapping writes the probability itself.
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
        _set_record_status(settings, prof, plan.company, lead.stage)
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
        if stages:
            add_stage_probability(plan.deal, prof, stages)
    return plan


def wants_stage_probability(deal: MappedRecord, prof: CrmProfile) -> bool:
    """True when the deal is written with a stage and the CRM keeps a per-deal probability leadbridge must move with
    it (SuperOffice Sale.Probability: the API does not) and no field mapping writes the probability itself."""
    return bool(
        prof.probability_field
        and prof.stage_field
        and deal.fields.get(prof.stage_field) is not None
        and prof.probability_field not in deal.fields
    )


def add_stage_probability(deal: MappedRecord, prof: CrmProfile, stages: Sequence[Stage]) -> None:
    """Write the default probability of the stage the deal is written with (see `wants_stage_probability`)."""
    if not wants_stage_probability(deal, prof) or prof.probability_field is None or prof.stage_field is None:
        return
    written = str(deal.fields[prof.stage_field])
    found = next((s for s in stages if s.group == "stage" and s.id == written), None)
    if found is not None and found.probability is not None:
        deal.fields[prof.probability_field] = found.probability


def for_existing_record(
    settings: SettingsDocument,
    obj: CrmObject,
    fields: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    *,
    crm_profile: CrmProfile | None = None,
) -> tuple[dict[str, Any], list[Skipped]]:
    """Of `fields` planned for a CRM record leadbridge did not create (export `link`, an exact match), the ones the
    settings let it write: per mapping `on_existing` (`overwrite`; `fill_empty`: only where `current`, the record's
    values in the CRM, is empty; `never`), and the owner only when `owners.on_existing` is `overwrite` (the default
    owner is for records leadbridge creates). Returns the fields to write and what was left out, with why."""
    prof = crm_profile or profile(settings.crm)
    by_field = {m.crm_field: m for m in settings.field_mappings.for_object(obj) if m.outbound}
    keep: dict[str, Any] = {}
    left: list[Skipped] = []
    for name, value in fields.items():
        mapping = by_field.get(name)
        if mapping is None:
            if name == prof.owner_field and settings.owners.on_existing == "keep":
                left.append(
                    Skipped(
                        crm_field=name,
                        reason=SkipReason.ON_EXISTING,
                        detail="the existing CRM record keeps its owner (owners.on_existing is 'keep'; the default "
                        "owner applies to records leadbridge creates)",
                    )
                )
                continue
            keep[name] = value
            continue
        policy = mapping.on_existing
        if policy is OnExisting.NEVER or (
            policy is OnExisting.FILL_EMPTY and current is not None and not t.is_empty(current.get(name))
        ):
            detail = (
                "never written to a CRM record leadbridge did not create (on_existing 'never')"
                if policy is OnExisting.NEVER
                else "the existing CRM record has a value; only empty fields are filled (on_existing 'fill_empty')"
            )
            left.append(
                Skipped(
                    crm_field=name, app_fields=list(mapping.app_fields), reason=SkipReason.ON_EXISTING, detail=detail
                )
            )
            continue
        keep[name] = value
    return keep, left


def needs_current_values(settings: SettingsDocument, obj: CrmObject, fields: Iterable[str]) -> bool:
    """True when deciding `for_existing_record` for `fields` needs the CRM record's current values."""
    wanted = set(fields)
    return any(
        m.outbound and m.on_existing is OnExisting.FILL_EMPTY and m.crm_field in wanted
        for m in settings.field_mappings.for_object(obj)
    )


def _set_record_status(settings: SettingsDocument, prof: CrmProfile, record: MappedRecord, stage: str | None) -> None:
    """A company kept in a CRM object with its own status (Salesforce Lead): the status the lead's stage maps to."""
    status_field = prof.record_status_fields.get(record.crm_object)
    mapped = settings.status_mapping.mapping_for(stage)
    if status_field and mapped is not None and mapped.crm_status is not None:
        record.fields[status_field] = mapped.crm_status


def _set_owner(record: MappedRecord, prof: CrmProfile, owner: str | None) -> None:
    if owner is not None and prof.owner_field:
        record.fields[prof.owner_field] = owner
