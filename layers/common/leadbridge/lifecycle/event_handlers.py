"""Applying one lead event: the order check against the deal link, the selective-sync rules, and the handler per
event type (created / stage changed, won, lost / deleted, transferred). A CRM failure outside the export is logged
as the deal's and raised; `events.handle_event` and `deferred_outbound.retry_pending_outbound` decide what follows."""

from __future__ import annotations

from leadbridge.crm.base import Connector
from leadbridge.crm.defaults import profile
from leadbridge.errors import CrmError
from leadbridge.export import ExportServices, one_call
from leadbridge.lifecycle.contracts import LeadEvent, LeadEventOutcome, LeadEventResult, LeadEventType
from leadbridge.lifecycle.conversion import lead_to_convert
from leadbridge.lifecycle.deals import (
    DELETED,
    delete_deal,
    export_and_deal,
    status_field,
    write_company_owner,
    write_deal,
)
from leadbridge.lifecycle.event_context import EventContext, crm_calls, write_log_quietly
from leadbridge.mapping.rules import evaluate
from leadbridge.models.crm import CrmObject, StageKind
from leadbridge.models.settings import OnLostOrDeleted, OnTransferred, OnWon
from leadbridge.models.synclog import Action, LogError, Outcome
from leadbridge.models.time import as_utc
from leadbridge.store.links import RecordLink


def apply_event(
    svc: ExportServices,
    tenant: str,
    crm: str,
    event: LeadEvent,
    correlation_id: str | None,
    *,
    attempt: int = 0,
) -> LeadEventResult:
    svc = one_call(svc)
    settings = svc.settings(tenant, crm)
    lead = event.lead.model_copy(
        update={"stage": event.stage or event.lead.stage, "owner": event.owner or event.lead.owner}
    )
    occurred_at = as_utc(event.occurred_at or svc.clock())
    built: list[Connector] = []

    def connector() -> Connector:  # one connector per event, built only when the CRM is needed
        if not built:
            built.append(svc.connector(tenant, crm))
        return built[0]

    ctx = EventContext(svc, tenant, crm, event, lead, occurred_at, settings, connector, correlation_id, attempt)
    deal_link = svc.links.get(tenant, crm, CrmObject.DEAL, lead.id)
    if deal_link is not None and deal_link.last_event_at is not None and occurred_at < as_utc(deal_link.last_event_at):
        return ctx.skip(
            f"older than the last event applied to this lead ({deal_link.last_event_at.isoformat()}); "
            "a newer state is never overridden",
            crm_id=deal_link.crm_id,
        )
    live_deal = deal_link if deal_link is not None and deal_link.match != DELETED else None
    company_link = svc.links.get(tenant, crm, CrmObject.COMPANY, lead.id)
    company, deal = lead.company(), lead.deal()
    persons = lead.persons()
    decision = evaluate(
        settings.selective_sync,
        {CrmObject.COMPANY: company.model_dump(), CrmObject.DEAL: deal.model_dump()}
        | ({CrmObject.PERSON: persons[0].model_dump()} if persons else {}),
        status_mapping=settings.status_mapping,
        linked=company_link is not None or live_deal is not None,
    )
    if not decision.sync:
        return ctx.skip("selective sync rules do not match: " + "; ".join(decision.reasons))
    try:
        kind = event.type
        if kind in (LeadEventType.CREATED, LeadEventType.STAGE_CHANGED):
            return _sync_stage(ctx, live_deal, deal_link, company_link)
        if kind is LeadEventType.WON:
            return _won(ctx, live_deal, deal_link, company_link)
        if kind in (LeadEventType.LOST, LeadEventType.DELETED):
            return _lost_or_deleted(ctx, live_deal, company_link)
        return _transferred(ctx, live_deal, company_link)
    except CrmError as exc:
        if "log_entry_id" not in exc.details:  # export_lead logged its own failures; this one is the deal's
            entry = ctx.entry(
                action=Action.UPDATE if live_deal else Action.CREATE,
                outcome=Outcome.FAILED,
                object=CrmObject.DEAL,
                crm_id=live_deal.crm_id if live_deal else None,
                error=LogError.of(exc),
                crm_calls=crm_calls(built),
            )
            write_log_quietly(svc, entry)
            exc.details["log_entry_id"] = entry.id
        raise


def _sync_stage(
    ctx: EventContext, live_deal: RecordLink | None, deal_link: RecordLink | None, company_link: RecordLink | None
) -> LeadEventResult:
    mapping = ctx.settings.status_mapping
    if live_deal is None and not mapping.creates_record(ctx.lead.stage):
        return ctx.skip(f"stage {ctx.lead.stage!r} is before create stage {mapping.create_at_stage!r}")
    return export_and_deal(ctx, live_deal, deal_link, company_link, {})


def _won(
    ctx: EventContext, live_deal: RecordLink | None, deal_link: RecordLink | None, company_link: RecordLink | None
) -> LeadEventResult:
    if ctx.settings.status_mapping.on_won is OnWon.NOTHING:
        return ctx.skip("status_mapping.on_won is 'nothing'")
    target = status_field(ctx, StageKind.WON)
    if isinstance(target, str):
        return ctx.skip(target)
    if live_deal is None:
        # Won before it ever reached the CRM (e.g. created while the CRM was down), or a CRM lead converted now:
        # create it, already won.
        return export_and_deal(ctx, None, deal_link, company_link, target, won=True)
    return write_deal(ctx, live_deal, target)


def _lost_or_deleted(
    ctx: EventContext, live_deal: RecordLink | None, company_link: RecordLink | None
) -> LeadEventResult:
    lost = ctx.event.type is LeadEventType.LOST
    policy = ctx.settings.status_mapping.on_lost if lost else ctx.settings.status_mapping.on_deleted
    setting = "on_lost" if lost else "on_deleted"
    if policy is OnLostOrDeleted.NOTHING:
        return ctx.skip(f"status_mapping.{setting} is 'nothing'")
    if live_deal is None:
        if lost and company_link is not None and lead_to_convert(ctx.connector(), company_link) is not None:
            # No deal yet: the CRM lead's status follows the stage.
            return export_and_deal(ctx, None, None, company_link, {})
        return ctx.skip("the lead has no deal in the CRM")
    if policy is OnLostOrDeleted.DELETE:
        return delete_deal(ctx, live_deal)
    target = status_field(ctx, StageKind.LOST)
    if isinstance(target, str):
        return ctx.skip(target)
    return write_deal(ctx, live_deal, target)


def _transferred(ctx: EventContext, live_deal: RecordLink | None, company_link: RecordLink | None) -> LeadEventResult:
    if ctx.settings.status_mapping.on_transferred is OnTransferred.NOTHING:
        return ctx.skip("status_mapping.on_transferred is 'nothing'")
    owners = ctx.settings.owners
    app_user = ctx.lead.owner or ""
    crm_user = owners.user_map.get(app_user) or owners.default_crm_user
    owner_field = profile(ctx.crm).owner_field
    if owner_field is None:
        return ctx.skip(f"{ctx.crm} records have no owner field leadbridge can set")
    if crm_user is None:
        return ctx.skip(
            f"no CRM user for app user {app_user!r}: add it to owners.user_map or set owners.default_crm_user"
        )
    if live_deal is None and company_link is None:
        return ctx.skip("the lead has no record in the CRM")
    result = write_deal(ctx, live_deal, {owner_field: crm_user}) if live_deal else None
    company = write_company_owner(ctx, company_link, owner_field, crm_user) if company_link else None
    if result is None:
        assert company is not None
        return ctx.result(LeadEventOutcome.APPLIED, company=company[0], log_entry_id=company[1], crm_calls=company[2])
    if company is not None:
        result.company = company[0]
        result.crm_calls += company[2]
    return result
