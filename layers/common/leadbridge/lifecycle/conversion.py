"""Lead events while the company is kept as a CRM lead (Salesforce Lead mode; `leadbridge.crm.conversion`).

Until the conversion the CRM lead carries the company, its first contact and the pipeline (its status follows the app
stage through the status mapping); no deal exists. When the app lead reaches the stage `lead_conversion` names (by
default: when it is won), leadbridge converts the CRM lead with the CRM's own conversion, relinks the app lead to the
company, person and deal it became (the same app lead: never reported as new), and the export that follows creates
the contacts that waited under the new company and writes the deal's mapped fields.
"""

from __future__ import annotations

from leadbridge.crm.base import Connector
from leadbridge.crm.conversion import Converted, SupportsLeadConversion
from leadbridge.export import ExportResult, RecordAction
from leadbridge.export.persons import person_ref
from leadbridge.lifecycle.event_context import EventContext
from leadbridge.models.crm import CrmObject, StageKind
from leadbridge.models.synclog import Action, Outcome
from leadbridge.store.links import RecordLink, deal_link_from_conversion, moved_by_conversion, person_app_id


def lead_to_convert(connector: Connector, company_link: RecordLink | None) -> SupportsLeadConversion | None:
    """The connector when the lead's company is (or will be created as) a CRM lead that is not converted yet."""
    if not isinstance(connector, SupportsLeadConversion) or not connector.keeps_companies_as_leads():
        return None
    if company_link is not None and not connector.is_unconverted_lead(company_link.crm_id):
        return None
    return connector


def conversion_due(ctx: EventContext, connector: Connector, *, won: bool) -> bool:
    """Won, or at/after `lead_conversion.convert_at_stage` in an open (not lost) stage."""
    if won:
        return True
    at = ctx.settings.lead_conversion.convert_at_stage
    mapping = ctx.settings.status_mapping
    rank, threshold = mapping.stage_rank(ctx.lead.stage), mapping.stage_rank(at)
    if rank is None or threshold is None or rank < threshold:
        return False
    mapped = mapping.mapping_for(ctx.lead.stage)
    if mapped is None or mapped.crm_stage is None:
        return True
    lost = {s.id for s in connector.stages() if s.group == "stage" and s.kind is StageKind.LOST}
    return mapped.crm_stage not in lost  # a lost lead is never converted


def not_yet_reason(ctx: EventContext) -> str:
    at = ctx.settings.lead_conversion.convert_at_stage
    when = f"reaches stage {at!r}" if at else "is won"
    return f"the CRM lead carries the stage until it is converted; the deal is created when the lead {when}"


def convert_and_relink(ctx: EventContext, connector: SupportsLeadConversion, crm_lead_id: str) -> Converted:
    """Convert the lead's CRM lead (one converted in the CRM meanwhile answers what it became) and move the app
    lead's links to what it became; logged. The deal link (when the conversion made a deal) has no field hashes yet:
    the deal write that follows writes every mapped field."""
    settings = ctx.settings
    create_deal = settings.objects.deal.direction.outbound and settings.lead_conversion.create_deal
    converted = connector.convert(crm_lead_id, create_deal=create_deal, deal_name=None)
    svc, now = ctx.svc, ctx.svc.clock()
    record_url = ctx.connector().record_url
    moved: list[RecordLink] = []
    company = svc.links.get(ctx.tenant, ctx.crm, CrmObject.COMPANY, ctx.lead.id)
    if company is not None:
        company_url = record_url(CrmObject.COMPANY, converted.company_id)
        moved.append(moved_by_conversion(company, converted.company_id, url=company_url, now=now))
    if ctx.lead.contacts:
        first = person_app_id(ctx.lead.id, person_ref(ctx.lead.contacts[0], 0))
        person = svc.links.get(ctx.tenant, ctx.crm, CrmObject.PERSON, first)
        if person is not None:
            person_url = record_url(CrmObject.PERSON, converted.person_id)
            moved.append(moved_by_conversion(person, converted.person_id, url=person_url, now=now))
    if converted.deal_id is not None and svc.links.get(ctx.tenant, ctx.crm, CrmObject.DEAL, ctx.lead.id) is None:
        deal_url = record_url(CrmObject.DEAL, converted.deal_id)
        moved.append(deal_link_from_conversion(ctx.tenant, ctx.crm, ctx.lead.id, converted.deal_id, url=deal_url,
                                               now=now))  # fmt: skip
    svc.links.save_many(moved)
    svc.sync_log.write(ctx.entry(
        action=Action.CONVERT, outcome=Outcome.SUCCESS, object=CrmObject.COMPANY, crm_id=converted.company_id,
        match={"converted_from": crm_lead_id, "person": converted.person_id, "deal": converted.deal_id},
    ))  # fmt: skip
    return converted


def converted_result(exported: ExportResult) -> ExportResult:
    """The export after the conversion, with the company and first person reported as converted (not as new)."""
    company = exported.company.model_copy(update={"action": RecordAction.CONVERTED})
    persons = [p.model_copy(update={"action": RecordAction.CONVERTED}) if i == 0 and p.matched_by == "link" else p
               for i, p in enumerate(exported.persons)]  # fmt: skip
    return exported.model_copy(update={"company": company, "persons": persons})
