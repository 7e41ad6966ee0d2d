"""Default integration settings per CRM, and the few per-CRM facts the mapping needs beyond field metadata.

SuperOffice defaults are the mapping of seed 002 (`lead-fields.json`): standard Contact fields, the 37 custom fields
`RabitIQ:1..37` on Contact (skipped until the admin creates them), persons, the country table, and the pipeline of
seed 000 ("New" is not sent; a lead is sent once it reaches "Lead").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import SettingsDocument


@dataclass(frozen=True)
class CrmProfile:
    """Connector field names leadbridge fills itself (not through field mappings), per CRM."""

    label: str
    objects: dict[CrmObject, str]  # default CRM object per app object
    owner_field: str | None  # CRM user reference on created records
    stage_field: str | None  # deal pipeline stage (Stage ids with group "stage")
    status_field: str | None  # deal status (Stage ids with group "status")
    # CRM country name → the value the connector's country field takes (SuperOffice CountryId = ISO 3166 numeric).
    country_values: dict[str, str] = field(default_factory=dict)
    # Activity completion: the field and its value per app activity status ("open", "done"); see sync/activities.py.
    activity_status_field: str | None = None
    activity_status_values: dict[str, Any] = field(default_factory=dict)


# (prog id number, app field) in the order of lead-fields.json.
RABITIQ_CUSTOM_FIELDS: list[tuple[int, str]] = [
    (1, "score"),
    (2, "reason_for_fit"),
    (3, "industry"),
    (4, "size"),
    (5, "location"),
    (6, "lead_ref"),
    (7, "buying_signals"),
    (8, "intent_score"),
    (9, "intent_signals"),
    (10, "conversation_starters"),
    (11, "red_flags"),
    (12, "description"),
    (13, "business_model"),
    (14, "target_audience"),
    (15, "technologies"),
    (16, "revenue"),
    (17, "profit"),
    (18, "employees"),
    (19, "growth_rate"),
    (20, "profit_margin"),
    (21, "competitors"),
    (22, "competitive_analysis"),
    (23, "market_analysis"),
    (24, "strengths"),
    (25, "weaknesses"),
    (26, "opportunities"),
    (27, "threats"),
    (28, "customer_reviews"),
    (29, "employee_reviews"),
    (30, "growth_signals"),
    (31, "industry_pain_points"),
    (32, "open_positions"),
    (33, "sales_playbook"),
    (34, "user_notes"),
    (35, "created_date"),
    (36, "org_number"),
    (37, "address"),
]

# Seed 002's country table (app location → SuperOffice country), default Denmark.
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

SUPEROFFICE = CrmProfile(
    label="SuperOffice CRM Online",
    objects={
        CrmObject.COMPANY: "Contact",
        CrmObject.PERSON: "Person",
        CrmObject.DEAL: "Sale",
        CrmObject.ACTIVITY: "Appointment",
    },
    owner_field="Owner",
    stage_field="Stage",
    status_field="Status",
    country_values={
        "Denmark": "208",
        "Norway": "578",
        "Sweden": "752",
        "Germany": "276",
        "United Kingdom": "826",
        "United States": "840",
    },
    activity_status_field="Completed",
    activity_status_values={"open": False, "done": True},
)

SALESFORCE = CrmProfile(
    label="Salesforce",
    objects={
        CrmObject.COMPANY: "Account",
        CrmObject.PERSON: "Contact",
        CrmObject.DEAL: "Opportunity",
        CrmObject.ACTIVITY: "Task",
    },
    owner_field="OwnerId",
    stage_field="StageName",  # won/lost are closed stages (OpportunityStage.IsClosed/IsWon), not a separate status
    status_field=None,
    activity_status_field="Status",  # Task.Status, a restricted picklist
    activity_status_values={"open": "Not Started", "done": "Completed"},
)

PROFILES: dict[str, CrmProfile] = {"superoffice": SUPEROFFICE, "salesforce": SALESFORCE}

_GENERIC = CrmProfile(
    label="CRM",
    objects={obj: obj.value for obj in CrmObject},
    owner_field=None,
    stage_field=None,
    status_field=None,
)


def profile(crm: str) -> CrmProfile:
    return PROFILES.get(crm, _GENERIC)


# The pipeline of the seed apps (000): what a tenant starts with until the app sends its own stages.
SEED_APP_STAGES = ("New", "Lead", "Qualified", "Proposal", "Negotiation", "Won", "Lost")


def _seed_starting_sections() -> dict[str, Any]:
    """Sections every CRM's defaults start the same: manual schedule, no rules, no import, no selections."""
    return {
        "owners": {},
        "schedule": {"frequency": "manual", "timezone": "Europe/Copenhagen"},
        "selective_sync": {},
        "initial_import": False,
        "selections": {},
    }


def _m(app: str | list[str], crm: str, **extra: Any) -> dict[str, Any]:
    return {"app_fields": [app] if isinstance(app, str) else app, "crm_field": crm, **extra}


def _superoffice_document() -> dict[str, Any]:
    company = [
        _m("company_name", "Name"),
        _m("website", "Url"),
        _m("industry", "Department"),
        _m("location", "CountryId", transforms=[{"kind": "country"}]),
        _m("org_number", "OrgNr"),
        _m("address", "StreetAddress"),
        _m("postal_code", "StreetZipcode"),
        _m("city", "StreetCity"),
        _m("email", "Email"),
        _m("phone", "Phone"),
        _m(["reason_for_fit", "description"], "Description", transforms=[{"kind": "join", "separator": "\n\n"}]),
    ] + [_m(app, f"RabitIQ:{n}", custom=True) for n, app in RABITIQ_CUSTOM_FIELDS]
    person = [
        _m("first_name", "Firstname"),
        _m("last_name", "Lastname"),
        _m("title", "Title"),
        _m("email", "Email"),
        _m("phone", "OfficePhone"),
        _m("mobile", "MobilePhone"),
    ]
    deal = [
        _m("title", "Heading"),
        _m("amount", "Amount"),
        _m("expected_close", "Saledate"),
        _m("description", "Description"),
    ]
    activity = [
        _m("name", "Title"),
        _m("description", "Description"),
        _m("date", "StartDate"),
        _m("status", "Completed", transforms=[{"kind": "convert", "to": "boolean"}]),
    ]
    return {
        "crm": "superoffice",
        "objects": {
            "company": {"crm_object": "Contact", "direction": "to_crm"},
            "person": {"crm_object": "Person", "direction": "to_crm"},
            "deal": {"crm_object": "Sale", "direction": "to_crm"},
            "activity": {"crm_object": "Appointment", "direction": "off"},
        },
        "field_mappings": {"company": company, "person": person, "deal": deal, "activity": activity},
        "status_mapping": {
            "app_stages": list(SEED_APP_STAGES),
            "stages": [
                {"app_stage": "Won", "crm_status": "Sold"},
                {"app_stage": "Lost", "crm_status": "Lost"},
            ],
            "create_at_stage": "Lead",
        },
        **_seed_starting_sections(),
        "country_mapping": {
            "names": SEED_COUNTRY_NAMES,
            "default": "Denmark",
            "crm_values": SUPEROFFICE.country_values,
        },
    }


def _salesforce_document() -> dict[str, Any]:
    """Accounts with Contacts (standard fields; the lead score in a custom field the admin may add), Opportunities,
    Tasks. Choosing Lead instead (`objects.company.crm_object = "Lead"`) needs Lead field names in the mappings."""
    company = [
        _m("company_name", "Name"),
        _m("website", "Website"),
        _m("phone", "Phone"),
        _m("org_number", "AccountNumber"),
        _m("street", "BillingStreet"),
        _m("postal_code", "BillingPostalCode"),
        _m("city", "BillingCity"),
        _m("location", "BillingCountry", transforms=[{"kind": "country"}]),
        _m("employees", "NumberOfEmployees"),
        _m("revenue", "AnnualRevenue"),
        _m(["reason_for_fit", "description"], "Description", transforms=[{"kind": "join", "separator": "\n\n"}]),
        _m("score", "Lead_Score__c", custom=True),
    ]
    person = [
        _m("first_name", "FirstName"),
        _m("last_name", "LastName"),
        _m("title", "Title"),
        _m("email", "Email"),
        _m("phone", "Phone"),
        _m("mobile", "MobilePhone"),
    ]
    deal = [
        _m("title", "Name"),
        _m("amount", "Amount"),
        _m("expected_close", "CloseDate"),
        _m("description", "Description"),
    ]
    activity = [
        _m("name", "Subject"),
        _m("description", "Description"),
        _m("date", "ActivityDate"),
    ]
    return {
        "crm": "salesforce",
        "objects": {
            "company": {"crm_object": "Account", "direction": "to_crm"},
            "person": {"crm_object": "Contact", "direction": "to_crm"},
            "deal": {"crm_object": "Opportunity", "direction": "to_crm"},
            "activity": {"crm_object": "Task", "direction": "off"},
        },
        "field_mappings": {"company": company, "person": person, "deal": deal, "activity": activity},
        "status_mapping": {
            "app_stages": list(SEED_APP_STAGES),
            "stages": [
                {"app_stage": "Lead", "crm_stage": "Prospecting"},
                {"app_stage": "Qualified", "crm_stage": "Qualification"},
                {"app_stage": "Proposal", "crm_stage": "Proposal/Price Quote"},
                {"app_stage": "Negotiation", "crm_stage": "Negotiation/Review"},
                {"app_stage": "Won", "crm_stage": "Closed Won"},
                {"app_stage": "Lost", "crm_stage": "Closed Lost"},
            ],
            "create_at_stage": "Lead",
        },
        **_seed_starting_sections(),
        "country_mapping": {"names": SEED_COUNTRY_NAMES, "default": "Denmark"},
    }


def _generic_document(crm: str) -> dict[str, Any]:
    return {
        "crm": crm,
        "objects": {obj.value: {"crm_object": name, "direction": "off"} for obj, name in _GENERIC.objects.items()},
        "field_mappings": {},
        "status_mapping": {},
        "owners": {},
        "schedule": {},
        "selective_sync": {},
        "selections": {},
        "country_mapping": {},
    }


def default_settings(crm: str) -> SettingsDocument:
    """The settings a tenant starts from (version 0) for `crm`."""
    documents = {"superoffice": _superoffice_document, "salesforce": _salesforce_document}
    raw = documents[crm]() if crm in documents else _generic_document(crm)
    return SettingsDocument.model_validate(raw)
