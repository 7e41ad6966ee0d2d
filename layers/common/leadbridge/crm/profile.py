"""What a CRM package declares about itself beyond its connector: the `CrmProfile` type, the generic profile and
settings document of a CRM without its own, and the seed pieces every CRM's default settings start from.

Each CRM's own profile and defaults live in its package (`leadbridge.crm.<name>.defaults`) and reach sync code only
through its `CrmProvider` (`leadbridge.crm.defaults` looks them up by name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadbridge.models.crm import CrmObject

if TYPE_CHECKING:  # imported where used: functions that never read settings skip their models at cold start
    from leadbridge.models.settings import SettingsDocument


@dataclass(frozen=True)
class ActivityTypeField:
    """A CRM activity field leadbridge fills from the app activity's `type` (call, meeting, email, ...)."""

    field: str
    values: dict[str, Any]  # app activity type → CRM value
    default: Any = None  # for a type `values` does not name; None: leave the field out
    create_only: bool = False  # the CRM refuses updates of the field (Salesforce TaskSubtype)

    def value_for(self, activity_type: str | None) -> Any:
        if activity_type is None:
            return None
        return self.values.get(activity_type, self.default)


@dataclass(frozen=True)
class CrmProfile:
    """Connector field names leadbridge fills itself (not through field mappings), per CRM."""

    label: str
    objects: dict[CrmObject, str]  # default CRM object per app object
    owner_field: str | None  # CRM user reference on created records
    stage_field: str | None  # deal pipeline stage (Stage ids with group "stage")
    status_field: str | None  # deal status (Stage ids with group "status")
    # A deal's probability %, where the CRM keeps it per deal (SuperOffice Sale.Probability, whose API does not move it
    # with the stage; Salesforce Opportunity.Probability): leadbridge writes the stage's default with a new stage.
    probability_field: str | None = None
    # CRM objects that carry their own status, by CRM object name → the status field (Salesforce: a Lead's `Status`,
    # a LeadStatus value). A company kept in such an object gets the mapped status of the lead's stage, and its status
    # comes back as the app stage (`status_mapping` entries with `crm_status`).
    record_status_fields: dict[str, str] = field(default_factory=dict)
    # CRM country name → the value the connector's country field takes (e.g. an ISO 3166 numeric code).
    country_values: dict[str, str] = field(default_factory=dict)
    # Activity completion: the field and its value per app activity status ("open", "done"); see lifecycle/.
    activity_status_field: str | None = None
    activity_status_values: dict[str, Any] = field(default_factory=dict)
    # Activity type: the fields filled from the app activity's `type` (a field the settings map is left to them).
    activity_type_fields: tuple[ActivityTypeField, ...] = ()
    # A CRM whose webhooks an admin sets up by hand (registration state `ManualSetupRequired`) must also remove them by
    # hand: what to do after a disconnect, `{target_url}` and `{objects}` filled in (see `connect.disconnection`).
    manual_webhook_removal: tuple[str, ...] = ()


# A CRM leadbridge has no profile for: app object names as CRM object names, nothing filled automatically.
GENERIC_PROFILE = CrmProfile(
    label="CRM",
    objects={obj: obj.value for obj in CrmObject},
    owner_field=None,
    stage_field=None,
    status_field=None,
)

# Seed 002's country table (app location → CRM country name), default Denmark.
SEED_COUNTRY_NAMES = {
    "Danmark": "Denmark",
    "Denmark": "Denmark",
    "Norge": "Norway",
    "Norway": "Norway",
    "Sverige": "Sweden",
    "Sweden": "Sweden",
    "Tyskland": "Germany",
    "Germany": "Germany",
    "UK": "United Kingdom",
    "England": "United Kingdom",
    "United Kingdom": "United Kingdom",
    "USA": "United States",
    "United States": "United States",
}

# The pipeline of the seed apps (000): what a tenant starts with until the app sends its own stages.
SEED_APP_STAGES = ("New", "Lead", "Qualified", "Proposal", "Negotiation", "Won", "Lost")


def seed_starting_sections() -> dict[str, Any]:
    """Sections every CRM's defaults start the same: manual schedule, no rules, no import, no selections."""
    return {
        "owners": {},
        "schedule": {"frequency": "manual", "timezone": "Europe/Copenhagen"},
        "selective_sync": {},
        "initial_import": False,
        "selections": {},
    }


def field_mapping(app: str | list[str], crm: str, **extra: Any) -> dict[str, Any]:
    """One raw field mapping of a default settings document (app field(s) → CRM field)."""
    return {"app_fields": [app] if isinstance(app, str) else app, "crm_field": crm, **extra}


def generic_settings(crm: str) -> SettingsDocument:
    """The settings a tenant of a CRM without its own defaults starts from: every object off, nothing mapped."""
    from leadbridge.models.settings import SettingsDocument

    return SettingsDocument.model_validate(
        {
            "crm": crm,
            "objects": {
                obj.value: {"crm_object": name, "direction": "off"} for obj, name in GENERIC_PROFILE.objects.items()
            },
            "field_mappings": {},
            "status_mapping": {},
            "owners": {},
            "schedule": {},
            "selective_sync": {},
            "selections": {},
            "country_mapping": {},
        }
    )
