"""The SuperOffice connector's company search for export matching: one OR-ed archive query where SuperOffice takes it,
else one query per criterion, ranked in the same order either way.

The fields searched (the settings' `matching`) become Contact archive columns: the standard text fields that have one
(`OrgNr` → `orgnr`, `Number1` → `code`, `Number2` → `number`, `Url` → `url`, `Email` → `email`) and published text
user-defined fields (`contactUdef/<progId>`). Extra fields (`x_...`) are not archive columns, so they cannot be
searched: such a setting is refused (422 naming `matching.<key>`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadbridge.crm.superoffice import odata
from leadbridge.crm.superoffice.core import SuperOfficeCore
from leadbridge.errors import CrmRejected, RefusedBeforeWrite
from leadbridge.models.crm import (
    CrmObject,
    CrmRecord,
    FieldType,
)

log = logging.getLogger(__name__)

_SEARCH_COLUMNS = ["contactId", "name", "department", "orgnr", "url", "email", "updatedDate"]
# Standard company fields that can be searched, by the Contact archive column holding them.
_STANDARD_COLUMNS = {"OrgNr": "orgnr", "Number1": "code", "Number2": "number", "Url": "url", "Email": "email"}
_SEARCHABLE_TYPES = {FieldType.STRING, FieldType.URL, FieldType.EMAIL, FieldType.PHONE}


# The combined match query asks for this many rows per wanted candidate: fewer back means nothing was cut off.
_COMBINED_TOP_FACTOR = 5


@dataclass(frozen=True)
class _Criteria:
    """What `search_companies` looks for, trimmed; `host` without `www.`."""

    org_nr: str | None
    name: str | None
    host: str | None
    columns: _Columns

    @classmethod
    def of(cls, org_nr: str | None, name: str | None, domain: str | None, columns: _Columns) -> _Criteria:
        host = domain.strip().lower().removeprefix("www.") if domain and domain.strip() else None
        return cls((org_nr or "").strip() or None, (name or "").strip() or None, host, columns)

    def domain_clauses(self) -> list[str]:
        """The company's e-mail address holds the domain after `@`; the web-address column anywhere."""
        if not self.host:
            return []
        return [odata.contains("email", "@" + self.host)] + [
            odata.contains(c, self.host) for c in [self.columns.site] if c != "email"
        ]

    def clauses(self) -> list[str]:
        clauses = []
        if self.org_nr:  # `eq` on orgnr is undocumented; exact check in rank
            clauses.append(odata.begins(self.columns.org_nr, self.org_nr))
        if self.name:
            clauses.append(odata.begins("name", self.name))
        return clauses + self.domain_clauses()

    def rank(self, row: Mapping[str, Any]) -> int | None:
        """0 org number, 1 name, 2 domain (the per-criterion order); None for a row only an org-number prefix
        matched (another company's longer number)."""
        orgnr = str(row.get(self.columns.org_nr) or "").strip()
        if self.org_nr and orgnr == self.org_nr:
            return 0
        if self.name and str(row.get("name") or "").casefold().startswith(self.name.casefold()):
            return 1
        if self.host and (
            "@" + self.host in str(row.get("email") or "").casefold()
            or self.host in str(row.get(self.columns.site) or "").casefold()
        ):
            return 2
        if self.org_nr and orgnr.startswith(self.org_nr):
            return None
        return 3  # the CRM matched it by a rule looser than ours (e.g. accents): let the ranking judge it


@dataclass(frozen=True)
class _Columns:
    """The archive columns searched for the org number and the web address, and the settings' field names whose
    values the found records carry (a user-defined field by its prog id)."""

    org_nr: str = "orgnr"
    site: str = "url"
    extra: tuple[tuple[str, str], ...] = ()  # (record field name, column) of searched user-defined fields

    @property
    def select(self) -> list[str]:
        return list(dict.fromkeys([*_SEARCH_COLUMNS, self.org_nr, self.site]))


class CompanySearch(SuperOfficeCore):
    def search_companies(
        self,
        *,
        org_nr: str | None = None,
        name: str | None = None,
        domain: str | None = None,
        limit: int = 20,
        org_nr_field: str | None = None,
        domain_field: str | None = None,
    ) -> list[CrmRecord]:
        """Companies matching any criterion, org-number matches first, then name, then domain; at most `limit`.

        One archive query ORs the criteria (org number `begins` compared exactly here, `name begins`, `email contains
        '@host'`, web address `contains host`). When that answer may be cut short (it fills `$top`) or the API refuses
        the combined filter (remembered in `metadata_cache`), one query per criterion is run instead, each with its
        own `$top`. `org_nr_field`/`domain_field`: see the module docstring; None: `OrgNr`, `Url`."""
        wanted = _Criteria.of(org_nr, name, domain, self._search_columns(org_nr_field, domain_field))
        if not wanted.clauses():
            return []
        refused_key = (*self._metadata_key(), "or_filter_refused")
        refused = self.metadata_cache is not None and self.metadata_cache.get(refused_key, lambda: False)
        if len(wanted.clauses()) > 1 and not refused:
            top = limit * _COMBINED_TOP_FACTOR
            try:
                rows = self._archive_rows(
                    "Contact",
                    "contact.search",
                    select=wanted.columns.select,
                    filter=" or ".join(wanted.clauses()),
                    top=top,
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

    def _search_columns(self, org_nr_field: str | None, domain_field: str | None) -> _Columns:
        """The archive columns for the settings' `matching` fields, or 422 naming `matching.<key>`. User-defined
        fields are looked up (one cached read) only when one is named."""
        chosen: dict[str, str] = {}
        extra: list[tuple[str, str]] = []
        for key, name, default in (("org_nr_field", org_nr_field, "orgnr"), ("domain_field", domain_field, "url")):
            if name is None or name in _STANDARD_COLUMNS:
                chosen[key] = _STANDARD_COLUMNS.get(name or "", default)
                continue
            meta = self.custom_fields(CrmObject.COMPANY).get(name)
            if meta is None or name.startswith("x_") or meta.type not in _SEARCHABLE_TYPES:
                why = (
                    f"SuperOffice has no company field {name!r} that can be searched"
                    if meta is None
                    else f"{name!r} is an extra field, which the SuperOffice archive cannot search"
                    if name.startswith("x_")
                    else f"{name!r} holds {meta.type.value} values, which cannot be searched as text"
                )
                raise RefusedBeforeWrite(
                    f"The settings' matching.{key} cannot be searched, so nothing was written: {why}. Choose one of "
                    f"{', '.join(_STANDARD_COLUMNS)} or a text user-defined field.",
                    errors=[{"loc": ["settings", "matching", key], "type": "unsearchable_field", "message": why}],
                )
            chosen[key] = f"contactUdef/{name}"
            extra.append((name, chosen[key]))
        return _Columns(org_nr=chosen["org_nr_field"], site=chosen["domain_field"], extra=tuple(extra))

    def _ranked_companies(self, wanted: _Criteria, rows: list[dict[str, Any]], limit: int) -> list[CrmRecord]:
        """Rows of the combined query in the order the per-criterion queries would have found them."""
        ranked: list[tuple[int, int, dict[str, Any]]] = []
        for position, row in enumerate(rows):
            rank = wanted.rank(row)
            if rank is not None:
                ranked.append((rank, position, row))
        found: dict[str, CrmRecord] = {}
        for _rank, _position, row in sorted(ranked, key=lambda r: (r[0], r[1])):
            record = self._company_from_row(row, wanted.columns)
            if record and record.id not in found and len(found) < limit:
                found[record.id] = record
        return list(found.values())

    def _search_each(self, wanted: _Criteria, limit: int) -> list[CrmRecord]:
        found: dict[str, CrmRecord] = {}
        select = wanted.columns.select
        org_column = wanted.columns.org_nr

        def add(rows: list[dict[str, Any]]) -> None:
            for row in rows:
                record = self._company_from_row(row, wanted.columns)
                if record and record.id not in found and len(found) < limit:
                    found[record.id] = record

        if wanted.org_nr:
            org = wanted.org_nr
            try:
                add(
                    self._archive_rows(
                        "Contact", "contact.search", select=select, filter=odata.eq(org_column, org), top=limit
                    )
                )
            except CrmRejected:
                # `eq` on orgnr is not documented; the documented string operator is `begins`: compare exactly here.
                rows = self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.begins(org_column, org), top=limit * 5
                )
                add([r for r in rows if str(r.get(org_column) or "").strip() == org])
        if wanted.name:
            add(
                self._archive_rows(
                    "Contact", "contact.search", select=select, filter=odata.begins("name", wanted.name), top=limit
                )
            )
        for clause in wanted.domain_clauses():
            add(self._archive_rows("Contact", "contact.search", select=select, filter=clause, top=limit))
        return list(found.values())

    def _company_from_row(self, row: Mapping[str, Any], columns: _Columns) -> CrmRecord | None:
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
                # The searched user-defined fields, so the ranking compares their values.
                **{name: row.get(column) or None for name, column in columns.extra},
            },
            url=self.record_url(CrmObject.COMPANY, str(company_id)),
        )
