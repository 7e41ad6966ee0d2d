"""Company search for matching (export): which fields of the company object are searched (the settings' `matching`,
checked against the describe), the SOQL conditions of one lead's search, and the same conditions in Python, so one
query can serve the searches of many leads (`SalesforceConnector.search_companies_many`) and each lead gets the rows
its own search would have found. SOQL compares text case-insensitively; so does `matches`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadbridge.crm.salesforce.describe import Describe, SfField
from leadbridge.crm.salesforce.soql import soql_like, soql_string
from leadbridge.errors import RefusedBeforeWrite

MAX_SEARCH_ROWS = 2000  # one query page (the most a batched search reads)
_TEXT_TYPES = {"string", "combobox", "email", "phone", "url"}


@dataclass(frozen=True)
class CompanySearchPlan:
    """The fields a company search reads and filters (names from the describe)."""

    name_field: str
    nr_field: SfField | None
    site_field: SfField | None
    email_field: SfField | None
    select: list[str]

    @classmethod
    def of(cls, describe: Describe, org_nr_field: str | None, domain_field: str | None, *, lead_mode: bool) -> (
            CompanySearchPlan):  # fmt: skip
        """`org_nr_field`/`domain_field` (the settings' `matching`): None searches `AccountNumber` on Account (a Lead
        has no standard org-number field, so none) and `Website`; a named field must be in the describe and
        filterable as text, else 422 naming `matching.<key>` before any query. An e-mail field matches the host after
        `@`; Lead's `Email` is searched for the domain too."""
        name_field = "Company" if lead_mode else "Name"
        nr_field = _searched(describe, org_nr_field, "org_nr_field", None if lead_mode else "AccountNumber")
        site_field = _searched(describe, domain_field, "domain_field", "Website")
        email_field = describe.field("Email")
        wanted = ["Id", name_field, "Website", "Phone", "Email", *(f.name for f in (nr_field, site_field) if f),
                  "SystemModstamp"]  # fmt: skip
        select = [f for f in dict.fromkeys(wanted) if describe.field(f)]
        return cls(name_field, nr_field, site_field, email_field, select)

    def _domain_fields(self) -> list[SfField]:
        return list(dict.fromkeys(f for f in (self.site_field, self.email_field) if f))

    def conditions(self, org_nr: str | None, name: str | None, domain: str | None) -> list[str]:
        """The SOQL conditions of one search (OR-ed); none when it has nothing to search by."""
        where: list[str] = []
        if org_nr and org_nr.strip() and self.nr_field:
            where.append(f"{self.nr_field.name} = {soql_string(org_nr.strip())}")
        if name and name.strip():
            where.append(f"{self.name_field} LIKE '{soql_like(name.strip())}%'")
        if domain and domain.strip():
            host = soql_like(domain.strip().lower().removeprefix("www."))
            for field in self._domain_fields():
                pattern = f"%@{host}" if field.type == "email" else f"%{host}%"
                where.append(f"{field.name} LIKE '{pattern}'")
        return where

    def matches(self, row: Mapping[str, Any], org_nr: str | None, name: str | None, domain: str | None) -> bool:
        """Whether `conditions(org_nr, name, domain)` hold for the row."""

        def text(field: str) -> str:
            return str(row.get(field) or "").casefold()

        if org_nr and org_nr.strip() and self.nr_field and text(self.nr_field.name) == org_nr.strip().casefold():
            return True
        if name and name.strip() and text(self.name_field).startswith(name.strip().casefold()):
            return True
        if domain and domain.strip():
            host = domain.strip().lower().removeprefix("www.").casefold()
            for field in self._domain_fields():
                value = text(field.name)
                if (value.endswith(f"@{host}") if field.type == "email" else host in value) and value:
                    return True
        return False


def _searched(describe: Describe, chosen: str | None, key: str, default: str | None) -> SfField | None:
    if chosen is None:
        return describe.field(default) if default else None
    field = describe.field(chosen)
    # SOQL filters text with = / LIKE; a long text area is not filterable (describe `filterable: false`).
    searchable = field is not None and (field.type in _TEXT_TYPES or (field.type == "textarea" and field.length <= 255))
    if field is None or not searchable:
        why = (f"{describe.name} has no field {chosen!r}" if field is None
               else f"{describe.name}.{field.name} ({field.type}) cannot be searched as text")  # fmt: skip
        raise RefusedBeforeWrite(
            f"The settings' matching.{key} cannot be searched, so nothing was written: {why}. An admin can choose "
            "another field in the integration settings.",
            errors=[{"loc": ["settings", "matching", key], "type": "unsearchable_field", "message": why}],
        )
    return field
