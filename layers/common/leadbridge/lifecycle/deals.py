"""What a lead event writes to the CRM: the deal (export the lead, then create it once under the company or write only
the fields that differ; delete it, keeping its link as a tombstone), the deal link, the won/lost status field, and
the company's owner when the lead is transferred."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from leadbridge.crm.base import Connector
from leadbridge.crm.conversion import LeadConverted
from leadbridge.crm.defaults import profile
from leadbridge.crm.metadata_cache import current_fields
from leadbridge.errors import Conflict, RefusedBeforeWrite
from leadbridge.export import CompanyResult, ExportRequest, ExportResult, MatchResult, RecordAction, export_lead
from leadbridge.export.run import DealWithCompany
from leadbridge.export.written_state import Written, remember_deleted, remember_written
from leadbridge.lifecycle.contracts import DealAction, DealResult, LeadEventOutcome, LeadEventResult
from leadbridge.lifecycle.conversion import (
    conversion_due,
    convert_and_relink,
    converted_result,
    lead_to_convert,
    not_yet_reason,
)
from leadbridge.lifecycle.event_context import EventContext, crm_calls
from leadbridge.mapping import MappedRecord, plan_lead
from leadbridge.mapping.hashing import content_hash, field_hashes
from leadbridge.mapping.lead import add_stage_probability, wants_stage_probability
from leadbridge.mapping.validation import WriteCheck, refuse_before_write
from leadbridge.models.crm import CrmObject, CrmRecord, StageKind
from leadbridge.models.synclog import Action, LogError, Outcome, SkippedField, Trigger
from leadbridge.store.links import RecordLink

DELETED = "deleted"  # `match` of a deal link whose CRM deal leadbridge deleted (kept for event ordering)


def export_and_deal(
    ctx: EventContext,
    live_deal: RecordLink | None,
    deal_link: RecordLink | None,
    company_link: RecordLink | None,
    overrides: Mapping[str, Any],
    *,
    won: bool = False,
) -> LeadEventResult:
    """`company_link`: the lead's company link as the event read it."""
    connector = ctx.connector()
    # A company kept as a CRM lead (Salesforce Lead mode) has no deal until it is converted (lifecycle.conversion).
    as_lead = lead_to_convert(connector, company_link) if live_deal is None else None
    new_deal, planned = None, None
    if as_lead is None:
        # The deal is checked before the export writes the company: the lead is refused whole, before its first write.
        refuse_deal_before_write(ctx, connector, overrides, creating=live_deal is None)
        # A new deal goes with a new company in one all-or-none request where the CRM can (the export decides).
        if live_deal is None and ctx.settings.objects.deal.direction.outbound:
            planned = deal_fields(ctx, connector, None, overrides)
            new_deal = DealWithCompany(planned[0])
    try:
        exported = _export(ctx, connector, new_deal)
    except LeadConverted:
        if as_lead is None or company_link is None:
            raise
        # Converted in the CRM by a user since the last event: follow what it became, then apply the event to that.
        convert_and_relink(ctx, as_lead, company_link.crm_id)
        deal_now = ctx.svc.links.get(ctx.tenant, ctx.crm, CrmObject.DEAL, ctx.lead.id)
        company_now = ctx.svc.links.get(ctx.tenant, ctx.crm, CrmObject.COMPANY, ctx.lead.id)
        return export_and_deal(ctx, deal_now, deal_now, company_now, overrides, won=won)
    except Conflict as exc:
        if "match" not in exc.details:
            raise
        return ctx.result(
            LeadEventOutcome.NEEDS_DECISION,
            reason=exc.message + " " + str(exc.details.get("hint", "")),
            match=MatchResult.model_validate(exc.details["match"]),
            log_entry_id=exc.details.get("log_entry_id"),
        )
    before = crm_calls([connector])
    if as_lead is not None:
        if not conversion_due(ctx, connector, won=won):
            return ctx.result(LeadEventOutcome.APPLIED, company=exported.company, persons=exported.persons,
                              crm_calls=exported.crm_calls, log_entry_id=exported.log_entry_id,
                              reason=not_yet_reason(ctx))  # fmt: skip
        # The deal the conversion makes is written right after: checked now, before the conversion (irreversible).
        refuse_deal_before_write(ctx, connector, overrides, creating=False)
        converted = convert_and_relink(ctx, as_lead, exported.company.crm_id)
        exported = converted_result(_export(ctx, connector, None))  # the waiting contacts, under the new company
        if converted.deal_id is None:
            return ctx.result(LeadEventOutcome.APPLIED, company=exported.company, persons=exported.persons,
                              crm_calls=crm_calls([connector]) - before + exported.crm_calls,
                              log_entry_id=exported.log_entry_id,
                              reason="the lead was converted without a deal (settings: lead_conversion.create_deal, "
                              "objects.deal.direction)")  # fmt: skip
        live_deal = deal_link = ctx.svc.links.get(ctx.tenant, ctx.crm, CrmObject.DEAL, ctx.lead.id)
    deal = upsert_deal(ctx, connector, exported, live_deal, deal_link, overrides, new_deal=new_deal, planned=planned)
    result = ctx.result(
        LeadEventOutcome.APPLIED,
        company=exported.company,
        persons=exported.persons,
        crm_calls=exported.crm_calls + (crm_calls([connector]) - before),
        log_entry_id=exported.log_entry_id,
    )
    if deal is None:
        result.reason = "deals are not synced to the CRM (objects.deal.direction)"
        return result
    result.deal, result.log_entry_id = deal
    return result


def _export(ctx: EventContext, connector: Connector, new_deal: DealWithCompany | None) -> ExportResult:
    """The lead's export, on this event's connector (and its settings and connection reads)."""
    shared = replace(ctx.svc, connector=lambda _tenant, _crm: connector, for_call=None)
    return export_lead(
        shared,
        ctx.tenant,
        ExportRequest(lead=ctx.lead),
        crm=ctx.crm,
        correlation_id=ctx.correlation_id,
        trigger=Trigger.LEAD_EVENT,
        lock=False,
        deal=new_deal,
    )


def deal_fields(
    ctx: EventContext, connector: Connector, live_deal: RecordLink | None, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], MappedRecord]:
    """The CRM fields of the lead's deal (with the new stage's probability when the stage moves), and its plan."""
    plan = plan_lead(ctx.settings, ctx.lead, {CrmObject.DEAL: connector.fields(CrmObject.DEAL)}, linked=True)
    assert plan.deal is not None
    prof = profile(ctx.crm)
    if wants_stage_probability(plan.deal, prof) and _stage_moves(plan.deal.fields, prof.stage_field, live_deal):
        add_stage_probability(plan.deal, prof, connector.stages())  # the new stage's probability goes with it
    return {**plan.deal.fields, **overrides}, plan.deal


def upsert_deal(
    ctx: EventContext,
    connector: Connector,
    exported: ExportResult,
    live_deal: RecordLink | None,
    deal_link: RecordLink | None,
    overrides: Mapping[str, Any],
    *,
    new_deal: DealWithCompany | None = None,
    planned: tuple[dict[str, Any], MappedRecord] | None = None,
) -> tuple[DealResult, str] | None:
    """`new_deal`/`planned`: the deal the export was given to create with the company, and its fields as planned
    (`new_deal.created` set when it was)."""
    if not ctx.settings.objects.deal.direction.outbound:
        return None
    before = crm_calls([connector])
    fields, plan = planned or deal_fields(ctx, connector, live_deal, overrides)
    if live_deal is None:
        person_id = exported.persons[0].crm_id if exported.persons else None
        created = (new_deal.created if new_deal is not None else None) or connector.create(
            CrmObject.DEAL, fields, parent_id=exported.company.crm_id, person_id=person_id
        )
        crm_id, url, action, written = created.id, created.url, DealAction.CREATED, list(fields)
        hashes = field_hashes(fields)
        remember_deal(ctx, connector, crm_id, fields, created, created=True, parent_id=exported.company.crm_id)
    else:
        hashes = {**live_deal.field_hashes, **field_hashes(fields)}
        changed = {k: v for k, v in fields.items() if live_deal.field_hashes.get(k) != hashes[k]}
        if changed:
            answer = connector.update(CrmObject.DEAL, live_deal.crm_id, changed)
            remember_deal(ctx, connector, live_deal.crm_id, changed, answer, parent_id=exported.company.crm_id)
        crm_id, url, written = live_deal.crm_id, live_deal.url, list(changed)
        action = DealAction.UPDATED if changed else DealAction.UNCHANGED
    save_deal_link(ctx, crm_id, url, hashes, created_at=live_deal.created_at if live_deal else None)
    entry = ctx.entry(
        action={DealAction.CREATED: Action.CREATE, DealAction.UPDATED: Action.UPDATE}.get(action, Action.SKIP),
        outcome=Outcome.SKIPPED if action is DealAction.UNCHANGED else Outcome.SUCCESS,
        object=CrmObject.DEAL,
        crm_id=crm_id,
        fields_written=written,
        fields_skipped=[SkippedField(field=s.crm_field or ", ".join(s.app_fields), reason=s.reason.value)
                        for s in plan.skipped],
        crm_calls=crm_calls([connector]) - before,
    )  # fmt: skip
    ctx.svc.sync_log.write(entry)
    return DealResult(crm_id=crm_id, url=url, action=action, fields_written=written), entry.id


def refuse_deal_before_write(
    ctx: EventContext, connector: Connector, overrides: Mapping[str, Any], *, creating: bool
) -> None:
    """422 (logged, nothing written) when the CRM's metadata says it would refuse the deal this event writes: a
    required field without a value (checked when the deal is created), a restricted picklist value, a wrong type."""
    if not ctx.settings.objects.deal.direction.outbound:
        return
    wanted = [m.crm_field for m in ctx.settings.field_mappings.for_object(CrmObject.DEAL) if m.outbound]
    crm_fields = current_fields(connector, CrmObject.DEAL, wanted)
    plan = plan_lead(ctx.settings, ctx.lead, {CrmObject.DEAL: crm_fields}, linked=True)
    if plan.deal is None:
        return
    record = plan.deal.model_copy(update={"fields": {**plan.deal.fields, **overrides}})
    try:
        refuse_before_write([WriteCheck(["crm", "deal"], record, crm_fields, creating)], what="this lead's deal")
    except RefusedBeforeWrite as exc:
        entry = ctx.entry(
            action=Action.CREATE if creating else Action.UPDATE,
            outcome=Outcome.FAILED,
            object=CrmObject.DEAL,
            error=LogError(code=exc.code, message=exc.message),
        )
        ctx.svc.sync_log.write(entry)
        exc.details["log_entry_id"] = entry.id
        raise


def _stage_moves(fields: Mapping[str, Any], stage_field: str | None, live_deal: RecordLink | None) -> bool:
    """True when the deal is created, or its stage differs from the one leadbridge last wrote."""
    if live_deal is None or stage_field is None:
        return True
    return live_deal.field_hashes.get(stage_field) != field_hashes({stage_field: fields.get(stage_field)})[stage_field]


def write_deal(ctx: EventContext, live_deal: RecordLink, fields: Mapping[str, Any]) -> LeadEventResult:
    """Write `fields` to the linked deal, only those whose value differs from what leadbridge last wrote."""
    connector = ctx.connector()
    before = crm_calls([connector])
    hashes = field_hashes(fields)
    changed = {k: v for k, v in fields.items() if live_deal.field_hashes.get(k) != hashes[k]}
    if changed:
        answer = connector.update(CrmObject.DEAL, live_deal.crm_id, changed)
        remember_deal(ctx, connector, live_deal.crm_id, changed, answer)
    save_deal_link(
        ctx, live_deal.crm_id, live_deal.url, {**live_deal.field_hashes, **hashes}, created_at=live_deal.created_at
    )
    action = DealAction.UPDATED if changed else DealAction.UNCHANGED
    entry = ctx.entry(
        action=Action.UPDATE if changed else Action.SKIP,
        outcome=Outcome.SUCCESS if changed else Outcome.SKIPPED,
        object=CrmObject.DEAL,
        crm_id=live_deal.crm_id,
        fields_written=list(changed),
        fields_skipped=[] if changed else [SkippedField(field="*", reason="unchanged")],
        crm_calls=crm_calls([connector]) - before,
    )
    ctx.svc.sync_log.write(entry)
    deal = DealResult(crm_id=live_deal.crm_id, url=live_deal.url, action=action, fields_written=list(changed))
    return ctx.result(LeadEventOutcome.APPLIED, deal=deal, log_entry_id=entry.id, crm_calls=entry.crm_calls)


def delete_deal(ctx: EventContext, live_deal: RecordLink) -> LeadEventResult:
    connector = ctx.connector()
    before = crm_calls([connector])
    connector.delete(CrmObject.DEAL, live_deal.crm_id)
    remember_deleted(ctx.svc.states, ctx.tenant, ctx.crm, CrmObject.DEAL, live_deal.crm_id)  # not news to the app
    # The link stays as a tombstone: its event time keeps an older, late event from re-creating the deal.
    ctx.svc.links.save(
        live_deal.model_copy(update={"match": DELETED, "updated_at": ctx.svc.clock(), "last_event_at": ctx.occurred_at})
    )
    entry = ctx.entry(
        action=Action.DELETE,
        outcome=Outcome.SUCCESS,
        object=CrmObject.DEAL,
        crm_id=live_deal.crm_id,
        crm_calls=crm_calls([connector]) - before,
    )
    ctx.svc.sync_log.write(entry)
    deal = DealResult(crm_id=live_deal.crm_id, url=live_deal.url, action=DealAction.DELETED)
    return ctx.result(LeadEventOutcome.APPLIED, deal=deal, log_entry_id=entry.id, crm_calls=entry.crm_calls)


def write_company_owner(
    ctx: EventContext, link: RecordLink, owner_field: str, crm_user: str
) -> tuple[CompanyResult, str, int]:
    connector = ctx.connector()
    before = crm_calls([connector])
    hashes = field_hashes({owner_field: crm_user})
    changed = link.field_hashes.get(owner_field) != hashes[owner_field]
    if changed:
        answer = connector.update(CrmObject.COMPANY, link.crm_id, {owner_field: crm_user})
        remember_written(ctx.svc.states, ctx.settings, ctx.tenant, ctx.crm,
                         [Written(CrmObject.COMPANY, link.crm_id, {owner_field: crm_user}, answer)])  # fmt: skip
        ctx.svc.links.save(
            link.model_copy(update={"field_hashes": {**link.field_hashes, **hashes}, "updated_at": ctx.svc.clock()})
        )
    entry = ctx.entry(
        action=Action.UPDATE if changed else Action.SKIP,
        outcome=Outcome.SUCCESS if changed else Outcome.SKIPPED,
        object=CrmObject.COMPANY,
        crm_id=link.crm_id,
        fields_written=[owner_field] if changed else [],
        crm_calls=crm_calls([connector]) - before,
    )
    ctx.svc.sync_log.write(entry)
    action = RecordAction.UPDATED if changed else RecordAction.UNCHANGED
    return CompanyResult(crm_id=link.crm_id, url=link.url, action=action), entry.id, entry.crm_calls


def remember_deal(
    ctx: EventContext,
    connector: Connector,
    crm_id: str,
    written: Mapping[str, Any],
    answer: CrmRecord,
    *,
    created: bool = False,
    parent_id: str | None = None,
) -> None:
    """The deal's record state after a write: with the won/lost/open kind the write put it in, so the sync reading it
    back reports neither a `DealChanged` nor a `LeadWon`/`LeadLost` (a lifecycle write never comes back)."""
    kind = answer.stage_kind
    if kind is None:
        prof = profile(ctx.crm)
        field, group = (prof.status_field, "status") if prof.status_field else (prof.stage_field, "stage")
        if field and field in written:
            found = next((s for s in connector.stages() if s.group == group and s.id == str(written[field])), None)
            kind = found.kind if found else None
        if kind is None and created:
            kind = StageKind.OPEN
    write = Written(CrmObject.DEAL, crm_id, written, answer, created=created, parent_id=parent_id, stage_kind=kind)
    remember_written(ctx.svc.states, ctx.settings, ctx.tenant, ctx.crm, [write])


def save_deal_link(
    ctx: EventContext, crm_id: str, url: str | None, hashes: dict[str, str], *, created_at: datetime | None
) -> None:
    now = ctx.svc.clock()
    ctx.svc.links.save(
        RecordLink(
            tenant=ctx.tenant,
            crm=ctx.crm,
            object=CrmObject.DEAL,
            app_id=ctx.lead.id,
            crm_id=crm_id,
            url=url,
            lead_id=ctx.lead.id,
            content_hash=content_hash(hashes),
            field_hashes=hashes,
            match="created",
            created_at=created_at or now,
            updated_at=now,
            synced_at=now,
            last_event_at=ctx.occurred_at,
        )
    )


def status_field(ctx: EventContext, kind: StageKind) -> dict[str, str] | str:
    """{field: value} that puts the deal in the CRM's won/lost state, or why that is impossible."""
    prof = profile(ctx.crm)
    stages = ctx.connector().stages()
    # A separate status (SuperOffice Sold/Lost) is preferred; CRMs with closed-won/lost stages use the stage.
    for group, field in (("status", prof.status_field), ("stage", prof.stage_field)):
        found = next((s for s in stages if s.kind is kind and s.group == group), None)
        if found is not None and field:
            return {field: found.id}
    return f"the CRM offers no {kind.value} status or stage"
