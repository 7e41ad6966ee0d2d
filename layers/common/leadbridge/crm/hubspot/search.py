"""Company matching through HubSpot search (reference §3): the searches of one or many leads in one request.

Each criterion is one filter group of one `IN` filter over every lead's value (groups are ORed, so a request has at
most 3 groups of 1 filter, well within the limits of 5 groups, 6 filters a group, 18 in all), each lead's candidates
then picked from the rows by its own values. `IN` on a text property compares lower-case values, so the values are
sent lower-case and compared case-insensitively here too. Matching is exact: the org number and the name as given
(case-insensitive), the domain as a bare host (`https://www.Acme.dk/x` → `acme.dk`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from leadbridge.crm.hubspot.properties import Properties, Property
from leadbridge.crm.search_many import CompanySearch
from leadbridge.errors import RefusedBeforeWrite

MAX_IN_VALUES = 100  # values per IN filter (HubSpot documents no number; 100 keeps requests small)
TEXT_TYPES = ("string", "phone_number", "enumeration")


def host_of(domain: str) -> str:
    """A domain, URL or e-mail address as its lower-case host without `www.`."""
    text = domain.strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    host = urlsplit(text if "//" in text else f"//{text}").hostname or text
    return host.removeprefix("www.")


@dataclass(frozen=True)
class CompanySearchPlan:
    nr_field: str | None  # no standard org-number property: None unless the settings name one
    domain_field: str
    name_field: str = "name"

    @classmethod
    def of(cls, props: Properties, org_nr_field: str | None, domain_field: str | None) -> CompanySearchPlan:
        nr = _searched(props, org_nr_field, "org_nr_field")
        domain = _searched(props, domain_field, "domain_field") if domain_field else "domain"
        return cls(nr, domain or "domain")

    @property
    def properties(self) -> list[str]:
        return list(dict.fromkeys(p for p in (self.name_field, self.domain_field, self.nr_field) if p))

    def criteria(self) -> list[str]:
        """The properties searched, strongest first (the order candidates are listed in): org number, domain, name."""
        return [p for p in (self.nr_field, self.domain_field, self.name_field) if p]

    def wanted(self, prop: str, search: CompanySearch) -> str | None:
        """The value `search` looks for in `prop`, as compared (lower case; a domain as its host); None: none."""
        raw = {self.nr_field: search.org_nr, self.domain_field: search.domain, self.name_field: search.name}.get(prop)
        if not raw or not raw.strip():
            return None
        return host_of(raw) if prop == self.domain_field else raw.strip().lower()

    def filter_group(self, prop: str, searches: Sequence[CompanySearch]) -> dict[str, Any] | None:
        """One criterion's group: `IN` over the searches' values; None when none of them gives one."""
        values = list(dict.fromkeys(v for v in (self.wanted(prop, s) for s in searches) if v))
        return {"filters": [{"propertyName": prop, "operator": "IN", "values": values}]} if values else None

    def matches_on(self, prop: str, properties: Mapping[str, Any], search: CompanySearch) -> bool:
        wanted = self.wanted(prop, search)
        have = str(properties.get(prop) or "").strip().lower()
        return bool(wanted and have and (host_of(have) if prop == self.domain_field else have) == wanted)

    def matches(self, properties: Mapping[str, Any], search: CompanySearch) -> bool:
        return any(self.matches_on(prop, properties, search) for prop in self.criteria())

    def searches_anything(self, search: CompanySearch) -> bool:
        return bool((search.org_nr and search.org_nr.strip() and self.nr_field) or (search.name and search.name.strip())
                    or (search.domain and search.domain.strip()))  # fmt: skip


def _searched(props: Properties, chosen: str | None, key: str) -> str | None:
    if chosen is None:
        return None
    prop: Property | None = props.get(chosen)
    if prop is None or prop.type not in TEXT_TYPES:
        why = (f"companies have no property {chosen!r}" if prop is None
               else f"companies.{chosen} ({prop.type}) cannot be searched as text")  # fmt: skip
        raise RefusedBeforeWrite(
            f"The settings' matching.{key} cannot be searched, so nothing was written: {why}. An admin can choose "
            "another property in the integration settings.",
            errors=[{"loc": ["settings", "matching", key], "type": "unsearchable_field", "message": why}],
        )
    return prop.name
