"""Leads out to the CRM (seed 002): the export contracts, company matching, persons, custom fields, the sync-log
entries of an export and the sync-status read model.

Where things are: `lead_export` (the flow of one export, `export_lead`), `contracts` (the API models), `ports` (links,
leases, `ExportServices`), `lease` (one export of a lead at a time), `company` + `matching` (finding the lead's CRM
company), `persons`, `run` (one export's run record), `log_entries`, `status` (the sync-status read model). Hashes and
phone numbers are shared with other areas and live in `leadbridge.mapping`.
"""

from typing import TYPE_CHECKING

from leadbridge.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from leadbridge.export.company import match_company, match_lead
    from leadbridge.export.contracts import (
        CompanyResult,
        ExportChoice,
        ExportMode,
        ExportRequest,
        ExportResult,
        FieldSkip,
        IdempotentExportRequest,
        PersonResult,
        RecordAction,
    )
    from leadbridge.export.lead_export import PossibleMatchesOnly, export_lead, input_fingerprint, only_connected_crm
    from leadbridge.export.lease import LEASE_SECONDS, ExportInProgress, lead_lease
    from leadbridge.export.matching import MatchResult, MatchVerdict
    from leadbridge.export.ports import ExportServices, LeadLeases, Links, one_call
    from leadbridge.export.status import LinkedRecord, SyncStatus, sync_status

# Imported when first read (leadbridge.lazy_exports): a submodule's import no longer loads the whole area.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "match_company": "company",
        "match_lead": "company",
        "CompanyResult": "contracts",
        "ExportChoice": "contracts",
        "ExportMode": "contracts",
        "ExportRequest": "contracts",
        "ExportResult": "contracts",
        "FieldSkip": "contracts",
        "IdempotentExportRequest": "contracts",
        "PersonResult": "contracts",
        "RecordAction": "contracts",
        "PossibleMatchesOnly": "lead_export",
        "export_lead": "lead_export",
        "input_fingerprint": "lead_export",
        "only_connected_crm": "lead_export",
        "LEASE_SECONDS": "lease",
        "ExportInProgress": "lease",
        "lead_lease": "lease",
        "MatchResult": "matching",
        "MatchVerdict": "matching",
        "ExportServices": "ports",
        "LeadLeases": "ports",
        "Links": "ports",
        "one_call": "ports",
        "LinkedRecord": "status",
        "SyncStatus": "status",
        "sync_status": "status",
    },
)

__all__ = [
    "LEASE_SECONDS",
    "CompanyResult",
    "ExportChoice",
    "ExportInProgress",
    "ExportMode",
    "ExportRequest",
    "ExportResult",
    "ExportServices",
    "FieldSkip",
    "IdempotentExportRequest",
    "LeadLeases",
    "LinkedRecord",
    "Links",
    "MatchResult",
    "MatchVerdict",
    "PersonResult",
    "PossibleMatchesOnly",
    "RecordAction",
    "SyncStatus",
    "export_lead",
    "input_fingerprint",
    "lead_lease",
    "match_company",
    "match_lead",
    "one_call",
    "only_connected_crm",
    "sync_status",
]
