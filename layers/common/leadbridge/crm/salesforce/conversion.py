"""Lead conversion (Lead mode): Salesforce's documented call is the SOAP API's `convertLead()` (reference §11.1;
REST has no sObject operation for it). One request to `{instance_url}/services/Soap/u/{version}` with the OAuth access
token as the `SessionHeader` session id converts one Lead into an Account, a Contact and, unless asked not to, an
Opportunity; the Lead then reads `IsConverted = true` and is read-only.

After conversion the app lead lives on in the Account and Contact. Lead mode's field mappings name Lead fields, so
the connector reads and writes those records through Salesforce's standard Lead field mapping (the same one the
conversion applies): `Company` is the Account's `Name`, `Street` its `BillingStreet`, and a custom field keeps its API
name on every object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from leadbridge.errors import CrmError, CrmRejected, CrmUnavailable, NeedsReauth

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"

# Lead field → the converted Account's / Contact's field (Salesforce's standard lead field mapping).
LEAD_TO_ACCOUNT = {
    "Company": "Name", "Website": "Website", "Phone": "Phone", "Industry": "Industry",
    "NumberOfEmployees": "NumberOfEmployees", "AnnualRevenue": "AnnualRevenue", "Description": "Description",
    "Street": "BillingStreet", "City": "BillingCity", "State": "BillingState", "PostalCode": "BillingPostalCode",
    "Country": "BillingCountry", "LeadSource": "AccountSource", "OwnerId": "OwnerId",
}  # fmt: skip
LEAD_TO_CONTACT = {
    "Salutation": "Salutation", "FirstName": "FirstName", "LastName": "LastName", "Title": "Title", "Email": "Email",
    "Phone": "Phone", "MobilePhone": "MobilePhone", "Street": "MailingStreet", "City": "MailingCity",
    "State": "MailingState", "PostalCode": "MailingPostalCode", "Country": "MailingCountry",
    "LeadSource": "LeadSource", "Description": "Description", "OwnerId": "OwnerId",
}  # fmt: skip
TARGET_MAPS = {"Account": LEAD_TO_ACCOUNT, "Contact": LEAD_TO_CONTACT}
# What every record has, whatever the object: kept under its own name.
SYSTEM_FIELDS = ("Id", "SystemModstamp", "LastModifiedDate", "LastModifiedById", "CreatedDate", "CreatedById",
                 "IsDeleted", "AccountId")  # fmt: skip


@dataclass(frozen=True)
class Conversion:
    """The records a converted Lead became."""

    lead_id: str
    account_id: str
    contact_id: str
    opportunity_id: str | None


def to_target(sobject: str, lead_fields: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Lead-named values as the converted `sobject`'s fields, and the Lead fields it has no counterpart for."""
    mapping = TARGET_MAPS[sobject]
    out: dict[str, Any] = {}
    left_out: list[str] = []
    for name, value in lead_fields.items():
        target = mapping.get(name) or (name if name.endswith("__c") else None)
        if target is None:
            left_out.append(name)
        else:
            out[target] = value
    return out, left_out


def from_target(sobject: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A converted Account's / Contact's values under the Lead field names the settings map."""
    back = {target: lead for lead, target in TARGET_MAPS[sobject].items()}
    out = {name: value for name, value in fields.items() if name in SYSTEM_FIELDS}
    for name, value in fields.items():
        lead_name = back.get(name) or (name if name.endswith("__c") else None)
        if lead_name is not None:
            out[lead_name] = value
    return out


def convert_lead_envelope(
    session_id: str, lead_id: str, converted_status: str, *, opportunity_name: str | None, create_opportunity: bool
) -> bytes:
    """The SOAP request of one `convertLead` (elements in the Partner WSDL's order)."""
    parts = [
        f"<urn:convertedStatus>{escape(converted_status)}</urn:convertedStatus>",
        f"<urn:doNotCreateOpportunity>{'false' if create_opportunity else 'true'}</urn:doNotCreateOpportunity>",
        f"<urn:leadId>{escape(lead_id)}</urn:leadId>",
    ]
    if create_opportunity and opportunity_name:
        parts.append(f"<urn:opportunityName>{escape(opportunity_name[:120])}</urn:opportunityName>")
    parts += ["<urn:overwriteLeadSource>false</urn:overwriteLeadSource>",
              "<urn:sendNotificationEmail>false</urn:sendNotificationEmail>"]  # fmt: skip
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:urn="{PARTNER_NS}">'
        f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{escape(session_id)}</urn:sessionId>"
        "</urn:SessionHeader></soapenv:Header>"
        f"<soapenv:Body><urn:convertLead><urn:leadConverts>{''.join(parts)}</urn:leadConverts></urn:convertLead>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def parse_conversion(status: int, body: bytes) -> Conversion:
    """The `convertLead` answer: the converted records, or the error (a fault or a failed result)."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 — Salesforce's answer; the parser resolves no entities
    except ElementTree.ParseError as exc:
        raise CrmUnavailable(f"Salesforce convertLead answered HTTP {status} with a body that is not XML") from exc
    fault = root.find(f".//{{{SOAP_NS}}}Fault")
    if fault is not None:
        raise _fault(status, fault.findtext("faultcode") or "", fault.findtext("faultstring") or "")
    result = root.find(f".//{{{PARTNER_NS}}}result")
    if result is None:
        raise CrmUnavailable("Salesforce convertLead answered without a result")

    def text(name: str) -> str | None:
        value = result.findtext(f"{{{PARTNER_NS}}}{name}")
        return value.strip() if value and value.strip() else None

    if text("success") != "true":
        errors = result.findall(f"{{{PARTNER_NS}}}errors")
        codes = [e.findtext(f"{{{PARTNER_NS}}}statusCode") or "" for e in errors]
        messages = [e.findtext(f"{{{PARTNER_NS}}}message") or "" for e in errors]
        fields = [f.text or "" for e in errors for f in e.findall(f"{{{PARTNER_NS}}}fields") if f.text]
        reason = "; ".join(f"{c}: {m}" for c, m in zip(codes, messages, strict=True)) or "conversion failed"
        error = CrmRejected(f"Salesforce refused to convert the Lead: {reason}", fields=fields, status=status)
        error.details["status_codes"] = codes
        raise error
    account, contact, lead = text("accountId"), text("contactId"), text("leadId")
    if not (account and contact and lead):
        raise CrmUnavailable("Salesforce convertLead succeeded without the Account, Contact and Lead ids")
    return Conversion(lead_id=lead, account_id=account, contact_id=contact, opportunity_id=text("opportunityId"))


def _fault(status: int, code: str, message: str) -> CrmError:
    local = code.rpartition(":")[2]
    if local == "INVALID_SESSION_ID":
        return NeedsReauth(f"Salesforce rejected the session during convertLead: {message[:200]}")
    if local in ("REQUEST_LIMIT_EXCEEDED", "UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE") or status >= 502:
        return CrmUnavailable(f"Salesforce failed convertLead: {code}: {message[:300]}")
    return CrmRejected(f"Salesforce refused convertLead: {code}: {message[:300]}", status=status)
