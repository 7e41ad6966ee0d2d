"""Lead conversion as the SOAP Partner API's `convertLead()` performs it (reference §11.1; SOAP API guide
"convertLead()"): the Lead becomes an Account, a Contact and, unless asked not to, an Opportunity — or is merged into
an existing Account/Contact, where only empty fields are filled.

Each `LeadConvert` is one transaction: a failure writes nothing and comes back as the result's errors.

Field mapping: the standard Lead → Account/Contact/Opportunity fields below, and every Lead custom field whose value
goes to a custom field of the same API name and type on the target (the sandbox's stand-in for the org's Setup →
"Map Lead Fields").
"""

from __future__ import annotations

import calendar
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from local.sandbox.salesforce.model import ApiError, Org, RecordErrors, Transaction, render_value

# target field -> Lead field
ACCOUNT_FIELDS = {
    "Name": "Company", "Website": "Website", "Phone": "Phone", "Industry": "Industry",
    "NumberOfEmployees": "NumberOfEmployees", "AnnualRevenue": "AnnualRevenue", "Description": "Description",
    "BillingStreet": "Street", "BillingCity": "City", "BillingState": "State", "BillingPostalCode": "PostalCode",
    "BillingCountry": "Country", "AccountSource": "LeadSource",
}
CONTACT_FIELDS = {
    "Salutation": "Salutation", "FirstName": "FirstName", "LastName": "LastName", "Title": "Title", "Email": "Email",
    "Phone": "Phone", "MobilePhone": "MobilePhone", "MailingStreet": "Street", "MailingCity": "City",
    "MailingState": "State", "MailingPostalCode": "PostalCode", "MailingCountry": "Country",
    "LeadSource": "LeadSource", "Description": "Description",
}
OPPORTUNITY_FIELDS = {"LeadSource": "LeadSource"}
OPPORTUNITY_NAME_LENGTH = 120


class LeadConvert(BaseModel):
    """One `<leadConverts>` element (SOAP names are camelCase: `leadId`, `doNotCreateOpportunity`, ...)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    lead_id: str | None = None
    converted_status: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    do_not_create_opportunity: bool = False
    opportunity_name: str | None = None
    owner_id: str | None = None
    overwrite_lead_source: bool = False
    send_notification_email: bool = False  # accepted; the sandbox sends no e-mail


@dataclass
class LeadConvertResult:
    lead_id: str | None
    account_id: str | None = None
    contact_id: str | None = None
    opportunity_id: str | None = None
    errors: list[ApiError] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.errors


class RecordWriter(Protocol):
    """What conversion needs of the sandbox state (`SalesforceState`)."""

    def transaction(self, org: Org) -> AbstractContextManager[Transaction]: ...

    def create(self, org_id: str, sobject: str, values: dict[str, Any], *, actor: str | None = None) -> str: ...

    def update(self, org_id: str, sobject: str, record_id: str, values: dict[str, Any], *,
               actor: str | None = None) -> None: ...

    def system_update(self, org: Org, sobject: str, record: dict[str, Any], values: dict[str, Any], *,
                      actor: str | None = None) -> None: ...


def convert_lead(sb: RecordWriter, org: Org, request: LeadConvert, actor: str) -> LeadConvertResult:
    """Convert one Lead as `actor` (the session's user: CreatedById/LastModifiedById of every write)."""
    try:
        with sb.transaction(org):
            return _convert(sb, org, request, actor)
    except RecordErrors as err:
        return LeadConvertResult(request.lead_id, errors=err.errors)
    except ApiError as err:
        return LeadConvertResult(request.lead_id, errors=[err])


def _convert(sb: RecordWriter, org: Org, request: LeadConvert, actor: str) -> LeadConvertResult:
    lead = _lead(org, request.lead_id)
    status = _converted_status(org, request.converted_status)
    account = _existing(org, "Account", request.account_id, "accountId")
    contact = _existing(org, "Contact", request.contact_id, "contactId")
    if contact is not None and (account is None or contact.get("AccountId") not in (None, account["Id"])):
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "contactId must belong to the accountId given with it",
                       ["contactId"])
    owner_id = _owner(org, request.owner_id) or lead["OwnerId"]

    if account is None:
        account_id = sb.create(org.org_id, "Account", {**_mapped(org, lead, "Account", ACCOUNT_FIELDS),
                                                       "OwnerId": owner_id}, actor=actor)
    else:
        account_id = account["Id"]
        _fill_empty(sb, org, "Account", account, _mapped(org, lead, "Account", ACCOUNT_FIELDS), actor)

    contact_values = {**_mapped(org, lead, "Contact", CONTACT_FIELDS), "AccountId": account_id}
    if contact is None:
        contact_id = sb.create(org.org_id, "Contact", {**contact_values, "OwnerId": owner_id}, actor=actor)
    else:
        contact_id = contact["Id"]
        overwrite = {"LeadSource": lead["LeadSource"]} if request.overwrite_lead_source and lead["LeadSource"] else {}
        _fill_empty(sb, org, "Contact", contact, contact_values, actor, overwrite)

    opportunity_id = None
    if not request.do_not_create_opportunity:
        name = request.opportunity_name or str(lead["Company"])[:OPPORTUNITY_NAME_LENGTH]
        opportunity_id = sb.create(org.org_id, "Opportunity", {
            **_mapped(org, lead, "Opportunity", OPPORTUNITY_FIELDS), "AccountId": account_id, "Name": name,
            "StageName": _first_open_stage(org), "CloseDate": _quarter_end(datetime.now(UTC).date()).isoformat(),
            "OwnerId": owner_id}, actor=actor)

    sb.system_update(org, "Lead", lead, {
        "IsConverted": True, "Status": status, "ConvertedAccountId": account_id, "ConvertedContactId": contact_id,
        "ConvertedOpportunityId": opportunity_id, "ConvertedDate": datetime.now(UTC).date()}, actor=actor)
    return LeadConvertResult(lead["Id"], account_id, contact_id, opportunity_id)


def _lead(org: Org, lead_id: str | None) -> dict[str, Any]:
    if not lead_id:
        raise ApiError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [leadId]", ["leadId"])
    lead = _by_id(org, "Lead", lead_id)
    if lead is None:
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {lead_id}", ["leadId"])
    if lead.get("IsConverted"):
        raise ApiError(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    return lead


def _converted_status(org: Org, wanted: str | None) -> str:
    """The ApiName of a LeadStatus with IsConverted = true named by its MasterLabel or ApiName."""
    for status in org.records["LeadStatus"].values():
        if status["IsConverted"] and wanted in (status["MasterLabel"], status["ApiName"]):
            return str(status["ApiName"])
    raise ApiError(400, "INVALID_STATUS", f"invalid convertedStatus: {wanted}", [])


def _existing(org: Org, sobject: str, record_id: str | None, argument: str) -> dict[str, Any] | None:
    if not record_id:
        return None
    record = _by_id(org, sobject, record_id)
    if record is None:
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {record_id}", [argument])
    return record


def _owner(org: Org, user_id: str | None) -> str | None:
    if not user_id:
        return None
    user = _by_id(org, "User", user_id)
    if user is None or not user.get("IsActive"):
        raise ApiError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {user_id}", ["ownerId"])
    return str(user["Id"])


def _by_id(org: Org, sobject: str, record_id: str) -> dict[str, Any] | None:
    """15- or 18-character ids alike, as the API accepts both."""
    if len(record_id) not in (15, 18):
        return None
    return next((r for rid, r in org.records[sobject].items() if rid[:15] == record_id[:15]), None)


def _mapped(org: Org, lead: dict[str, Any], target: str, standard: dict[str, str]) -> dict[str, Any]:
    """The Lead's values for `target`: the standard mapping plus same-named custom fields of the same type."""
    values = {to: lead.get(source) for to, source in standard.items()}
    lead_fields = org.objects["Lead"].fields
    for name, target_field in org.objects[target].fields.items():
        source = lead_fields.get(name)
        if target_field.custom and source is not None and source.type == target_field.type:
            values[name] = lead.get(name)
    # as JSON would carry them, so the target's own validation reads them like a REST write
    return {k: render_value(v) for k, v in values.items() if v is not None and v != ""}


def _fill_empty(sb: RecordWriter, org: Org, sobject: str, record: dict[str, Any], values: dict[str, Any],
                actor: str, overwrite: dict[str, Any] | None = None) -> None:
    """Merge into an existing record: only its empty fields take the Lead's values (plus `overwrite`)."""
    fill = {k: v for k, v in values.items() if record.get(k) in (None, "")}
    fill.update(overwrite or {})
    if fill:
        sb.update(org.org_id, sobject, record["Id"], fill, actor=actor)


def _first_open_stage(org: Org) -> str:
    stages = sorted((s for s in org.records["OpportunityStage"].values() if s["IsActive"] and not s["IsClosed"]),
                    key=lambda s: s["SortOrder"])
    return str(stages[0]["ApiName"])


def _quarter_end(today: date) -> date:
    month = (today.month - 1) // 3 * 3 + 3
    return date(today.year, month, calendar.monthrange(today.year, month)[1])
