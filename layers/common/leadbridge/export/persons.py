"""The lead's persons in the CRM: each one found by its link, else matched among the company's CRM persons by e-mail,
then by normalised full name (in the CRM fields the field mapping names), else created; the persons of a company just
created are created in one request where the CRM can."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leadbridge.crm.base import SupportsCreateMany
from leadbridge.crm.conversion import SupportsLeadConversion
from leadbridge.crm.together import NewRecord, RecordUpdate
from leadbridge.errors import CrmError
from leadbridge.export.contracts import PersonResult, RecordAction
from leadbridge.export.matching import normalise_name
from leadbridge.export.ports import ExportServices
from leadbridge.export.run import (
    ExportRun,
    company_persons,
    skip_warnings,
    write_create,
    write_skips,
    write_update,
)
from leadbridge.export.written_state import Written
from leadbridge.mapping import LeadPlan
from leadbridge.mapping.hashing import canonical, content_hash, field_hashes
from leadbridge.mapping.lead import for_existing_record
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.lead import LeadContact
from leadbridge.models.settings import FieldMapping, SettingsDocument
from leadbridge.store.links import RecordLink, person_app_id

CREATE_MANY_MAX = 200  # records per batched create: the most the built-in CRMs' batch-create requests take


def person_ref(contact: LeadContact, index: int) -> str:
    """A stable key of a lead's contact: its app id, else its e-mail, else its position in the list."""
    raw = contact.id or (contact.email or "").strip().casefold() or f"n{index}"
    return raw.replace("#", "_").replace("~", "_")


def person_ref_of(index: int) -> str:
    """The contact's name in a batch of writes ("person_0"), the same in every run of one export."""
    return f"person_{index}"


def upsert_persons(
    svc: ExportServices,
    run: ExportRun,
    plan: LeadPlan,
    company_id: str,
    person_links: dict[str, RecordLink],
    *,
    company_created: bool,
    settings: SettingsDocument,
    written: list[Written] | None = None,
    created: dict[int, CrmRecord] | None = None,
) -> tuple[list[PersonResult], list[RecordLink]]:
    """Write the lead's persons; returns what happened and the links to store (the caller stores them in one batch
    with the company's). Each person write is added to `written` (the caller remembers them). `created`: the persons
    already created together with the company (by contact index)."""
    if not settings.objects.person.direction.outbound:
        return [], []  # persons are not sent: the plan says so in not_sent
    connector = run.connector
    keys = person_key_fields(settings)
    results: list[PersonResult] = []
    links: list[RecordLink] = []
    # A CRM lead holds one person: the lead's first contact; the others wait for its conversion (never unlinked).
    holds_one = isinstance(connector, SupportsLeadConversion) and connector.is_unconverted_lead(company_id)
    contacts = run.lead.contacts[:1] if holds_one else run.lead.contacts
    run.persons_waiting = [contact.id or person_ref(contact, i) for i, contact in enumerate(run.lead.contacts)
                           if i >= len(contacts)]  # fmt: skip
    crm_persons: list[CrmRecord] | None = [] if company_created else None  # read lazily, once
    if created is not None:
        created_together = created
    else:
        created_together = create_persons_together(run, plan, company_id, person_links) if company_created else {}
    taken: set[str] = set()
    for index, (contact, record) in enumerate(zip(contacts, plan.persons, strict=False)):
        ref = person_ref(contact, index)
        app_id = person_app_id(run.lead.id, ref)
        fields = record.fields
        hashes = field_hashes(fields)
        link = person_links.get(app_id)
        current: CrmRecord | None = None
        answer: CrmRecord | None = None  # the CRM's answer to the person write
        if link is not None and link.crm_id not in taken:
            crm_id, how = link.crm_id, "link"
            changed = {k: v for k, v in fields.items() if link.field_hashes.get(k) != hashes[k]}
        else:
            if crm_persons is None:
                crm_persons = company_persons(run, company_id)
            current, how = match_person(crm_persons, fields, taken, keys)
            if current is not None:
                crm_id = current.id
                changed = {k: v for k, v in fields.items() if canonical(current.fields.get(k)) != canonical(v)}
                # A CRM person leadbridge did not create: `on_existing` per field, and it keeps its owner.
                changed, _ = for_existing_record(settings, CrmObject.PERSON, changed, current.fields)
            else:
                label = f"person {index + 1} ({ref})"
                new = created_together.get(index) or write_create(run, NewRecord(
                    person_ref_of(index), CrmObject.PERSON, fields, parent_id=company_id, label=label))  # fmt: skip
                # None: held back for a bulk export's batch; this run's results are then never used
                crm_id = new.id if new else f"(new {person_ref_of(index)})"
                how, changed, current, answer = "created", dict(fields), new, new
        if changed and how != "created":
            answer = write_update(run, RecordUpdate(person_ref_of(index), CrmObject.PERSON, crm_id, changed,
                                                    label=f"person {index + 1} ({ref})"))  # fmt: skip
        if written is not None:
            written.append(Written(CrmObject.PERSON, crm_id, fields, answer, created=how == "created",
                                   parent_id=company_id))  # fmt: skip
        taken.add(crm_id)
        if how == "created":
            action = RecordAction.CREATED
        elif how == "link":
            action = RecordAction.UPDATED if changed else RecordAction.UNCHANGED
        else:
            action = RecordAction.LINKED
        url = (
            (link.url if link else None)
            or (current.url if current else None)
            or connector.record_url(CrmObject.PERSON, crm_id)
        )
        now = svc.clock()
        links.append(
            RecordLink(
                tenant=run.tenant,
                crm=run.crm,
                object=CrmObject.PERSON,
                app_id=app_id,
                crm_id=crm_id,
                url=url,
                lead_id=run.lead.id,
                content_hash=content_hash(fields),
                field_hashes=hashes,
                match=how,
                created_at=link.created_at if link else now,
                updated_at=now,
                synced_at=now,
            )
        )
        run.warnings += [f"person {ref}: {w}" for w in skip_warnings(write_skips(run))]
        results.append(
            PersonResult(
                app_id=contact.id or ref,
                email=contact.email,
                crm_id=crm_id,
                url=url,
                action=action,
                matched_by=how,
                fields_written=list(changed),
            )
        )
    return results, links


def create_persons_together(
    run: ExportRun, plan: LeadPlan, company_id: str, person_links: dict[str, RecordLink]
) -> dict[int, CrmRecord]:
    """The persons of a company just created are all new: one request creates them where the CRM can (by contact
    index). A person the CRM refused fails the export like a single create would; the ones created are found among
    the company's persons by the retry."""
    connector = run.connector
    if not isinstance(connector, SupportsCreateMany):
        return {}
    new = [
        index
        for index, contact in enumerate(run.lead.contacts)
        if person_app_id(run.lead.id, person_ref(contact, index)) not in person_links
    ]
    if not 1 < len(new) <= CREATE_MANY_MAX:
        return {}
    answers = connector.create_many(CrmObject.PERSON, [plan.persons[i].fields for i in new], parent_id=company_id)
    created: dict[int, CrmRecord] = {}
    for index, answer in zip(new, answers, strict=True):
        if isinstance(answer, CrmError):
            raise answer
        created[index] = answer
    return created


@dataclass(frozen=True)
class PersonKeyFields:
    """Which CRM person fields hold the e-mail and the name parts, read from the field mapping (any CRM)."""

    email: str | None
    name_parts: tuple[str, ...]  # first, (middle,) last: the CRM fields in name order


def person_key_fields(settings: SettingsDocument) -> PersonKeyFields:
    def crm_field(app_field: str, split_part: str | None = None) -> str | None:
        def feeds(m: FieldMapping) -> bool:
            if m.app_fields == [app_field]:
                return True
            # A full name split into its parts (`split_name` transform) feeds first/last too.
            return split_part is not None and any(getattr(t, "part", None) == split_part for t in m.transforms)

        found = [m for m in settings.field_mappings.person if m.outbound and feeds(m)]
        found.sort(key=lambda m: m.custom)  # a standard field over a custom copy of the same value
        return str(found[0].crm_field) if found else None

    parts = (crm_field("first_name", "first"), crm_field("middle_name"), crm_field("last_name", "last"))
    return PersonKeyFields(crm_field("email"), tuple(p for p in parts if p))


def match_person(
    candidates: list[CrmRecord], fields: Mapping[str, Any], taken: set[str], keys: PersonKeyFields
) -> tuple[CrmRecord | None, str]:
    """The company's CRM person with the same e-mail, else the same normalised full name (in the CRM fields the
    settings map the app's e-mail and name parts to)."""
    free = [c for c in candidates if c.id not in taken]
    email = str(fields.get(keys.email) or "").strip().casefold() if keys.email else ""
    if email and keys.email:
        for candidate in free:
            if str(candidate.fields.get(keys.email) or "").strip().casefold() == email:
                return candidate, "email"
    name = _full_name(fields, keys.name_parts)
    if name:
        for candidate in free:
            if _full_name(candidate.fields, keys.name_parts) == name:
                return candidate, "name"
    return None, "created"


def _full_name(fields: Mapping[str, Any], name_parts: Iterable[str]) -> str | None:
    parts = [str(fields.get(k) or "").strip() for k in name_parts]
    return normalise_name(" ".join(p for p in parts if p))
