"""Field-mapping engine: app records ↔ CRM fields, transforms, and validation against live CRM metadata.

`apply` is the one function export, sync and the settings preview use to turn an app record into CRM fields.
Shared with every area: `hashing` (the content hashes record links keep) and `phones` (E.164, `prepare_lead`).
"""

from leadbridge.mapping.engine import InboundValues, MappedRecord, Skipped, SkipReason, apply, apply_inbound
from leadbridge.mapping.hashing import canonical, content_hash, field_hashes
from leadbridge.mapping.lead import LeadPlan, plan_lead
from leadbridge.mapping.phones import prepare_lead
from leadbridge.mapping.validation import Metadata, MetadataSource, ValidationReport, validate_settings

__all__ = [
    "InboundValues",
    "LeadPlan",
    "MappedRecord",
    "Metadata",
    "MetadataSource",
    "SkipReason",
    "Skipped",
    "ValidationReport",
    "apply",
    "apply_inbound",
    "canonical",
    "content_hash",
    "field_hashes",
    "plan_lead",
    "prepare_lead",
    "validate_settings",
]
