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
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import phonenumbers
from pydantic import BaseModel, Field

from leadbridge.crm.base import Connector, SupportsCreateMany
from leadbridge.errors import Conflict, ConnectionMissing, CrmError, CrmNotFound, InvalidInput, NeedsReauth
from leadbridge.export.matching import (
    FREE_MAIL_DOMAINS,
    CompanyKeys,
    MatchResult,
    MatchVerdict,
    normalise_domain,
    normalise_name,
    normalise_org_nr,
    rank_candidates,
)
from leadbridge.mapping import LeadPlan, MappedRecord, plan_lead
from leadbridge.mapping.transforms import map_country
from leadbridge.models.connection import Connection
from leadbridge.models.crm import CrmObject, CrmRecord, FieldInfo
from leadbridge.models.lead import Lead, LeadContact
from leadbridge.models.settings import FieldMapping, SettingsDocument
from leadbridge.models.synclog import (
    Action,
    Direction,
    LogError,
    Outcome,
    SkippedField,
    SyncLogEntry,
    Trigger,
    new_entry_id,
)
from leadbridge.store.links import RecordLink, person_app_id
from leadbridge.store.log import SyncLog

log = logging.getLogger(__name__)

# CRM country name (after the settings' country mapping) → the phone region of `phonenumbers`.
PHONE_REGIONS = {
    "denmark": "DK",
    "norway": "NO",
    "sweden": "SE",
    "finland": "FI",
    "iceland": "IS",
    "germany": "DE",
    "netherlands": "NL",
    "france": "FR",
    "spain": "ES",
    "poland": "PL",
    "united kingdom": "GB",
    "ireland": "IE",
    "united states": "US",
}


# --- ports --------------------------------------------------------------------------------------------------------


class Links(Protocol):
    def get(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> RecordLink | None: ...

    def persons_of(self, tenant: str, crm: str, lead_id: str) -> list[RecordLink]: ...

    def save(self, link: RecordLink) -> None: ...

    def save_many(self, links: Sequence[RecordLink]) -> None: ...


class LeadLeases(Protocol):
    """A short exclusive lease per (tenant, CRM, lead), so two concurrent exports cannot both create the company."""

    def acquire(self, tenant: str, crm: str, lead_id: str, owner: str, seconds: float) -> float | None:
        """None when `owner` now holds the lease; else the seconds left on the current holder's lease."""
        ...

    def release(self, tenant: str, crm: str, lead_id: str, owner: str) -> None: ...


@dataclass
class ExportServices:
    links: Links
    sync_log: SyncLog
    settings: Callable[[str, str], SettingsDocument]  # (tenant, crm) → the current settings (or the defaults)
    connector: Callable[[str, str], Connector]  # (tenant, crm) → live connector; ConnectionMissing / NeedsReauth
    active_crm: Callable[[str], str]  # tenant → the CRM of its connection; ConnectionMissing when none
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    leases: LeadLeases | None = None  # None: no cross-request lock (single-threaded callers, unit tests)
    # A copy for one export or lead event that reads the settings and the connection once however often its steps
    # ask (the composition root's); None: use these services as they are.
    for_call: Callable[[], ExportServices] | None = None


def one_call(svc: ExportServices) -> ExportServices:
    """The services one export, match or lead event works with (see `ExportServices.for_call`)."""
    return svc.for_call() if svc.for_call is not None else svc


CREATE_MANY_MAX = 200  # records per batched create (Salesforce sObject Collections)
# Longer than the export function's timeout (29 s), so a running export never loses its lease; a crashed holder
# blocks the lead at most this long.
LEASE_SECONDS = 35.0


class ExportInProgress(Conflict):
    """Another export or lead event of the same lead holds its lease (HTTP 409 with Retry-After)."""

    code = "export_in_progress"

    def __init__(self, lead_id: str, retry_after: int) -> None:
        super().__init__(
            f"Lead {lead_id!r} is being exported by another request right now.",
            details={
                "retry_after": retry_after,
                "hint": f"Retry in {retry_after} s; the retry links to what the running export creates.",
            },
        )
        self.retry_after = retry_after


@contextmanager
def lead_lease(svc: ExportServices, tenant: str, crm: str, lead_id: str) -> Iterator[None]:
    """Hold the lead's lease for the block, or raise ExportInProgress at once (no waiting inside the request)."""
    if svc.leases is None:
        yield
        return
    owner = new_entry_id()
    left = svc.leases.acquire(tenant, crm, lead_id, owner, LEASE_SECONDS)
    if left is not None:
        # Exports take a second or two; the full lease only runs out after a crash.
        raise ExportInProgress(lead_id, retry_after=max(1, min(math.ceil(left), 5)))
    try:
        yield
    finally:
        svc.leases.release(tenant, crm, lead_id, owner)


# --- API contracts ------------------------------------------------------------------------------------------------


class ExportMode(StrEnum):
    AUTO = "auto"
    LINK = "link"
    CREATE = "create"


class ExportChoice(BaseModel):
    mode: ExportMode = Field(
        default=ExportMode.AUTO,
        description="`auto`: link on an exact match, create when nothing matches, refuse (409 with the candidates) "
        "when there are only possible matches. `link`: link to `crm_company_id`. `create`: always a new company "
        "(unless the lead is already linked: then the linked company is updated).",
    )
    crm_company_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="The CRM company to link to (mode `link`)."
    )


class ExportRequest(BaseModel):
    lead: Lead
    choice: ExportChoice = Field(default_factory=ExportChoice)


class IdempotentExportRequest(BaseModel):
    """What Powertools idempotency hashes: the key scoped to tenant, CRM and lead, plus a hash of the body so the
    same key with another body is refused instead of answered with the first result."""

    tenant: str
    crm: str
    lead_id: str
    key: str
    body_hash: str
    body: ExportRequest

    @classmethod
    def of(cls, tenant: str, crm: str, key: str, body: ExportRequest) -> IdempotentExportRequest:
        digest = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        return cls(tenant=tenant, crm=crm, lead_id=body.lead.id, key=key, body_hash=digest, body=body)


class RecordAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    LINKED = "linked"
    UNCHANGED = "unchanged"


class CompanyResult(BaseModel):
    crm_id: str
    url: str | None = None
    action: RecordAction


class PersonResult(BaseModel):
    app_id: str = Field(description="The contact's id in the app, or its e-mail / position when it has none.")
    email: str | None = None
    crm_id: str
    url: str | None = None
    action: RecordAction
    matched_by: str | None = Field(default=None, description="`link`, `email`, `name` or `created`.")
    fields_written: list[str] = Field(default_factory=list)


class FieldSkip(BaseModel):
    field: str
    reason: str
    detail: str = ""


class ExportResult(BaseModel):
    status: str = Field(description="`exported`, or `unchanged` when nothing differed and nothing was written.")
    lead_id: str
    crm: str
    company: CompanyResult
    persons: list[PersonResult] = Field(default_factory=list)
    fields_written: list[str] = Field(default_factory=list, description="Company fields written in this export.")
    fields_skipped: list[FieldSkip] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    match: MatchResult | None = Field(default=None, description="The match decision when candidates were searched.")
    log_entry_id: str
    crm_calls: int = Field(description="CRM API calls this export used.")


def only_connected_crm(connections: Iterable[Connection], tenant: str) -> str:
    """The CRM of the tenant's one active connection (routes without a `crm` parameter use it)."""
    active = sorted({c.crm for c in connections if c.is_active})
    if not active:
        raise ConnectionMissing(
            "No CRM account is connected for this tenant; an admin must connect one before leads can be exported.",
            details={"tenant": tenant},
        )
    if len(active) > 1:
        raise InvalidInput(
            f"Several CRMs are connected ({', '.join(active)}); say which one with the `crm` query parameter.",
            errors=[{"loc": ["query", "crm"], "type": "missing", "message": f"one of {', '.join(active)}"}],
        )
    return active[0]


# --- match --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFields:
    """Which CRM fields hold the company's identifying values, read from the field mapping (any CRM)."""

    name: str | None
    org_nr: str | None
    website: str | None
    email: str | None


def key_fields(settings: SettingsDocument) -> KeyFields:
    def crm_field(app_field: str) -> str | None:
        found = [m for m in settings.field_mappings.company if m.app_fields == [app_field] and m.outbound]
        # A standard field identifies better than a custom copy of the same value (OrgNr over RabitIQ:36).
        found.sort(key=lambda m: m.custom)
        return str(found[0].crm_field) if found else None

    return KeyFields(crm_field("company_name"), crm_field("org_number"), crm_field("website"), crm_field("email"))


def lead_keys(lead: Lead) -> CompanyKeys:
    emails = [e for e in [lead.email, *(c.email for c in lead.contacts)] if e]
    return CompanyKeys(
        name=lead.company_name, org_nr=lead.org_number, websites=[lead.website] if lead.website else [], emails=emails
    )


def candidate_keys(fields: KeyFields, record: CrmRecord) -> CompanyKeys:
    def value(name: str | None) -> str | None:
        raw = record.fields.get(name) if name else None
        return str(raw) if raw not in (None, "") else None

    website, email = value(fields.website), value(fields.email)
    return CompanyKeys(
        name=value(fields.name),
        org_nr=value(fields.org_nr),
        websites=[website] if website else [],
        emails=[email] if email else [],
    )


def search_name(name: str | None) -> str | None:
    """The name without trailing legal forms ("Acme ApS" → "Acme"), so a CRM prefix search finds "Acme A/S" too."""
    if not name or not name.strip():
        return None
    words = name.split()
    while len(words) > 1 and normalise_name(words[-1]) is None:
        words.pop()
    return " ".join(words)


def search_domain(lead: Lead) -> str | None:
    domain = normalise_domain(lead.website)
    if domain:
        return domain
    for email in [lead.email, *(c.email for c in lead.contacts)]:
        host = normalise_domain(email) if email and "@" in email else None
        if host and host not in FREE_MAIL_DOMAINS:
            return host
    return None


def match_company(connector: Connector, settings: SettingsDocument, lead: Lead) -> MatchResult:
    """Candidate CRM companies for the lead, best first, each with why it matched."""
    found = connector.search_companies(
        org_nr=normalise_org_nr(lead.org_number), name=search_name(lead.company_name), domain=search_domain(lead)
    )
    fields = key_fields(settings)
    return rank_candidates(lead_keys(lead), [(r.id, candidate_keys(fields, r), r.url) for r in found])


def match_lead(svc: ExportServices, tenant: str, lead: Lead, *, crm: str | None = None) -> MatchResult:
    svc = one_call(svc)
    crm = crm or svc.active_crm(tenant)
    settings = svc.settings(tenant, crm)
    return match_company(svc.connector(tenant, crm), settings, lead)


# --- values, hashes, phones -------------------------------------------------------------------------------------


def canonical(value: Any) -> str:
    """One text per value, so 81, 81.0 and Decimal("81") compare equal and dates compare by ISO form."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def field_hashes(fields: Mapping[str, Any]) -> dict[str, str]:
    return {name: hashlib.sha256(canonical(v).encode()).hexdigest()[:16] for name, v in fields.items()}


def content_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(field_hashes(fields), sort_keys=True).encode()).hexdigest()


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


def phone_region(lead: Lead, settings: SettingsDocument) -> str | None:
    for raw in (lead.country, lead.location):
        if raw:
            name = map_country(raw, settings.country_mapping)
            if name and name.casefold() in PHONE_REGIONS:
                return PHONE_REGIONS[name.casefold()]
    default = settings.country_mapping.default
    return PHONE_REGIONS.get(default.casefold()) if default else None


def e164(raw: str | None, region: str | None) -> tuple[str | None, bool]:
    """(number in E.164, converted?) — unchanged when it cannot be parsed as a valid number for `region`."""
    if not raw or not raw.strip():
        return raw, False
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw, False
    if not phonenumbers.is_valid_number(number):
        return raw, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


def normalise_phones(lead: Lead, region: str | None) -> tuple[Lead, list[str]]:
    """The lead with its phone numbers in E.164 where they parse for `region`; warnings for those that do not."""
    warnings: list[str] = []

    def fix(label: str, raw: str | None) -> str | None:
        value, ok = e164(raw, region)
        if raw and raw.strip() and not ok:
            warnings.append(
                f"{label}: {raw!r} is not a valid phone number for {region or 'an unknown country'}; sent as given"
            )
        return value

    contacts = [
        c.model_copy(
            update={"phone": fix(f"contacts[{i}].phone", c.phone), "mobile": fix(f"contacts[{i}].mobile", c.mobile)}
        )
        for i, c in enumerate(lead.contacts)
    ]
    return lead.model_copy(update={"phone": fix("phone", lead.phone), "contacts": contacts}), warnings


def prepare_lead(lead: Lead, settings: SettingsDocument) -> tuple[Lead, list[str]]:
    """The lead as export hands it to `plan_lead` (phones in E.164 for its country), with warnings. The settings
    preview calls this too, so what it shows is what an export writes."""
    return normalise_phones(lead, phone_region(lead, settings))


def person_ref(contact: LeadContact, index: int) -> str:
    """A stable key of a lead's contact: its app id, else its e-mail, else its position in the list."""
    raw = contact.id or (contact.email or "").strip().casefold() or f"n{index}"
    return raw.replace("#", "_").replace("~", "_")


def _full_name(fields: Mapping[str, Any], name_parts: Iterable[str]) -> str | None:
    parts = [str(fields.get(k) or "").strip() for k in name_parts]
    return normalise_name(" ".join(p for p in parts if p))


def _crm_calls(connector: Connector) -> int:
    calls = getattr(connector, "calls", None)
    return sum(calls.values()) if isinstance(calls, Mapping) else 0


# --- export -------------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What one export has done so far; becomes the result and the log entries."""

    tenant: str
    crm: str
    lead: Lead
    connector: Connector
    correlation_id: str | None
    calls_before: int
    warnings: list[str]
    match: MatchResult | None = None
    match_log: dict[str, Any] | None = None
    company: CompanyResult | None = None
    company_written: list[str] | None = None
    trigger: Trigger = Trigger.EXPORT

    def calls(self) -> int:
        return _crm_calls(self.connector) - self.calls_before


def export_lead(
    svc: ExportServices,
    tenant: str,
    request: ExportRequest,
    *,
    crm: str | None = None,
    correlation_id: str | None = None,
    trigger: Trigger = Trigger.EXPORT,
    lock: bool = True,
) -> ExportResult:
    """Export one lead to the tenant's CRM. See the module docstring for the flow and the guarantees.

    `lock=False` when the caller already holds the lead's lease (`lead_lease`), e.g. a lead event."""
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
    run = _Run(tenant, crm, lead, connector, correlation_id, _crm_calls(connector), warnings, trigger=trigger)
    fingerprint = input_fingerprint(lead, settings)
    if not lock:
        return _export_current(svc, run, settings, choice, fingerprint)
    # An unchanged lead writes nothing (but its log entry), so it needs no lease: the common re-export is cheap.
    company_link = _company_link(svc, run, choice)
    if company_link and company_link.input_hash == fingerprint:
        return _unchanged(svc, run, company_link, _person_links(svc, run))
    with lead_lease(svc, tenant, crm, lead.id):
        return _export_current(svc, run, settings, choice, fingerprint)


def _company_link(svc: ExportServices, run: _Run, choice: ExportChoice) -> RecordLink | None:
    link = svc.links.get(run.tenant, run.crm, CrmObject.COMPANY, run.lead.id)
    if link and choice.mode is ExportMode.LINK and choice.crm_company_id != link.crm_id:
        return None  # the user re-links the lead to another CRM company
    return link


def _person_links(svc: ExportServices, run: _Run) -> dict[str, RecordLink]:
    return {link.app_id: link for link in svc.links.persons_of(run.tenant, run.crm, run.lead.id)}


def _export_current(
    svc: ExportServices, run: _Run, settings: SettingsDocument, choice: ExportChoice, fingerprint: str
) -> ExportResult:
    """Under the lead's lease: the links as they are now (an export that just finished may have written them)."""
    company_link = _company_link(svc, run, choice)
    person_links = _person_links(svc, run) if company_link else {}
    if company_link and company_link.input_hash == fingerprint:
        return _unchanged(svc, run, company_link, person_links)
    try:
        return _export(svc, run, settings, choice, company_link, person_links, fingerprint)
    except CrmError as exc:
        entry = _log_failure(svc, run, exc)
        exc.details["log_entry_id"] = entry.id
        raise


def _plan(run: _Run, settings: SettingsDocument) -> LeadPlan:
    outbound = [o for o in (CrmObject.COMPANY, CrmObject.PERSON) if settings.objects.for_object(o).direction.outbound]
    metadata: dict[CrmObject, Iterable[FieldInfo]] = {obj: run.connector.fields(obj) for obj in outbound}
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
    run: _Run,
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
    match_how = "created"
    if company_link is not None:
        target: str | None = company_link.crm_id
        match_how = company_link.match or "linked"
        run.match_log = {"decision": "already_linked", "crm_id": target}
    elif choice.mode is ExportMode.LINK:
        assert choice.crm_company_id is not None
        current = _get_company(connector, choice.crm_company_id)
        target, match_how = current.id, "chosen"
        run.match_log = {"decision": "chosen_by_user", "crm_id": target}
    elif choice.mode is ExportMode.CREATE:
        target = None
        run.match_log = {"decision": "create_requested"}
    else:
        run.match = match_company(connector, settings, run.lead)
        target = _auto_decision(svc, run)
        if target is not None:
            current = connector.get(CrmObject.COMPANY, target)
            match_how = "exact_match"

    if target is None:
        created = connector.create(CrmObject.COMPANY, company_fields)
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
        if changed:
            connector.update(CrmObject.COMPANY, target, changed)
        written = list(changed)
        if current is not None:
            action = RecordAction.LINKED
        else:
            action = RecordAction.UPDATED if changed else RecordAction.UNCHANGED
    run.warnings += _connector_skips(connector)
    run.company = CompanyResult(crm_id=target, url=url, action=action)
    run.company_written = written
    # Stored before persons are written: a crash from here on is completed by the retry, never duplicated.
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
    svc.links.save(company_link)

    # --- persons ---
    persons, new_person_links = _upsert_persons(
        svc, run, plan, target, person_links, company_created=action is RecordAction.CREATED, settings=settings
    )

    # --- done: remember the persons and the input, log; in two batched calls ---
    # A crash before this point leaves the company linked without its input hash: the retry writes the company
    # again and finds the persons it created among the company's persons (by e-mail or name), never duplicating them.
    company_link.input_hash = fingerprint
    company_link.synced_at = svc.clock()
    svc.links.save_many([company_link, *new_person_links])
    skipped = _skipped(plan.company)
    run.warnings += [f"{f} was cut to the CRM's length" for f in plan.company.truncated]
    for record in plan.persons:
        run.warnings += [f"person {record.app_id}: {f} was cut to the CRM's length" for f in record.truncated]
    entry = _company_entry(run, action, written, skipped)
    person_entries = [_person_entry(run, p) for p in persons if p.action is not RecordAction.UNCHANGED]
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
        fields_written=written,
        fields_skipped=skipped,
        warnings=run.warnings,
        match=run.match,
        log_entry_id=entry.id,
        crm_calls=entry.crm_calls,
    )


def _get_company(connector: Connector, crm_id: str) -> CrmRecord:
    try:
        return connector.get(CrmObject.COMPANY, crm_id)
    except CrmNotFound:
        raise InvalidInput(
            f"The CRM has no company {crm_id!r} to link to.",
            errors=[{"loc": ["body", "choice", "crm_company_id"], "type": "not_found", "message": "no such company"}],
        ) from None


def _auto_decision(svc: ExportServices, run: _Run) -> str | None:
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
    entry = SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action=Action.SKIP,
        outcome=Outcome.SKIPPED,
        object=CrmObject.COMPANY,
        app_id=run.lead.id,
        match=run.match_log,
        crm_calls=run.calls(),
        correlation_id=run.correlation_id,
    )
    svc.sync_log.write(entry)
    raise Conflict(
        f"{len(result.candidates)} CRM companies possibly match {run.lead.company_name!r} and none exactly; "
        "choose one to link to, or create a new company.",
        details={
            "hint": "Send the export again with choice {mode: 'link', crm_company_id} or {mode: 'create'}.",
            "match": result.model_dump(mode="json"),
            "log_entry_id": entry.id,
        },
    )


def _upsert_persons(
    svc: ExportServices,
    run: _Run,
    plan: LeadPlan,
    company_id: str,
    person_links: dict[str, RecordLink],
    *,
    company_created: bool,
    settings: SettingsDocument,
) -> tuple[list[PersonResult], list[RecordLink]]:
    """Write the lead's persons; returns what happened and the links to store (the caller stores them in one batch
    with the company's)."""
    if not settings.objects.person.direction.outbound:
        return [], []  # persons are not sent: the plan says so in not_sent
    connector = run.connector
    keys = person_key_fields(settings)
    results: list[PersonResult] = []
    links: list[RecordLink] = []
    crm_persons: list[CrmRecord] | None = [] if company_created else None  # read lazily, once
    created_together = _create_persons_together(run, plan, company_id, person_links) if company_created else {}
    taken: set[str] = set()
    for index, (contact, record) in enumerate(zip(run.lead.contacts, plan.persons, strict=True)):
        ref = person_ref(contact, index)
        app_id = person_app_id(run.lead.id, ref)
        fields = record.fields
        hashes = field_hashes(fields)
        link = person_links.get(app_id)
        current: CrmRecord | None = None
        if link is not None and link.crm_id not in taken:
            crm_id, how = link.crm_id, "link"
            changed = {k: v for k, v in fields.items() if link.field_hashes.get(k) != hashes[k]}
        else:
            if crm_persons is None:
                crm_persons = connector.list_persons(company_id)
            current, how = _match_person(crm_persons, fields, taken, keys)
            if current is not None:
                crm_id = current.id
                changed = {k: v for k, v in fields.items() if canonical(current.fields.get(k)) != canonical(v)}
            else:
                created = created_together.get(index) or connector.create(
                    CrmObject.PERSON, fields, parent_id=company_id
                )
                crm_id, how, changed, current = created.id, "created", dict(fields), created
        if changed and how != "created":
            connector.update(CrmObject.PERSON, crm_id, changed)
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
        run.warnings += [f"person {ref}: {w}" for w in _connector_skips(connector)]
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


def _create_persons_together(
    run: _Run, plan: LeadPlan, company_id: str, person_links: dict[str, RecordLink]
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


def _match_person(
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


def _connector_skips(connector: Connector) -> list[str]:
    skipped = list(getattr(connector, "last_skipped", None) or [])
    if skipped:
        connector.last_skipped = []  # type: ignore[attr-defined]  # report each skip once
    return [f"the CRM ignored {name!r}: not available in this account" for name in skipped]


def _skipped(record: MappedRecord) -> list[FieldSkip]:
    return [
        FieldSkip(field=s.crm_field or ", ".join(s.app_fields), reason=s.reason.value, detail=s.detail)
        for s in record.skipped
    ]


def _company_entry(run: _Run, action: RecordAction, written: list[str], skipped: list[FieldSkip]) -> SyncLogEntry:
    assert run.company is not None
    log_action = {
        RecordAction.CREATED: Action.CREATE,
        RecordAction.LINKED: Action.LINK,
        RecordAction.UPDATED: Action.UPDATE,
        RecordAction.UNCHANGED: Action.SKIP,
    }[action]
    return SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action=log_action,
        outcome=Outcome.SKIPPED if log_action is Action.SKIP else Outcome.SUCCESS,
        object=CrmObject.COMPANY,
        app_id=run.lead.id,
        crm_id=run.company.crm_id,
        fields_written=written,
        fields_skipped=[SkippedField(field=s.field, reason=s.reason) for s in skipped],
        match=run.match_log,
        crm_calls=run.calls(),
        correlation_id=run.correlation_id,
    )


def _person_entry(run: _Run, person: PersonResult) -> SyncLogEntry:
    return SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action={RecordAction.CREATED: Action.CREATE, RecordAction.LINKED: Action.LINK}.get(
            person.action, Action.UPDATE
        ),
        outcome=Outcome.SUCCESS,
        object=CrmObject.PERSON,
        app_id=run.lead.id,
        crm_id=person.crm_id,
        fields_written=person.fields_written,
        match={"matched_by": person.matched_by, "person": person.app_id},
        correlation_id=run.correlation_id,
    )


def _log_failure(svc: ExportServices, run: _Run, exc: CrmError) -> SyncLogEntry:
    cause = getattr(exc, "reason", None) or exc.details.get("crm_status")
    entry = SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action=Action.CREATE if run.company is None else Action.UPDATE,
        outcome=Outcome.FAILED,
        object=CrmObject.COMPANY if run.company is None else CrmObject.PERSON,
        app_id=run.lead.id,
        crm_id=run.company.crm_id if run.company else None,
        error=LogError(code=exc.code, message=exc.message, cause=None if cause is None else str(cause)),
        fields_written=run.company_written or [],
        match=run.match_log,
        crm_calls=run.calls(),
        correlation_id=run.correlation_id,
    )
    try:
        svc.sync_log.write(entry)
    except Exception:  # the CRM error is what the caller must see; a log outage must not hide it
        log.warning("could not write the sync log entry of a failed export", exc_info=True)
    if isinstance(exc, NeedsReauth):
        exc.details.setdefault("hint", "An admin must reconnect the CRM account, then export again.")
    return entry


def _unchanged(
    svc: ExportServices, run: _Run, company_link: RecordLink, person_links: dict[str, RecordLink]
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
    entry = _company_entry(run, RecordAction.UNCHANGED, [], [FieldSkip(field="*", reason="unchanged")])
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


# --- sync status --------------------------------------------------------------------------------------------------


class LinkedRecord(BaseModel):
    app_id: str
    crm_id: str
    url: str | None = None


class SyncStatus(BaseModel):
    lead_id: str
    crm: str
    synced: bool
    synced_at: datetime | None = None
    company: LinkedRecord | None = None
    persons: list[LinkedRecord] = Field(default_factory=list)
    last_error: LogError | None = Field(default=None, description="The latest failure, when it is newer than the sync.")
    last_error_at: datetime | None = None
    last_log_entry_id: str | None = None


def sync_status(svc: ExportServices, tenant: str, lead_id: str, *, crm: str | None = None) -> SyncStatus:
    crm = crm or svc.active_crm(tenant)
    company = svc.links.get(tenant, crm, CrmObject.COMPANY, lead_id)
    persons = svc.links.persons_of(tenant, crm, lead_id) if company else []
    latest = svc.sync_log.query(tenant, lead_id=lead_id, limit=10).items
    status = SyncStatus(
        lead_id=lead_id,
        crm=crm,
        synced=bool(company and company.synced_at),
        synced_at=company.synced_at if company else None,
        company=LinkedRecord(app_id=lead_id, crm_id=company.crm_id, url=company.url) if company else None,
        persons=[LinkedRecord(app_id=p.app_id.split("~", 1)[1], crm_id=p.crm_id, url=p.url) for p in persons],
        last_log_entry_id=latest[0].id if latest else None,
    )
    failure = next((e for e in latest if e.outcome is Outcome.FAILED and e.crm == crm), None)
    if failure is not None and (status.synced_at is None or failure.time > status.synced_at):
        status.last_error, status.last_error_at = failure.error, failure.time
    return status
