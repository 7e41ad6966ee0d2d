"""A first export's records in one all-or-none request: the new company, its persons and, on a lead event, the deal
(`SupportsWriteTogether`, Salesforce `POST /composite`). A refusal of any of them leaves nothing in the CRM, where
writing them one by one would leave the company behind. CRMs without the capability, and batches it cannot take,
are written one by one as before. In a bulk export, a CRM that batches writes without transactions
(`SupportsWriteBatches`, HubSpot) takes the same records in its window's batch, parents first."""

from __future__ import annotations

from leadbridge.crm.conversion import SupportsLeadConversion
from leadbridge.crm.together import NewRecord, SupportsWriteBatches, SupportsWriteTogether
from leadbridge.export.persons import person_ref, person_ref_of
from leadbridge.export.run import ExportRun, batch_written
from leadbridge.mapping import LeadPlan
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.links import RecordLink

COMPANY_REF = "company"
DEAL_REF = "deal"


def create_together(
    run: ExportRun, plan: LeadPlan, settings: SettingsDocument, person_links: dict[str, RecordLink]
) -> tuple[CrmRecord, dict[int, CrmRecord]] | None:
    """Create the new company with its persons (and `run.deal`) in one request; the company and the persons by contact
    index. None when the connector cannot (the caller writes one by one). Sets `run.deal.created`. A bulk export's
    run defers the create (`WritesDeferred`) and then brings the records it created (`run.prepared`)."""
    connector = run.connector
    assert plan.company is not None
    all_or_none = isinstance(connector, SupportsWriteTogether)
    batching = isinstance(connector, SupportsWriteBatches) and (run.defer_writes or run.prepared is not None)
    if not (all_or_none or batching) or person_links:
        return None  # a person already linked is updated, not created: the one-by-one path knows how
    records = [NewRecord(COMPANY_REF, CrmObject.COMPANY, plan.company.fields, label="the company")]
    holds_one = isinstance(connector, SupportsLeadConversion) and connector.keeps_companies_as_leads()
    if settings.objects.person.direction.outbound:
        contacts = run.lead.contacts[:1] if holds_one else run.lead.contacts
        records += [
            NewRecord(person_ref_of(index), CrmObject.PERSON, record.fields, parent_ref=COMPANY_REF,
                      label=f"person {index + 1} ({person_ref(contact, index)})")
            for index, (contact, record) in enumerate(zip(contacts, plan.persons, strict=False))
        ]  # fmt: skip
    persons = len(records) - 1
    if run.deal is not None:
        records.append(NewRecord(DEAL_REF, CrmObject.DEAL, run.deal.fields, parent_ref=COMPANY_REF,
                                 person_ref=person_ref_of(0) if persons else None, label="the deal"))  # fmt: skip
    # A batch that wrote the company but refused a person (no transactions) gives what it wrote; the person refused
    # fails the export where it is written, after the company is linked, as a single export's would.
    from_batch = batch_written(run, records, in_part=run.deal is None)
    if from_batch is not None:
        created = from_batch
    elif run.defer_writes and isinstance(connector, SupportsWriteBatches) and connector.can_write_together(records):
        run.deferred = list(records)
        raise run.deferral(None)
    elif not isinstance(connector, SupportsWriteTogether) or (len(records) == 1 and not run.defer_writes):
        return None  # one record on its own: a plain create is the same request
    elif not connector.can_create_together(records):
        return None
    else:
        created = connector.create_together(records)
    if run.deal is not None:
        run.deal.created = created[DEAL_REF]
    return created[COMPANY_REF], {i: created[ref] for i in range(persons) if (ref := person_ref_of(i)) in created}
