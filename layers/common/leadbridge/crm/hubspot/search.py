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

    def filter_groups(self, searches: Sequence[CompanySearch]) -> list[dict[str, Any]]:
        """One group per criterion any search gives: `IN` over the searches' values."""
        wanted = {
            self.nr_field: [s.org_nr.strip().lower() for s in searches if s.org_nr and s.org_nr.strip()]
            if self.nr_field else [],
            self.name_field: [s.name.strip().lower() for s in searches if s.name and s.name.strip()],
            self.domain_field: [host_of(s.domain) for s in searches if s.domain and s.domain.strip()],
        }  # fmt: skip
        return [
            {"filters": [{"propertyName": prop, "operator": "IN", "values": list(dict.fromkeys(values))}]}
            for prop, values in wanted.items()
            if prop and values
        ]

    def matches(self, properties: Mapping[str, Any], search: CompanySearch) -> bool:
        def text(name: str | None) -> str:
            return str(properties.get(name) or "").strip().lower() if name else ""

        if search.org_nr and search.org_nr.strip() and text(self.nr_field) == search.org_nr.strip().lower():
            return True
        if search.name and search.name.strip() and text(self.name_field) == search.name.strip().lower():
            return True
        return bool(search.domain and search.domain.strip() and text(self.domain_field)
                    and text(self.domain_field) == host_of(search.domain))  # fmt: skip

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
