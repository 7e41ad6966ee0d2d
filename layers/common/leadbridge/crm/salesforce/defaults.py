"""Salesforce's profile, default settings document and request budget (what `SalesforceProvider` declares)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadbridge.crm.profile import (
    SEED_APP_STAGES,
    SEED_COUNTRY_NAMES,
    ActivityTypeField,
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
    # OpportunityStage.DefaultProbability: written with a new stage, so the Opportunity's probability follows it
    # (as Salesforce's own UI does) whatever the org's automation.
    probability_field="Probability",
    record_status_fields={"Lead": "Status"},  # Lead mode: LeadStatus values (group "status" in `stages()`)
    activity_status_field="Status",  # Task.Status, a restricted picklist
    activity_status_values={"open": "Not Started", "done": "Completed"},
    # Task `Type` (picklist Call/Email/Meeting/Other; a field visit is a meeting) on every write; `TaskSubtype`
    # (Call/Email/Task: how Salesforce shows and counts the activity) only on create, as Salesforce cannot update it.
    activity_type_fields=(
        ActivityTypeField(
            "Type", {"call": "Call", "email": "Email", "meeting": "Meeting", "visit": "Meeting"}, default="Other"
        ),
        ActivityTypeField("TaskSubtype", {"call": "Call", "email": "Email"}, default="Task", create_only=True),
    ),
    # Outbound Messages are created in Setup and cannot be removed through the API (reference §8).
    manual_webhook_removal=(
        "In Salesforce Setup, deactivate or delete the Flows (or workflow rules) for {objects} whose Outbound Message "
        "sends to {target_url}, and delete those Outbound Messages (Setup → Outbound Messages). Until then Salesforce "
        "keeps sending every change; leadbridge acknowledges each message and drops it.",
        "Or keep them if you will connect this same Salesforce org again: the Endpoint URL stays valid, and changes "
        "flow again as soon as the org is reconnected.",
    ),
)


def _both(app: str, crm: str, **extra: Any) -> dict[str, Any]:
    return _m(app, crm, direction="both", **extra)


def default_settings(objects: Mapping[str, str] | None = None) -> SettingsDocument:
    """Accounts with Contacts (standard fields; the lead score in a custom field the admin may add), Opportunities,
    Tasks; or, for `objects = {"company": "Lead"}`, Lead mode (`lead_mode_settings`)."""
    if (objects or {}).get("company") == "Lead":
        return lead_mode_settings()
    # Two-way out of the box (seed 004: "Leads/Accounts updated in SFDC will be updated in SPOTIO"): every field that
    # can be written back reads CRM edits too, newest wins; an admin narrows a mapping to `to_crm`. Joined fields
    # only write.
    company = [
        _both("company_name", "Name"),
        _both("website", "Website"),
        _both("phone", "Phone"),
        _both("org_number", "AccountNumber"),
        _both("street", "BillingStreet"),
        _both("postal_code", "BillingPostalCode"),
        _both("city", "BillingCity"),
        _both("location", "BillingCountry", transforms=[{"kind": "country"}]),
        *_company_common(),
    ]
    first, last, title, email, mobile = _person_common()
    person = [first, last, title, email, _both("phone", "Phone"), mobile]
    return _settings("Account", "Contact", company, person, [
        {"app_stage": "Lead", "crm_stage": "Prospecting"},
        {"app_stage": "Qualified", "crm_stage": "Qualification"},
        {"app_stage": "Proposal", "crm_stage": "Proposal/Price Quote"},
        {"app_stage": "Negotiation", "crm_stage": "Negotiation/Review"},
        {"app_stage": "Won", "crm_stage": "Closed Won"},
        {"app_stage": "Lost", "crm_stage": "Closed Lost"},
    ])  # fmt: skip


def lead_mode_settings() -> SettingsDocument:
    """Lead mode (seed 004: "create a Lead or Account/Contact/Opportunity"): a new app lead is one Salesforce Lead
    holding the company and its first contact (Lead fields: `Company`, the address without a prefix; a Lead has no
    org-number field: `matching.org_nr_field` can name a custom one). The Lead's `Status` follows the app stage; it is
    converted into an Account, a Contact and an Opportunity when the lead is won (`lead_conversion`), and the
    Opportunity's stage follows from then on. The company's phone is the Lead's `Phone`, so a contact's phone is not
    mapped (its mobile is)."""
    company = [
        _both("company_name", "Company"),
        _both("website", "Website"),
        _both("phone", "Phone"),
        _both("street", "Street"),
        _both("postal_code", "PostalCode"),
        _both("city", "City"),
        _both("location", "Country", transforms=[{"kind": "country"}]),
        *_company_common(),
    ]
    return _settings("Lead", "Lead", company, _person_common(), [
        {"app_stage": "Lead", "crm_stage": "Prospecting", "crm_status": "Open - Not Contacted"},
        {"app_stage": "Qualified", "crm_stage": "Qualification", "crm_status": "Working - Contacted",
         "inbound": True},
        {"app_stage": "Proposal", "crm_stage": "Proposal/Price Quote", "crm_status": "Working - Contacted"},
        {"app_stage": "Negotiation", "crm_stage": "Negotiation/Review", "crm_status": "Working - Contacted"},
        # Won converts the Lead (its converted status is set by the conversion, never written).
        {"app_stage": "Won", "crm_stage": "Closed Won"},
        {"app_stage": "Lost", "crm_stage": "Closed Lost", "crm_status": "Closed - Not Converted"},
    ])  # fmt: skip


def _company_common() -> list[dict[str, Any]]:
    return [
        _both("employees", "NumberOfEmployees"),
        _both("revenue", "AnnualRevenue"),
        _m(["reason_for_fit", "description"], "Description", transforms=[{"kind": "join", "separator": "\n\n"}]),
        _both("score", "Lead_Score__c", custom=True),
    ]


def _person_common() -> list[dict[str, Any]]:
    return [
        _both("first_name", "FirstName"),
        _both("last_name", "LastName"),
        _both("title", "Title"),
        _both("email", "Email"),
        _both("mobile", "MobilePhone"),
    ]


def _settings(
    company_object: str,
    person_object: str,
    company: list[dict[str, Any]],
    person: list[dict[str, Any]],
    stages: list[dict[str, Any]],
) -> SettingsDocument:
    deal = [
        _both("title", "Name"),
        _both("amount", "Amount"),
        _both("expected_close", "CloseDate"),
        _both("description", "Description"),
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
                "company": {"crm_object": company_object, "direction": "both"},
                "person": {"crm_object": person_object, "direction": "both"},
                "deal": {"crm_object": "Opportunity", "direction": "both"},
                "activity": {"crm_object": "Task", "direction": "off"},
            },
            "field_mappings": {"company": company, "person": person, "deal": deal, "activity": activity},
            "status_mapping": {"app_stages": list(SEED_APP_STAGES), "stages": stages, "create_at_stage": "Lead"},
            **seed_starting_sections(),
            "country_mapping": {"names": SEED_COUNTRY_NAMES, "default": "Denmark"},
        }
    )
