"""Company matching for single-lead export: explainable, CRM-agnostic.

The export extracts `CompanyKeys` from the lead and from each CRM candidate (through the field mapping, so it works
for any CRM), and `rank_candidates` scores them. Verdicts:
- `exact`: org number equal, or normalised name and website domain both equal with no conflicting org number;
- `possible`: a weaker signal (name only, domain only, a contact's e-mail domain, a close name);
- `none`: no candidate at all.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

# Legal-form suffixes that say nothing about identity ("Acme ApS" is "Acme A/S" after a conversion).
_LEGAL_FORMS = {
    "as", "a/s", "aps", "ivs", "is", "i/s", "ks", "k/s", "ps", "p/s", "amba", "a.m.b.a", "smba", "fmba",
    "ab", "oy", "oyj", "asa", "gmbh", "ag", "kg", "ug", "ohg", "ev", "bv", "nv", "vof", "sa", "sas", "sarl", "srl",
    "spa", "sl", "ltd", "limited", "plc", "llp", "llc", "inc", "incorporated", "corp", "corporation", "co", "company",
}
_TRANSLITERATE = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "ß": "ss", "þ": "th", "ð": "d", "œ": "oe"})
# Consumer mailbox providers: a contact's address there says nothing about the employer.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "hotmail.com", "hotmail.dk", "outlook.com", "outlook.dk", "live.com", "live.dk",
        "msn.com", "yahoo.com", "yahoo.dk", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
        "protonmail.com", "gmx.com", "gmx.de", "web.de", "mail.dk", "jubii.dk", "ofir.dk", "sol.dk", "get2net.dk",
        "tdcadsl.dk", "yandex.com", "zoho.com",
    }
)
CLOSE_NAME_RATIO = 0.88


class MatchVerdict(StrEnum):
    EXACT = "exact"
    POSSIBLE = "possible"
    NONE = "none"


class MatchReason(StrEnum):
    ORG_NUMBER = "org_number"
    NAME = "name"
    CLOSE_NAME = "close_name"
    DOMAIN = "domain"
    EMAIL_DOMAIN = "email_domain"
    ORG_NUMBER_CONFLICT = "org_number_conflict"


class CompanyKeys(BaseModel):
    """What identifies a company, from either side. Raw values: normalisation happens here."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str | None = None
    org_nr: str | None = None
    websites: list[str] = Field(default_factory=list)  # URLs or bare domains
    emails: list[str] = Field(default_factory=list)  # company and contact e-mail addresses


class Candidate(BaseModel):
    model_config = ConfigDict(defer_build=True)

    crm_id: str
    name: str | None
    confidence: float
    verdict: MatchVerdict
    reasons: list[MatchReason]
    explanation: str
    url: str | None = None


class MatchResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    verdict: MatchVerdict
    candidates: list[Candidate]


def normalise_org_nr(value: str | None) -> str | None:
    """Digits and letters only, upper-case, without a leading two-letter country prefix (DK12345678 → 12345678)."""
    if not value:
        return None
    compact = re.sub(r"[^0-9A-Za-z]", "", value).upper()
    if len(compact) > 2 and compact[:2].isalpha() and compact[2:].isdigit():
        compact = compact[2:]
    return compact or None


def normalise_name(value: str | None) -> str | None:
    """Case-folded, accents and Nordic letters transliterated, punctuation dropped, legal forms removed."""
    if not value:
        return None
    text = value.casefold().translate(_TRANSLITERATE)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("&", " and ")
    # Keep "/" and "." inside tokens long enough to recognise "a/s" and "a.m.b.a" as legal forms.
    tokens = [t for t in re.split(r"[\s,;()\-]+", text) if t]
    while tokens and tokens[-1].strip(".") in _LEGAL_FORMS:
        tokens.pop()
    words = [re.sub(r"[^0-9a-z]", "", t) for t in tokens]
    joined = " ".join(w for w in words if w)
    return joined or None


def normalise_domain(value: str | None) -> str | None:
    """Registrable-looking host of a URL, bare domain or e-mail address: lower-case, no scheme, port, path or www."""
    if not value:
        return None
    text = value.strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    if "//" not in text:
        text = "//" + text
    host = urlsplit(text).hostname or ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if "." in host else None


def _email_domains(emails: list[str]) -> set[str]:
    domains = {normalise_domain(e) for e in emails if "@" in e}
    return {d for d in domains if d and d not in FREE_MAIL_DOMAINS}


def score(lead: CompanyKeys, candidate: CompanyKeys) -> tuple[MatchVerdict, float, list[MatchReason]]:
    """Score one candidate against the lead. Pure, deterministic."""
    reasons: list[MatchReason] = []
    lead_org, cand_org = normalise_org_nr(lead.org_nr), normalise_org_nr(candidate.org_nr)
    lead_name, cand_name = normalise_name(lead.name), normalise_name(candidate.name)
    lead_domains = {d for d in (normalise_domain(w) for w in lead.websites) if d}
    cand_domains = {d for d in (normalise_domain(w) for w in candidate.websites) if d}
    cand_domains |= _email_domains(candidate.emails)

    if lead_org and cand_org:
        if lead_org == cand_org:
            return MatchVerdict.EXACT, 1.0, [MatchReason.ORG_NUMBER]
        reasons.append(MatchReason.ORG_NUMBER_CONFLICT)

    same_name = bool(lead_name and cand_name and lead_name == cand_name)
    close_name = (
        not same_name
        and lead_name is not None
        and cand_name is not None
        and SequenceMatcher(None, lead_name, cand_name).ratio() >= CLOSE_NAME_RATIO
    )
    same_domain = bool(lead_domains & cand_domains)
    same_email_domain = not same_domain and bool(_email_domains(lead.emails) & cand_domains)

    if same_name:
        reasons.append(MatchReason.NAME)
    if close_name:
        reasons.append(MatchReason.CLOSE_NAME)
    if same_domain:
        reasons.append(MatchReason.DOMAIN)
    if same_email_domain:
        reasons.append(MatchReason.EMAIL_DOMAIN)

    conflict = MatchReason.ORG_NUMBER_CONFLICT in reasons
    if same_name and same_domain and not conflict:
        return MatchVerdict.EXACT, 0.95, reasons
    confidence = 0.0
    if same_name:
        confidence = max(confidence, 0.7)
    if same_domain:
        confidence = max(confidence, 0.65 if not same_name else 0.8)
    if same_email_domain:
        confidence = max(confidence, 0.5)
    if close_name:
        confidence = max(confidence, 0.45)
    if conflict:
        confidence = min(confidence, 0.3)
    if confidence == 0.0:
        return MatchVerdict.NONE, 0.0, reasons
    return MatchVerdict.POSSIBLE, confidence, reasons


_EXPLAIN = {
    MatchReason.ORG_NUMBER: "same org number",
    MatchReason.NAME: "same company name",
    MatchReason.CLOSE_NAME: "similar company name",
    MatchReason.DOMAIN: "same website domain",
    MatchReason.EMAIL_DOMAIN: "a contact's e-mail domain matches the company's domain",
    MatchReason.ORG_NUMBER_CONFLICT: "org numbers differ",
}


def rank_candidates(
    lead: CompanyKeys, candidates: list[tuple[str, CompanyKeys, str | None]]
) -> MatchResult:
    """Rank CRM candidates `(crm_id, keys, deep link)` best first; drop those with no signal at all."""
    ranked: list[Candidate] = []
    for crm_id, keys, url in candidates:
        verdict, confidence, reasons = score(lead, keys)
        if verdict is MatchVerdict.NONE:
            continue
        ranked.append(
            Candidate(
                crm_id=crm_id,
                name=keys.name,
                confidence=confidence,
                verdict=verdict,
                reasons=reasons,
                explanation="; ".join(_EXPLAIN[r] for r in reasons),
                url=url,
            )
        )
    ranked.sort(key=lambda c: (-c.confidence, c.name or "", c.crm_id))
    if any(c.verdict is MatchVerdict.EXACT for c in ranked):
        overall = MatchVerdict.EXACT
    elif ranked:
        overall = MatchVerdict.POSSIBLE
    else:
        overall = MatchVerdict.NONE
    return MatchResult(verdict=overall, candidates=ranked)
