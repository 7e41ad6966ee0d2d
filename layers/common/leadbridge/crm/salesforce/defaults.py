"""Salesforce's profile, default settings document and request budget (what `SalesforceProvider` declares)."""

from __future__ import annotations

from leadbridge.crm.profile import (
    SEED_APP_STAGES,
    SEED_COUNTRY_NAMES,
    CrmProfile,
    seed_starting_sections,
)
from leadbridge.crm.profile import field_mapping as _m
from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import SettingsDocument

# CRM requests one sync run may send (the org's daily API allowance is shared with its other integrations).
REQUEST_BUDGET = 10_000

PROFILE = CrmProfile(
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


def default_settings() -> SettingsDocument:
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
    return SettingsDocument.model_validate(
        {
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
            **seed_starting_sections(),
            "country_mapping": {"names": SEED_COUNTRY_NAMES, "default": "Denmark"},
        }
    )
