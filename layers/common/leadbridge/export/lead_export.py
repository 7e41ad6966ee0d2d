"""Single-lead export (issue 6, seed 002): match the lead's company in the CRM, link or create it, upsert its persons,
remember what was written, and log it.

Flow of `export_lead`:
1. An unchanged re-export (the same company and person values from the lead, same settings version, link
   complete: `input_fingerprint`) stops before the lead's lease and any CRM call.
2. Otherwise the lead is planned with `plan_lead` (the function the settings preview uses), against live metadata.
3. The company is resolved: the existing link, the chosen CRM id (`link`), a new record (`create`), or by matching
   (`auto`: exact → link, none → create, only possible matches → 409 with the candidates).
4. Only fields whose value differs are written (by hash for linked records, by the CRM's current value when linking
   to a record we did not write). The company link is stored *before* persons are written, so a crash in between
   leaves a state the retry completes: it finds the link instead of creating a second company.
5. Persons: by their link, else matched by e-mail, then by normalised full name among the company's CRM persons,
   else created. Each person link is stored right after its write.
6. The company link gets the input fingerprint only when everything succeeded; one sync log entry per written
   record (the company's carries the match decision and the CRM calls of the whole export).

Every CRM failure is logged, then re-raised with `log_entry_id` in its details (502 for a rejected write), and a
retry is safe: links make it update instead of duplicating.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from leadbridge.crm.conversion import LeadConverted
from leadbridge.crm.metadata_cache import current_fields
from leadbridge.crm.together import RecordUpdate
from leadbridge.errors import Conflict, ConnectionMissing, CrmError, CrmNotFound, InvalidInput, RefusedBeforeWrite
from leadbridge.export.company import match_company
from leadbridge.export.contracts import (
    CompanyResult,
    ExportChoice,
    ExportMode,
    ExportRequest,
    ExportResult,
    FieldSkip,
    PersonResult,
    RecordAction,
)
from leadbridge.export.lease import lead_lease
from leadbridge.export.log_entries import company_entry, log_failure, person_entry, refused_match_entry
from leadbridge.export.matching import MatchVerdict
from leadbridge.export.persons import person_ref, upsert_persons
from leadbridge.export.ports import ExportServices, one_call
from leadbridge.export.run import (
    DealWithCompany,
    DeferredWrites,
    ExportRun,
    company_record,
    crm_calls,
    remembered,
    skip_warnings,
    write_skips,
    write_update,
)
from leadbridge.export.together import COMPANY_REF, create_together
from leadbridge.export.written_state import Written, remember_written
from leadbridge.mapping import LeadPlan, MappedRecord, plan_lead
from leadbridge.mapping.hashing import canonical, content_hash, field_hashes
from leadbridge.mapping.lead import for_existing_record, needs_current_values
from leadbridge.mapping.phones import prepare_lead
from leadbridge.mapping.validation import WriteCheck, refuse_before_write, refuse_unknown_objects
from leadbridge.models.connection import Connection
from leadbridge.models.crm import CrmObject, CrmRecord, FieldInfo
from leadbridge.models.lead import Lead
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import Trigger
from leadbridge.store.links import RecordLink, person_app_id


def export_lead(
    svc: ExportServices,
    tenant: str,
    request: ExportRequest,
    *,
    crm: str | None = None,
    correlation_id: str | None = None,
    trigger: Trigger = Trigger.EXPORT,
    lock: bool = True,
    run_id: str | None = None,
    deal: DealWithCompany | None = None,
    defer_writes: bool = False,
    prepared: DeferredWrites | None = None,
    candidates: list[CrmRecord] | None = None,
) -> ExportResult:
    """Export one lead to the tenant's CRM. See the module docstring for the flow and the guarantees.

    `lock=False` when the caller already holds the lead's lease (`lead_lease`), e.g. a lead event. `run_id`: the
    bulk export run the lead belongs to (`POST /exports`); its log entries name it. `deal`: a lead event's new deal,
    created with the company when the export creates it (all or none, where the CRM can); `deal.created` tells.
    `defer_writes`/`prepared` (bulk export): the export plans its writes (the new company with its persons, or the
    changes to the records it is linked to) and raises `WritesDeferred` with them instead of writing; run again with
    `prepared` (the records as a batch request wrote them, and what the first run decided and read), it finishes
    without searching or reading again. `candidates`: the CRM's
    companies for this lead, searched already with other leads' (bulk export)."""
    svc = one_call(svc)
    crm = crm or svc.active_crm(tenant)
    settings = svc.settings(tenant, crm)
    # Built before anything else: it refuses a missing or unauthorised connection. No CRM call (the token is read
    # only when a request is made).
    connector = svc.connector(tenant, crm)
    choice = request.choice
    if choice.mode is ExportMode.LINK and not choice.crm_company_id:
        raise InvalidInput(
            "Mode 'link' needs the CRM company to link to.",
            errors=[{"loc": ["body", "choice", "crm_company_id"], "type": "missing", "message": "required for link"}],
        )
    lead, warnings = prepare_lead(request.lead, settings)
    run = ExportRun(
        tenant, crm, lead, connector, correlation_id, crm_calls(connector), warnings, trigger=trigger, run_id=run_id,
        deal=deal, defer_writes=defer_writes, prepared=prepared, candidates=candidates,
    )
    fingerprint = input_fingerprint(lead, settings)
    if not lock:
        return _export_current(svc, run, settings, choice, fingerprint)
    # An unchanged lead writes nothing (but its log entry), so it needs no lease: the common re-export is cheap.
    company_link = _company_link(svc, run, choice)
    if company_link and company_link.input_hash == fingerprint:
        return _unchanged(svc, run, company_link, _person_links(svc, run))
    with lead_lease(svc, tenant, crm, lead.id):
        return _export_current(svc, run, settings, choice, fingerprint)


def _company_link(svc: ExportServices, run: ExportRun, choice: ExportChoice) -> RecordLink | None:
    link = svc.links.get(run.tenant, run.crm, CrmObject.COMPANY, run.lead.id)
    if link and choice.mode is ExportMode.LINK and choice.crm_company_id != link.crm_id:
        return None  # the user re-links the lead to another CRM company
    return link


def _person_links(svc: ExportServices, run: ExportRun) -> dict[str, RecordLink]:
    return {link.app_id: link for link in svc.links.persons_of(run.tenant, run.crm, run.lead.id)}


def _export_current(
    svc: ExportServices, run: ExportRun, settings: SettingsDocument, choice: ExportChoice, fingerprint: str
) -> ExportResult:
    """Under the lead's lease: the links as they are now (an export that just finished may have written them). A
    bulk export's lead runs again after its window's batch with the links its first run read: the window holds the
    lead's lease throughout, so nothing else wrote them meanwhile."""

    def links_now() -> tuple[RecordLink | None, dict[str, RecordLink]]:
        company_link = _company_link(svc, run, choice)
        return company_link, (_person_links(svc, run) if company_link else {})

    company_link, person_links = remembered(run, ("links", run.lead.id), links_now)
    if company_link and company_link.input_hash == fingerprint:
        return _unchanged(svc, run, company_link, person_links)
    try:
        return _export(svc, run, settings, choice, company_link, person_links, fingerprint)
    except (CrmError, RefusedBeforeWrite) as exc:
        if isinstance(exc, LeadConverted) and run.trigger is Trigger.LEAD_EVENT:
            raise  # the lead event follows the conversion and then applies itself: no failure to log
        entry = log_failure(svc, run, exc)
        exc.details["log_entry_id"] = entry.id
        raise


def _plan(run: ExportRun, settings: SettingsDocument) -> LeadPlan:
    outbound = [o for o in (CrmObject.COMPANY, CrmObject.PERSON) if settings.objects.for_object(o).direction.outbound]
    refuse_unknown_objects(settings, run.connector.objects(), outbound)
    # A mapped field the (cached) metadata lacks may have been created a moment ago: read it again once (drift).
    metadata: dict[CrmObject, Iterable[FieldInfo]] = {
        obj: current_fields(run.connector, obj, [m.crm_field for m in settings.field_mappings.for_object(obj)
                                                 if m.outbound])
        for obj in outbound
    }  # fmt: skip
    run.metadata = metadata
    # A user pressing "Export" overrides the create-stage and selective-sync rules: those decide automatic sync.
    held_back = plan_lead(settings, run.lead, None, linked=False)
    if not held_back.send:
        run.warnings += [
            f"exported on request although automatic sync would not send it: {s.detail}" for s in held_back.not_sent
        ]
    plan = plan_lead(settings, run.lead, metadata, linked=True)
    if plan.company is None:
        raise Conflict(
            "Companies are not exported to the CRM under the current settings (objects.company.direction).",
            details={"hint": "An admin can turn on company export in the integration settings."},
        )
    return plan


def _export(
    svc: ExportServices,
    run: ExportRun,
    settings: SettingsDocument,
    choice: ExportChoice,
    company_link: RecordLink | None,
    person_links: dict[str, RecordLink],
    fingerprint: str,
) -> ExportResult:
    plan = _plan(run, settings)
    assert plan.company is not None
    company_fields = plan.company.fields
    connector = run.connector
    now = svc.clock()

    # --- resolve and write the company ---
    current: CrmRecord | None = None
    answer: CrmRecord | None = None  # the CRM's answer to the company write
    match_how = "created"
    if company_link is not None:
        target: str | None = company_link.crm_id
        match_how = company_link.match or "linked"
        run.match_log = {"decision": "already_linked", "crm_id": target}
    elif choice.mode is ExportMode.LINK:
        assert choice.crm_company_id is not None
        current = _get_company(run, choice.crm_company_id)
        target, match_how = current.id, "chosen"
        run.match_log = {"decision": "chosen_by_user", "crm_id": target}
    elif choice.mode is ExportMode.CREATE:
        target = None
        run.match_log = {"decision": "create_requested"}
    else:
        if run.prepared is not None:  # a bulk export's second run: decided by the first, written in its batch
            target, run.match, run.match_log = run.prepared.target, run.prepared.match, run.prepared.match_log
        else:
            run.match = match_company(connector, settings, run.lead, run.candidates)
            target = _auto_decision(svc, run)
        if target is not None:
            current = company_record(run, target)
            match_how = "exact_match"

    # Everything the CRM's metadata can tell is checked for the company and every person before the first write.
    refuse_before_write(_write_checks(run, plan, creating=target is None, person_links=person_links),
                        what="this lead")  # fmt: skip
    persons_created: dict[int, CrmRecord] | None = None  # persons created with the company, by contact index
    if target is None:
        together = create_together(run, plan, settings, person_links)
        if together is not None:
            created, persons_created = together
        else:
            created = connector.create(CrmObject.COMPANY, company_fields)
            run.defer_writes = False  # written on its own: the rest of this lead is written as a single export does
        answer = created
        target, url, action, written = created.id, created.url, RecordAction.CREATED, list(company_fields)
    else:
        if current is not None:  # a CRM record we did not write: compare with what it holds now
            changed = {k: v for k, v in company_fields.items() if canonical(current.fields.get(k)) != canonical(v)}
        else:
            assert company_link is not None
            hashes = field_hashes(company_fields)
            changed = {k: v for k, v in company_fields.items() if company_link.field_hashes.get(k) != hashes[k]}
        url = (current.url if current else company_link.url if company_link else None) or connector.record_url(
            CrmObject.COMPANY, target
        )
        # A CRM record leadbridge did not create: the mappings' `on_existing` and `owners.on_existing` say what the
        # export may change (seed 002 overwrites by default; the existing owner stays).
        if match_how != "created" and changed:
            now_in_crm = current
            if now_in_crm is None and needs_current_values(settings, CrmObject.COMPANY, changed):
                now_in_crm = company_record(run, target)
            changed, kept = for_existing_record(
                settings, CrmObject.COMPANY, changed, None if now_in_crm is None else now_in_crm.fields
            )
            plan.company.skipped += kept
            company_fields = {k: v for k, v in company_fields.items() if k not in {s.crm_field for s in kept}}
        if changed:
            answer = write_update(run, RecordUpdate(COMPANY_REF, CrmObject.COMPANY, target, changed,
                                                    label="the company"))  # fmt: skip
        written = list(changed)
        if current is not None:
            action = RecordAction.LINKED
        else:
            action = RecordAction.UPDATED if changed else RecordAction.UNCHANGED
    # Fields the CRM ignored or no longer has (deleted since the metadata was read): not written, reported.
    ignored = write_skips(run)
    run.warnings += skip_warnings(ignored)
    written = [name for name in written if name not in ignored]
    company_fields = {k: v for k, v in company_fields.items() if k not in ignored}
    run.company = CompanyResult(crm_id=target, url=url, action=action)
    run.company_written = written
    # Stored before persons are written: a crash from here on is completed by the retry, never duplicated. (Not while
    # a bulk export's writes are held back: nothing is written yet.)
    company_link = RecordLink(
        tenant=run.tenant,
        crm=run.crm,
        object=CrmObject.COMPANY,
        app_id=run.lead.id,
        crm_id=target,
        url=url,
        lead_id=run.lead.id,
        content_hash=content_hash(company_fields),
        field_hashes=field_hashes(company_fields),
        match=match_how,
        created_at=company_link.created_at if company_link and company_link.crm_id == target else now,
        updated_at=now,
    )
    if not run.deferred:
        svc.links.save(company_link)
    # What the CRM records now hold as the app sees them (remembered at the end: read back by the sync, no change).
    writes = [Written(CrmObject.COMPANY, target, company_fields, answer, created=action is RecordAction.CREATED)]

    # --- persons ---
    persons, new_person_links = upsert_persons(
        svc, run, plan, target, person_links, company_created=action is RecordAction.CREATED, settings=settings,
        written=writes, created=persons_created,
    )
    if run.deferred or run.reads_wanted:  # a bulk export's first run: the window's batch writes, then it runs again
        raise run.deferral(target)

    # --- done: remember the persons and the input, log; in two batched calls ---
    # A crash before this point leaves the company linked without its input hash: the retry writes the company
    # again and finds the persons it created among the company's persons (by e-mail or name), never duplicating them.
    company_link.input_hash = fingerprint
    company_link.synced_at = svc.clock()
    svc.links.save_many([company_link, *new_person_links])
    remember_written(svc.states, settings, run.tenant, run.crm, writes)
    skipped = _skipped(plan.company) + [
        FieldSkip(field=name, reason="missing_in_crm", detail="the CRM does not have this field (any more); it was "
                  "not written")
        for name in ignored
    ]  # fmt: skip
    run.warnings += [f"{f} was cut to the CRM's length" for f in plan.company.truncated] + plan.company.warnings
    for record in plan.persons:
        run.warnings += [f"person {record.app_id}: {f} was cut to the CRM's length" for f in record.truncated]
        run.warnings += [f"person {record.app_id}: {w}" for w in record.warnings]
    if run.persons_waiting:
        run.warnings.append(
            f"{len(run.persons_waiting)} contact(s) wait for the lead's conversion in the CRM: a CRM lead holds one "
            "person; they are created under the company it is converted into"
        )
    entry = company_entry(run, action, written, skipped)
    person_entries = [person_entry(run, p) for p in persons if p.action is not RecordAction.UNCHANGED]
    svc.sync_log.write_many([entry, *person_entries])
    wrote_anything = (
        bool(written) or action is RecordAction.CREATED or any(p.action is not RecordAction.UNCHANGED for p in persons)
    )
    return ExportResult(
        status="exported" if wrote_anything else "unchanged",
        lead_id=run.lead.id,
        crm=run.crm,
        company=run.company,
        persons=persons,
        persons_waiting=run.persons_waiting,
        fields_written=written,
        fields_skipped=skipped,
        warnings=run.warnings,
        match=run.match,
        log_entry_id=entry.id,
        crm_calls=entry.crm_calls,
    )


def _write_checks(
    run: ExportRun, plan: LeadPlan, *, creating: bool, person_links: dict[str, RecordLink]
) -> list[WriteCheck]:
    """The company (created when no CRM company was found or chosen) and each person (created unless linked)."""
    assert plan.company is not None
    checks = [WriteCheck(["crm", "company"], plan.company, run.metadata.get(CrmObject.COMPANY), creating)]
    for index, (contact, record) in enumerate(zip(run.lead.contacts, plan.persons, strict=False)):
        linked = person_app_id(run.lead.id, person_ref(contact, index)) in person_links
        checks.append(WriteCheck(["crm", "person", index], record, run.metadata.get(CrmObject.PERSON), not linked))
    return checks


def _get_company(run: ExportRun, crm_id: str) -> CrmRecord:
    try:
        return company_record(run, crm_id)
    except CrmNotFound:
        raise InvalidInput(
            f"The CRM has no company {crm_id!r} to link to.",
            errors=[{"loc": ["body", "choice", "crm_company_id"], "type": "not_found", "message": "no such company"}],
        ) from None


def _auto_decision(svc: ExportServices, run: ExportRun) -> str | None:
    """`auto`: the best exact candidate, None to create, or a 409 (logged) when only possible matches exist."""
    assert run.match is not None
    result = run.match
    summary = {
        "verdict": result.verdict.value,
        "candidates": [
            {"crm_id": c.crm_id, "confidence": c.confidence, "reasons": c.reasons} for c in result.candidates[:5]
        ],
    }
    if result.verdict is MatchVerdict.EXACT:
        best = next(c for c in result.candidates if c.verdict is MatchVerdict.EXACT)
        run.match_log = {**summary, "decision": "link_exact", "crm_id": best.crm_id}
        return best.crm_id
    if result.verdict is MatchVerdict.NONE:
        run.match_log = {**summary, "decision": "create_no_match"}
        return None
    run.match_log = {**summary, "decision": "refused_possible_matches"}
    entry = refused_match_entry(run)
    svc.sync_log.write(entry)
    raise PossibleMatchesOnly(
        f"{len(result.candidates)} CRM companies possibly match {run.lead.company_name!r} and none exactly; "
        "choose one to link to, or create a new company.",
        details={
            "hint": "Send the export again with choice {mode: 'link', crm_company_id} or {mode: 'create'}.",
            "match": result.model_dump(mode="json"),
            "log_entry_id": entry.id,
        },
    )


class PossibleMatchesOnly(Conflict):
    """`auto` found only possible matches (409 with the candidates, `details.match`): the user decides. A bulk
    export sets such a lead aside as `needs_decision`."""


def _unchanged(
    svc: ExportServices, run: ExportRun, company_link: RecordLink, person_links: dict[str, RecordLink]
) -> ExportResult:
    """Same input as the last completed export: nothing to write, no CRM call."""
    persons = []
    for index, contact in enumerate(run.lead.contacts):
        link = person_links.get(person_app_id(run.lead.id, person_ref(contact, index)))
        if link is not None:
            persons.append(
                PersonResult(
                    app_id=contact.id or person_ref(contact, index),
                    email=contact.email,
                    crm_id=link.crm_id,
                    url=link.url,
                    action=RecordAction.UNCHANGED,
                    matched_by="link",
                )
            )
    run.company = CompanyResult(crm_id=company_link.crm_id, url=company_link.url, action=RecordAction.UNCHANGED)
    run.match_log = {"decision": "already_linked", "crm_id": company_link.crm_id}
    entry = company_entry(run, RecordAction.UNCHANGED, [], [FieldSkip(field="*", reason="unchanged")])
    svc.sync_log.write(entry)
    return ExportResult(
        status="unchanged",
        lead_id=run.lead.id,
        crm=run.crm,
        company=run.company,
        persons=persons,
        fields_skipped=[FieldSkip(field="*", reason="unchanged", detail="same lead and settings as the last export")],
        warnings=run.warnings,
        log_entry_id=entry.id,
        crm_calls=0,
    )


def _skipped(record: MappedRecord) -> list[FieldSkip]:
    return [
        FieldSkip(field=s.crm_field or ", ".join(s.app_fields), reason=s.reason.value, detail=s.detail)
        for s in record.skipped
    ]


def input_fingerprint(lead: Lead, settings: SettingsDocument) -> str:
    """What the company and persons of an export are made of: the values the settings map from the lead (before the
    CRM's field metadata trims them), the contacts' keys and the settings version. A change no company or person
    field reads (the stage, a deal field, an unmapped field) leaves it as it is, so a lead event of a linked lead
    skips the company/person part and a re-export of such a lead writes nothing."""
    plan = plan_lead(settings, lead, None, linked=True)
    persons = [
        [person_ref(contact, index), field_hashes(record.fields)]
        for index, (contact, record) in enumerate(zip(lead.contacts, plan.persons, strict=False))
    ]
    payload = {
        "lead": lead.id,
        "company": field_hashes(plan.company.fields) if plan.company else None,
        "persons": persons,
        "settings_version": settings.version,
        "crm": settings.crm,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def only_connected_crm(
    connections: Iterable[Connection], tenant: str, *, needed_for: str = "leads can be exported"
) -> str:
    """The CRM of the tenant's one active connection (routes without a `crm` parameter use it); `needed_for` says in
    the refusal what waits for a connection."""
    active = sorted({c.crm for c in connections if c.is_active})
    if not active:
        raise ConnectionMissing(
            f"No CRM account is connected for this tenant; an admin must connect one before {needed_for}.",
            details={"tenant": tenant},
        )
    if len(active) > 1:
        raise InvalidInput(
            f"Several CRMs are connected ({', '.join(active)}); say which one with the `crm` query parameter.",
            errors=[{"loc": ["query", "crm"], "type": "missing", "message": f"one of {', '.join(active)}"}],
        )
    return active[0]
