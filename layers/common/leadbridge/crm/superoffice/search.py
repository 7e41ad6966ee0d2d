"""The SuperOffice connector's company search for export matching: one OR-ed archive query where SuperOffice takes it,
else one query per criterion, ranked in the same order either way."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.core import SuperOfficeCore
from leadbridge.errors import CrmRejected
from leadbridge.models.crm import (
    CrmObject,
    CrmRecord,
)

log = logging.getLogger(__name__)

_SEARCH_COLUMNS = ["contactId", "name", "department", "orgnr", "url", "email", "updatedDate"]


# The combined match query asks for this many rows per wanted candidate: fewer back means nothing was cut off.
_COMBINED_TOP_FACTOR = 5


@dataclass(frozen=True)
class _Criteria:
    """What `search_companies` looks for, trimmed; `host` without `www.`."""

    org_nr: str | None
    name: str | None
    host: str | None

    @classmethod
    def of(cls, org_nr: str | None, name: str | None, domain: str | None) -> _Criteria:
        host = domain.strip().lower().removeprefix("www.") if domain and domain.strip() else None
        return cls((org_nr or "").strip() or None, (name or "").strip() or None, host)

    def clauses(self) -> list[str]:
        clauses = []
        if self.org_nr:
            clauses.append(odata.begins("orgnr", self.org_nr))  # `eq` on orgnr is undocumented; exact check in rank
        if self.name:
            clauses.append(odata.begins("name", self.name))
        if self.host:
            clauses += [odata.contains("email", "@" + self.host), odata.contains("url", self.host)]
        return clauses

    def rank(self, row: Mapping[str, Any]) -> int | None:
        """0 org number, 1 name, 2 domain (the per-criterion order); None for a row only an org-number prefix
        matched (another company's longer number)."""
        orgnr = str(row.get("orgnr") or "").strip()
        if self.org_nr and orgnr == self.org_nr:
            return 0
        if self.name and str(row.get("name") or "").casefold().startswith(self.name.casefold()):
            return 1
        if self.host and (
            "@" + self.host in str(row.get("email") or "").casefold()
            or self.host in str(row.get("url") or "").casefold()
        ):
            return 2
        if self.org_nr and orgnr.startswith(self.org_nr):
            return None
        return 3  # the CRM matched it by a rule looser than ours (e.g. accents): let the ranking judge it


class CompanySearch(SuperOfficeCore):
    def search_companies(
        self,
        *,
        org_nr: str | None = None,
        name: str | None = None,
        domain: str | None = None,
        limit: int = 20,
    ) -> list[CrmRecord]:
        """Companies matching any criterion, org-number matches first, then name, then domain; at most `limit`.

        One archive query ORs the criteria (`orgnr begins` compared exactly here, `name begins`, `email contains
        '@host'`, `url contains host`). When that answer may be cut short (it fills `$top`) or the API refuses the
        combined filter (remembered in `metadata_cache`), one query per criterion is run instead, each with its own
        `$top`."""
        wanted = _Criteria.of(org_nr, name, domain)
        if not wanted.clauses():
            return []
        refused_key = (*self._metadata_key(), "or_filter_refused")
        refused = self.metadata_cache is not None and self.metadata_cache.get(refused_key, lambda: False)
        if len(wanted.clauses()) > 1 and not refused:
            top = limit * _COMBINED_TOP_FACTOR
            try:
                rows = self._archive_rows(
                    "Contact", "contact.search", select=_SEARCH_COLUMNS, filter=" or ".join(wanted.clauses()), top=top
                )
            except CrmRejected:
                # `or` is valid OData but has no SuperOffice doc example: remember a refusal (for the cache's TTL).
                if self.metadata_cache is not None:
                    self.metadata_cache.put(refused_key, True)
                log.info("superoffice refused an OR-ed archive filter; searching one criterion at a time")
            else:
                if len(rows) < top:
                    return self._ranked_companies(wanted, rows, limit)
        return self._search_each(wanted, limit)

    def _ranked_companies(self, wanted: _Criteria, rows: list[dict[str, Any]], limit: int) -> list[CrmRecord]:
        """Rows of the combined query in the order the per-criterion queries would have found them."""
        ranked: list[tuple[int, int, dict[str, Any]]] = []
        for position, row in enumerate(rows):
            rank = wanted.rank(row)
            if rank is not None:
                ranked.append((rank, position, row))
        found: dict[str, CrmRecord] = {}
        for _rank, _position, row in sorted(ranked, key=lambda r: (r[0], r[1])):
            record = self._company_from_row(row)
            if record and record.id not in found and len(found) < limit:
                found[record.id] = record
        return list(found.values())

    def _search_each(self, wanted: _Criteria, limit: int) -> list[CrmRecord]:
        found: dict[str, CrmRecord] = {}
        select = _SEARCH_COLUMNS

        def add(rows: list[dict[str, Any]]) -> None:
            for row in rows:
                record = self._company_from_row(row)
                if record and record.id not in found and len(found) < limit:
                    found[record.id] = record

        if wanted.org_nr:
            org = wanted.org_nr
            try:
                add(
                    self._archive_rows(
                        "Contact", "contact.search", select=select, filter=odata.eq("orgnr", org), top=limit
                    )
                )
            except CrmRejected:
                # `eq` on orgnr is not documented; the documented string operator is `begins`: compare exactly here.
                rows = self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.begins("orgnr", org), top=limit * 5
                )
                add([r for r in rows if str(r.get("orgnr") or "").strip() == org])
        if wanted.name:
            add(
                self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.begins("name", wanted.name), top=limit
                )
            )
        if wanted.host:
            host = wanted.host
            add(
                self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.contains("email", "@" + host), top=limit
                )
            )
            add(
                self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.contains("url", host), top=limit
                )
            )
        return list(found.values())

    def _company_from_row(self, row: Mapping[str, Any]) -> CrmRecord | None:
        company_id = row.get("contactId")
        if company_id in (None, ""):
            return None
        return CrmRecord(
            object=CrmObject.COMPANY,
            id=str(company_id),
            fields={
                "Name": row.get("name"),
                "Department": row.get("department") or None,
                "OrgNr": row.get("orgnr") or None,
                # Website and e-mail let export matching explain a domain match without reading each candidate.
                "Url": row.get("url") or None,
                "Email": row.get("email") or None,
            },
            url=self.record_url(CrmObject.COMPANY, str(company_id)),
        )
