"""SuperOffice's profile, default settings document and request budget (what `SuperOfficeProvider` declares).

The defaults are the mapping of seed 002 (`lead-fields.json`): standard Contact fields, the 37 custom fields
`RabitIQ:1..37` on Contact (skipped until the admin creates them), persons, the country table, and the pipeline of
seed 000 ("New" is not sent; a lead is sent once it reaches "Lead").
"""

from __future__ import annotations

from typing import Any

from leadbridge.crm.profile import (
    SEED_APP_STAGES,
    SEED_COUNTRY_NAMES,
    CrmProfile,
    seed_starting_sections,
)
from leadbridge.crm.profile import field_mapping as _m
from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import SettingsDocument

# SuperOffice documents no request numbers, only "you may be throttled" (superoffice-api.md §13). 20,000 requests a
# run covers an initial import of ~20 pages x 1,000 records per object with room for retries; override per deployment.
REQUEST_BUDGET = 20_000

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

PROFILE = CrmProfile(
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
    probability_field="Probability",
    # SuperOffice CountryId = ISO 3166 numeric.
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


# Written by the app only: when it created the lead (a text field in the CRM, a date in the app).
_APP_OWNED = {"created_date"}
# App fields a standard Contact field also feeds: their RabitIQ custom field is the second source inbound.
_SECOND = {"industry": 2, "org_number": 2, "address": 2}


def _both(app: str, crm: str, **extra: Any) -> dict[str, Any]:
    return _m(app, crm, direction="both", **{k: v for k, v in extra.items() if v is not None})


def default_settings() -> SettingsDocument:
    """The settings a SuperOffice tenant starts from (version 0)."""
    # Two-way out of the box (seed 000; issue 17): every field that can be written back reads CRM edits too, newest
    # wins; an admin narrows a mapping to `to_crm`. Joined fields and the CountryId reference only write. Where a
    # standard field and a RabitIQ custom field feed one app field, the standard field comes first (`precedence`).
    company = [
        _both("company_name", "Name"),
        _both("website", "Url"),
        _both("industry", "Department", precedence=1),
        _m("location", "CountryId", transforms=[{"kind": "country"}]),
        _both("org_number", "OrgNr", precedence=1),
        _both("address", "StreetAddress", precedence=1),
        _both("postal_code", "StreetZipcode"),
        _both("city", "StreetCity"),
        _both("email", "Email"),
        _both("phone", "Phone"),
        _m(["reason_for_fit", "description"], "Description", transforms=[{"kind": "join", "separator": "\n\n"}]),
    ] + [
        _m(app, f"RabitIQ:{n}", custom=True)
        if app in _APP_OWNED
        else _both(app, f"RabitIQ:{n}", custom=True, precedence=_SECOND.get(app))
        for n, app in RABITIQ_CUSTOM_FIELDS
    ]
    person = [
        _both("first_name", "Firstname"),
        _both("last_name", "Lastname"),
        _both("title", "Title"),
        _both("email", "Email"),
        _both("phone", "OfficePhone"),
        _both("mobile", "MobilePhone"),
    ]
    deal = [
        _both("title", "Heading"),
        _both("amount", "Amount"),
        _both("expected_close", "Saledate"),
        _both("description", "Description"),
    ]
    activity = [
        _m("name", "Title"),
        _m("description", "Description"),
        _m("date", "StartDate"),
        _m("status", "Completed", transforms=[{"kind": "convert", "to": "boolean"}]),
    ]
    return SettingsDocument.model_validate(
        {
            "crm": "superoffice",
            "objects": {
                "company": {"crm_object": "Contact", "direction": "both"},
                "person": {"crm_object": "Person", "direction": "both"},
                "deal": {"crm_object": "Sale", "direction": "both"},
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
            **seed_starting_sections(),
            "country_mapping": {
                "names": SEED_COUNTRY_NAMES,
                "default": "Denmark",
                "crm_values": PROFILE.country_values,
            },
        }
    )
