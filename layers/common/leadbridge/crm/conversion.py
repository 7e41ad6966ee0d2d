"""Optional connector capability: companies kept as CRM leads, converted when the deal is due (Salesforce Lead mode).

In such a mode one CRM record (a Lead) is both the company and its first person, and no deal exists until the lead
is converted into a company record, a person record and, if wanted, a deal. Sync code checks
`isinstance(connector, SupportsLeadConversion) and connector.keeps_companies_as_leads()` and then:
- writes only the lead's first contact (further contacts wait for the conversion and are created under the new
  company then: nothing is ever created unlinked);
- writes no deal before the conversion;
- converts at the stage the settings name (`lead_conversion`), relinks the app lead to the records the conversion
  made, and creates the waiting contacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from leadbridge.errors import CrmConflict


class LeadConverted(CrmConflict):
    """A write to a CRM lead that was converted meanwhile (in the CRM, by a user): a lead event converts (which
    answers what the lead became), relinks and writes again; elsewhere it is a 409 until the sync relinks."""


@dataclass(frozen=True)
class Converted:
    """What a converted CRM lead became."""

    company_id: str
    person_id: str
    deal_id: str | None


@runtime_checkable
class SupportsLeadConversion(Protocol):
    def keeps_companies_as_leads(self) -> bool:
        """True while the settings keep companies as CRM leads (each holds one person until converted)."""
        ...

    def is_unconverted_lead(self, company_id: str) -> bool:
        """Whether the company record is still a lead (not yet converted)."""
        ...

    def convert(self, company_id: str, *, create_deal: bool, deal_name: str | None) -> Converted:
        """Convert the lead with the CRM's own conversion; converting one already converted returns what it became.
        The records it made read and write with the lead-mode field names afterwards."""
        ...
