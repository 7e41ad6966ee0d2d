"""HubSpot's profile, default settings document and request budget (what `HubSpotProvider` declares).

Field names are HubSpot's internal property names (`name`, `domain`, `firstname`, a custom `cvr`), never labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from leadbridge.crm.profile import (
    SEED_APP_STAGES,
    SEED_COUNTRY_NAMES,
    ActivityTypeField,
    CrmProfile,
    seed_starting_sections,
)
from leadbridge.crm.profile import field_mapping as _m
from leadbridge.models.crm import CrmObject

if TYPE_CHECKING:  # imported where used: a webhook's verification never builds settings
    from leadbridge.models.settings import SettingsDocument

# CRM requests one scheduled sync run may send. The hard limit is the account's 110 requests per 10 s (reference §7),
# which the client paces itself; this bounds one run's share so other work on the account keeps room.
REQUEST_BUDGET = 10_000

PROFILE = CrmProfile(
    label="HubSpot",
    objects={
        CrmObject.COMPANY: "companies",
        CrmObject.PERSON: "contacts",
        CrmObject.DEAL: "deals",
        CrmObject.ACTIVITY: "tasks",
    },
    owner_field="hubspot_owner_id",  # an owner's `id`, never its `userId` (reference §4)
    stage_field="dealstage",  # a stage id of the deal pipeline; won/lost are closed stages (stage metadata)
    status_field=None,
    probability_field=None,  # HubSpot derives a deal's probability from its stage itself
    activity_status_field="hs_task_status",
    activity_status_values={"open": "NOT_STARTED", "done": "COMPLETED"},
    # hs_task_type options CALL / EMAIL / TODO: a meeting or visit has no task type of its own, so it is a to-do.
    activity_type_fields=(ActivityTypeField("hs_task_type", {"call": "CALL", "email": "EMAIL"}, default="TODO"),),
)


def _both(app: str, crm: str, **extra: Any) -> dict[str, Any]:
    return _m(app, crm, direction="both", **extra)


def default_settings(objects: Mapping[str, str] | None = None) -> SettingsDocument:
    """Companies with contacts, deals in the default pipeline, tasks. HubSpot has one object per app object, so
    `objects` changes nothing. No standard property holds an org number: an admin adds one (e.g. `cvr`) and names it
    in `matching.org_nr_field`."""
    company = [
        _both("company_name", "name"),
        _both("website", "domain", transforms=[{"kind": "domain"}]),  # HubSpot holds (and matches by) the bare domain
        _both("phone", "phone"),
        _both("street", "address"),
        _both("postal_code", "zip"),
        _both("city", "city"),
        _both("location", "country", transforms=[{"kind": "country"}]),
        _both("employees", "numberofemployees"),
    ]
    person = [
        _both("first_name", "firstname"),
        _both("last_name", "lastname"),
        _both("title", "jobtitle"),
        _both("email", "email"),
        _both("phone", "phone"),
    ]
    deal = [
        _both("title", "dealname"),
        _both("amount", "amount"),
        _both("expected_close", "closedate"),
    ]
    activity = [
        _m("name", "hs_task_subject"),
        _m("description", "hs_task_body"),
        _m("date", "hs_timestamp"),
    ]
    stages = [  # the default pipeline's stage ids (GET /crm/v3/pipelines/deals); contractsent is left to the admin
        {"app_stage": "Lead", "crm_stage": "appointmentscheduled"},
        {"app_stage": "Qualified", "crm_stage": "qualifiedtobuy"},
        {"app_stage": "Proposal", "crm_stage": "presentationscheduled"},
        {"app_stage": "Negotiation", "crm_stage": "decisionmakerboughtin"},
        {"app_stage": "Won", "crm_stage": "closedwon"},
        {"app_stage": "Lost", "crm_stage": "closedlost"},
    ]
    from leadbridge.models.settings import SettingsDocument

    return SettingsDocument.model_validate(
        {
            "crm": "hubspot",
            "objects": {
                "company": {"crm_object": "companies", "direction": "both"},
                "person": {"crm_object": "contacts", "direction": "both"},
                "deal": {"crm_object": "deals", "direction": "both"},
                "activity": {"crm_object": "tasks", "direction": "off"},
            },
            "field_mappings": {"company": company, "person": person, "deal": deal, "activity": activity},
            "status_mapping": {"app_stages": list(SEED_APP_STAGES), "stages": stages, "create_at_stage": "Lead"},
            **seed_starting_sections(),
            "country_mapping": {"names": SEED_COUNTRY_NAMES, "default": "Denmark"},
        }
    )
