"""Field-mapping engine: app records ↔ CRM fields, transforms, and validation against live CRM metadata.

`apply` is the one function export, sync and the settings preview use to turn an app record into CRM fields.
"""

from leadbridge.mapping.engine import InboundValues, MappedRecord, Skipped, SkipReason, apply, apply_inbound
from leadbridge.mapping.lead import LeadPlan, plan_lead
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
    "plan_lead",
    "validate_settings",
]
