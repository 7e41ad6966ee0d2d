"""Company matching for export: which CRM fields hold a company's identifying values (the settings' `matching`, else
the field mapping), the lead's and each candidate's keys, the CRM search, and `match_lead` behind the match route.
Ranking the candidates is `matching.py`'s job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leadbridge.crm.base import Connector
from leadbridge.crm.search_many import CompanySearch
from leadbridge.errors import RefusedBeforeWrite
from leadbridge.export.matching import (
    FREE_MAIL_DOMAINS,
    CompanyKeys,
    MatchResult,
    normalise_domain,
    normalise_name,
    normalise_org_nr,
    rank_candidates,
)
from leadbridge.export.ports import ExportServices, one_call
from leadbridge.models.crm import CrmRecord
from leadbridge.models.lead import Lead
from leadbridge.models.settings import SettingsDocument


@dataclass(frozen=True)
class KeyFields:
    """Which CRM fields hold the company's identifying values (any CRM): the org number and the web address as the
    settings' `matching` names them, else (like the name and e-mail) the field the company mapping writes to."""

    name: str | None
    org_nr: str | None
    website: str | None
    email: str | None


FieldSource = Literal["settings", "field_mapping", "crm_default"]


def _mapped_field(settings: SettingsDocument, app_field: str) -> str | None:
    found = [m for m in settings.field_mappings.company if m.app_fields == [app_field] and m.outbound]
    # A standard field identifies better than a custom copy of the same value (OrgNr over RabitIQ:36).
    found.sort(key=lambda m: m.custom)
    return str(found[0].crm_field) if found else None


def key_fields(settings: SettingsDocument) -> KeyFields:
    matching = settings.matching
    return KeyFields(
        _mapped_field(settings, "company_name"),
        matching.org_nr_field or _mapped_field(settings, "org_number"),
        matching.domain_field or _mapped_field(settings, "website"),
        _mapped_field(settings, "email"),
    )


def field_source(settings: SettingsDocument, key: Literal["org_nr_field", "domain_field"]) -> FieldSource:
    """Where the field searched for `key` comes from: the settings, the field mapping, or the connector's default."""
    if getattr(settings.matching, key) is not None:
        return "settings"
    app_field = "org_number" if key == "org_nr_field" else "website"
    return "field_mapping" if _mapped_field(settings, app_field) else "crm_default"


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


def search_candidates(
    connector: Connector, settings: SettingsDocument, lead: Lead, fields: KeyFields
) -> list[CrmRecord]:
    """The CRM's candidates, searched in the fields `key_fields` names. A field the settings' `matching` names that
    the CRM cannot search is the connector's 422; one only the field mapping names (a custom field not created yet,
    a number field) gives way to the connector's standard field."""

    first = lead_search(settings, lead)

    def search(org_nr_field: str | None, domain_field: str | None) -> list[CrmRecord]:
        return connector.search_companies(org_nr=first.org_nr, name=first.name, domain=first.domain,
                                          org_nr_field=org_nr_field, domain_field=domain_field)  # fmt: skip

    explicit = settings.matching
    try:
        return search(fields.org_nr, fields.website)
    except RefusedBeforeWrite:
        if (fields.org_nr, fields.website) == (explicit.org_nr_field, explicit.domain_field):
            raise
        return search(explicit.org_nr_field, explicit.domain_field)


def lead_search(settings: SettingsDocument, lead: Lead) -> CompanySearch:
    """The search `search_candidates` makes first for the lead (a bulk export makes those of many leads at once)."""
    fields = key_fields(settings)
    return CompanySearch(
        org_nr=normalise_org_nr(lead.org_number),
        name=search_name(lead.company_name),
        domain=search_domain(lead),
        org_nr_field=fields.org_nr,
        domain_field=fields.website,
    )


def match_company(
    connector: Connector, settings: SettingsDocument, lead: Lead, found: list[CrmRecord] | None = None
) -> MatchResult:
    """Candidate CRM companies for the lead, best first, each with why it matched. `found`: the CRM's candidates
    when they were searched already (a bulk export's window)."""
    fields = key_fields(settings)
    if found is None:
        found = search_candidates(connector, settings, lead, fields)
    return rank_candidates(lead_keys(lead), [(r.id, candidate_keys(fields, r), r.url) for r in found])


def match_lead(svc: ExportServices, tenant: str, lead: Lead, *, crm: str | None = None) -> MatchResult:
    svc = one_call(svc)
    crm = crm or svc.active_crm(tenant)
    settings = svc.settings(tenant, crm)
    return match_company(svc.connector(tenant, crm), settings, lead)
