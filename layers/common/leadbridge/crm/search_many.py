"""Optional connector capability: search the companies of many leads in one request (a bulk export's window).

The export matches each lead with `Connector.search_companies`; a bulk export asks first, for a window of leads, with
`search_companies_many` where the connector has it, and each lead's match then reads its own answer (no request per
lead). A connector without it is asked per lead, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from leadbridge.models.crm import CrmRecord


@dataclass(frozen=True)
class CompanySearch:
    """One lead's `search_companies` arguments."""

    org_nr: str | None = None
    name: str | None = None
    domain: str | None = None
    limit: int = 20
    org_nr_field: str | None = None
    domain_field: str | None = None


@runtime_checkable
class SupportsSearchMany(Protocol):
    def search_companies_many(self, searches: Sequence[CompanySearch]) -> list[list[CrmRecord]]:
        """For each search, what `search_companies` with its arguments would answer (the same candidates, at most
        `limit`), in as few requests as the CRM allows. The searches share their fields (`org_nr_field`,
        `domain_field`); raises what `search_companies` raises."""
        ...
