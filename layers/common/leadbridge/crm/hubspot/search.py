"""Company matching through HubSpot search (reference §3): the searches of one or many leads, a criterion at a time.

Org number and domain: one filter group of one `IN` filter over every lead's value, each lead's candidates then
picked from the rows by its own value. `IN` on a text property compares lower-case values, so the values are sent
lower-case and compared case-insensitively here too; the domain as a bare host (`https://www.Acme.dk/x` → `acme.dk`).
Name: a group per name, its words as `CONTAINS_TOKEN` filters (the last one a prefix, `word*`), kept where the
company's name starts with the searched one (the export searches a name without its legal form, "Acme" for "Acme
ApS", and must find "Acme A/S"), at most 5 groups a request (§3's limits: 5 groups, 6 filters a group, 18 in all).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from leadbridge.crm.hubspot.properties import Properties, Property
from leadbridge.crm.search_many import CompanySearch
from leadbridge.errors import RefusedBeforeWrite

MAX_IN_VALUES = 100  # values per IN filter (HubSpot documents no number; 100 keeps requests small)
GROUPS_PER_SEARCH = 5  # §3: filterGroups per search request
FILTERS_PER_SEARCH = 18  # §3: filters in all groups of a request
NAME_TOKENS_MAX = 3  # words of a name searched as tokens (3 in each of 5 groups stays within §3's 18 filters)
_WORD_EDGES = re.compile(r"^\W+|\W+$")
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

    def filter_groups(
        self, prop: str, searches: Sequence[CompanySearch]
    ) -> list[tuple[dict[str, Any], list[CompanySearch]]]:
        """The filter groups that search `prop` for `searches`, each with the searches it serves. Org number and
        domain: one `IN` group over every search's value. Name: a group per name, its words as tokens
        (`CONTAINS_TOKEN`, the last one a prefix `word*`), since HubSpot compares whole values otherwise and the
        export searches a name without its legal form ("Acme" must find "Acme A/S"); `matches_on` then keeps the
        names that start with it, as Salesforce's `LIKE 'name%'` does."""
        wanting = [s for s in searches if self.wanted(prop, s)]
        if not wanting:
            return []
        if prop != self.name_field:
            values = list(dict.fromkeys(v for v in (self.wanted(prop, s) for s in wanting) if v))
            return [({"filters": [{"propertyName": prop, "operator": "IN", "values": values}]}, wanting)]
        by_name: dict[str, list[CompanySearch]] = {}
        for search in wanting:
            by_name.setdefault(self.wanted(prop, search) or "", []).append(search)
        groups: list[tuple[dict[str, Any], list[CompanySearch]]] = []
        for name, served in by_name.items():
            words = [w for w in (_WORD_EDGES.sub("", w) for w in name.split()) if w][:NAME_TOKENS_MAX]
            if not words:
                continue
            tokens = [*words[:-1], f"{words[-1]}*"]
            filters = [{"propertyName": prop, "operator": "CONTAINS_TOKEN", "value": t} for t in tokens]
            groups.append(({"filters": filters}, served))
        return groups

    def matches_on(self, prop: str, properties: Mapping[str, Any], search: CompanySearch) -> bool:
        wanted = self.wanted(prop, search)
        have = str(properties.get(prop) or "").strip().lower()
        if not wanted or not have:
            return False
        if prop == self.name_field:
            return have.startswith(wanted)
        return (host_of(have) if prop == self.domain_field else have) == wanted

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
