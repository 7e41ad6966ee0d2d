"""Lead conversion through the sandbox's SOAP Partner API `convertLead()`: the records it creates or fills, the
converted Lead's read-only state, per-result errors, one transaction per lead, faults, and the change feed."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.sandbox_salesforce.soap_client import convert_leads, envelope, fault, post, results
from tests.support.salesforce_sandbox import OrgEnv, Receiver

CONVERTED = "Closed - Converted"
LEAD = {
    "Salutation": "Ms.", "FirstName": "Mette", "LastName": "Hansen", "Company": "Nordic Data ApS", "Title": "CTO",
    "Email": "mette@nordicdata.dk", "Phone": "+45 11 22 33 44", "MobilePhone": "+45 55 66 77 88",
    "Website": "https://nordicdata.dk", "LeadSource": "Web", "Industry": "Technology", "NumberOfEmployees": 42,
    "AnnualRevenue": 1500000, "Description": "Asked for a demo", "Street": "Vesterbrogade 1", "City": "København",
    "State": "Hovedstaden", "PostalCode": "1620", "Country": "Denmark",
}


def new_lead(org: OrgEnv, **values: Any) -> str:
    created = org.api.post("/sobjects/Lead/", json={**LEAD, **values})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def convert(org: OrgEnv, *converts: dict[str, Any]) -> list[dict[str, Any]]:
    return results(convert_leads(org.sb.instance_url, org.token["access_token"], *converts))


def get(org: OrgEnv, sobject: str, record_id: str) -> dict[str, Any]:
    response = org.api.get(f"/sobjects/{sobject}/{record_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def count(org: OrgEnv, soql: str) -> int:
    return int(org.api.get("/query", params={"q": soql}).json()["totalSize"])


def test_conversion_creates_account_contact_and_opportunity_from_the_lead(org: OrgEnv) -> None:
    rep = org.sb.add_user(org.org_id, "rep@acme.test", name="Rita Rep")
    for sobject in ("Lead", "Account", "Contact"):
        org.sb.add_custom_field(org.org_id, sobject, "Lead_Score__c", "double")
    org.sb.add_custom_field(org.org_id, "Lead", "Campaign_Code__c", "string")  # on the Lead only: not carried
    lead_id = new_lead(org, OwnerId=rep, Lead_Score__c=87, Campaign_Code__c="SPRING")

    [result] = convert(org, {"leadId": lead_id, "convertedStatus": CONVERTED})

    assert result["success"] is True and result["errors"] == [] and result["leadId"] == lead_id
    assert result["accountId"].startswith("001") and result["contactId"].startswith("003")
    assert result["opportunityId"].startswith("006")
    account = get(org, "Account", result["accountId"])
    assert {k: account[k] for k in ("Name", "Website", "Phone", "Industry", "NumberOfEmployees", "AnnualRevenue",
                                    "Description", "BillingStreet", "BillingCity", "BillingState",
                                    "BillingPostalCode", "BillingCountry", "AccountSource", "Lead_Score__c")} == {
        "Name": "Nordic Data ApS", "Website": "https://nordicdata.dk", "Phone": "+45 11 22 33 44",
        "Industry": "Technology", "NumberOfEmployees": 42, "AnnualRevenue": 1500000.0,
        "Description": "Asked for a demo", "BillingStreet": "Vesterbrogade 1", "BillingCity": "København",
        "BillingState": "Hovedstaden", "BillingPostalCode": "1620", "BillingCountry": "Denmark",
        "AccountSource": "Web", "Lead_Score__c": 87.0}
    contact = get(org, "Contact", result["contactId"])
    assert {k: contact[k] for k in ("AccountId", "Salutation", "FirstName", "LastName", "Title", "Email", "Phone",
                                    "MobilePhone", "MailingStreet", "MailingCity", "MailingPostalCode",
                                    "MailingCountry", "LeadSource", "Description", "Lead_Score__c")} == {
        "AccountId": result["accountId"], "Salutation": "Ms.", "FirstName": "Mette", "LastName": "Hansen",
        "Title": "CTO", "Email": "mette@nordicdata.dk", "Phone": "+45 11 22 33 44", "MobilePhone": "+45 55 66 77 88",
        "MailingStreet": "Vesterbrogade 1", "MailingCity": "København", "MailingPostalCode": "1620",
        "MailingCountry": "Denmark", "LeadSource": "Web", "Description": "Asked for a demo", "Lead_Score__c": 87.0}
    deal = get(org, "Opportunity", result["opportunityId"])
    today = datetime.now(UTC).date()
    quarter_end_month = (today.month - 1) // 3 * 3 + 3
    quarter_end = today.replace(month=quarter_end_month, day=calendar.monthrange(today.year, quarter_end_month)[1])
    assert {k: deal[k] for k in ("AccountId", "Name", "StageName", "CloseDate", "LeadSource", "IsClosed")} == {
        "AccountId": result["accountId"], "Name": "Nordic Data ApS", "StageName": "Prospecting",
        "CloseDate": quarter_end.isoformat(), "LeadSource": "Web", "IsClosed": False}
    for record in (account, contact, deal):  # owned by the lead's owner, written by the session's user
        assert record["OwnerId"] == rep and record["CreatedById"] == org.admin_id
        assert record["LastModifiedById"] == org.admin_id

    lead = get(org, "Lead", lead_id)
    assert {k: lead[k] for k in ("IsConverted", "Status", "ConvertedAccountId", "ConvertedContactId",
                                 "ConvertedOpportunityId", "ConvertedDate", "LastModifiedById")} == {
        "IsConverted": True, "Status": CONVERTED, "ConvertedAccountId": result["accountId"],
        "ConvertedContactId": result["contactId"], "ConvertedOpportunityId": result["opportunityId"],
        "ConvertedDate": today.isoformat(), "LastModifiedById": org.admin_id}
    assert lead["SystemModstamp"] > lead["CreatedDate"]


def test_a_converted_lead_reads_and_queries_but_refuses_updates_and_a_second_conversion(org: OrgEnv) -> None:
    lead_id = new_lead(org)
    other = new_lead(org, LastName="Other")
    assert convert(org, {"leadId": lead_id, "convertedStatus": CONVERTED})[0]["success"] is True
    refused = [{"errorCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference converted lead",
                "fields": []}]

    patched = org.api.patch(f"/sobjects/Lead/{lead_id}", json={"Title": "CEO"})
    assert patched.status_code == 400 and patched.json() == refused
    collection = org.api.patch("/composite/sobjects", json={"records": [
        {"attributes": {"type": "Lead"}, "id": lead_id, "Title": "CEO"},
        {"attributes": {"type": "Lead"}, "id": other, "Title": "CEO"}]}).json()
    assert collection[0]["success"] is False
    assert collection[0]["errors"] == [{"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                                        "message": "cannot reference converted lead", "fields": []}]
    assert collection[1] == {"id": other, "success": True, "errors": []}
    composite = org.api.post("/composite", json={"compositeRequest": [
        {"method": "PATCH", "url": f"/services/data/v62.0/sobjects/Lead/{lead_id}", "referenceId": "upd",
         "body": {"Title": "CEO"}}]}).json()["compositeResponse"]
    assert composite[0]["httpStatusCode"] == 400 and composite[0]["body"] == refused
    assert get(org, "Lead", lead_id)["Title"] == "CTO"

    [again] = convert(org, {"leadId": lead_id, "convertedStatus": CONVERTED})
    assert again["success"] is False and again["accountId"] is None and again["leadId"] == lead_id
    assert again["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert count(org, "SELECT Id FROM Account") == 1
    converted = org.api.get("/query", params={"q": "SELECT Id, IsConverted FROM Lead WHERE IsConverted = true"})
    assert [r["Id"] for r in converted.json()["records"]] == [lead_id]


def test_merge_into_an_existing_account_and_contact_fills_only_empty_fields(org: OrgEnv) -> None:
    rep = org.sb.add_user(org.org_id, "rep@acme.test", name="Rita Rep")
    account = org.api.post("/sobjects/Account/", json={"Name": "Nordic Data A/S", "Phone": "+45 99 99 99 99"}
                           ).json()["id"]
    contact = org.api.post("/sobjects/Contact/", json={"AccountId": account, "LastName": "Hansen",
                                                       "Email": "old@nordicdata.dk", "LeadSource": "Other"}
                           ).json()["id"]
    lead_id = new_lead(org)

    [result] = convert(org, {"leadId": lead_id, "convertedStatus": CONVERTED, "accountId": account,
                             "contactId": contact, "doNotCreateOpportunity": True, "overwriteLeadSource": True,
                             "ownerId": rep})

    assert result["success"] is True, result["errors"]
    assert (result["accountId"], result["contactId"], result["opportunityId"]) == (account, contact, None)
    merged = get(org, "Account", account)
    assert merged["Name"] == "Nordic Data A/S" and merged["Phone"] == "+45 99 99 99 99"  # kept
    assert merged["Website"] == "https://nordicdata.dk" and merged["BillingCity"] == "København"  # were empty
    assert merged["OwnerId"] == org.admin_id  # ownerId is for new records only
    person = get(org, "Contact", contact)
    assert person["Email"] == "old@nordicdata.dk" and person["Title"] == "CTO"
    assert person["LeadSource"] == "Web"  # overwriteLeadSource
    assert count(org, "SELECT Id FROM Account") == 1 and count(org, "SELECT Id FROM Contact") == 1
    assert count(org, "SELECT Id FROM Opportunity") == 0
    assert get(org, "Lead", lead_id)["ConvertedOpportunityId"] is None


def test_no_opportunity_a_new_owner_and_an_opportunity_name(org: OrgEnv) -> None:
    rep = org.sb.add_user(org.org_id, "rep@acme.test", name="Rita Rep")
    first, second = new_lead(org), new_lead(org, Company="Second Co")

    without, named = convert(org, {"leadId": first, "convertedStatus": CONVERTED, "doNotCreateOpportunity": True},
                             {"leadId": second, "convertedStatus": CONVERTED, "opportunityName": "Second - pilot",
                              "ownerId": rep})

    assert without["success"] and without["opportunityId"] is None
    assert named["success"] and get(org, "Opportunity", named["opportunityId"])["Name"] == "Second - pilot"
    assert get(org, "Account", named["accountId"])["OwnerId"] == rep
    assert count(org, "SELECT Id FROM Opportunity") == 1


def test_failures_come_back_per_result_in_order_and_write_nothing(org: OrgEnv) -> None:
    good, bad_status, contact_refused = new_lead(org), new_lead(org), new_lead(org, LastName="Berg")
    org.sb.add_custom_field(org.org_id, "Contact", "Region__c", "string", required=True)  # the Lead has none

    answers = convert(org, {"leadId": bad_status, "convertedStatus": "Open - Not Contacted"},
                      {"leadId": "00Q000000000000AAA", "convertedStatus": CONVERTED},
                      {"convertedStatus": CONVERTED},
                      {"leadId": contact_refused, "convertedStatus": CONVERTED},
                      {"leadId": good, "convertedStatus": CONVERTED, "accountId": "001000000000000AAA"})

    assert [a["success"] for a in answers] == [False] * 5
    assert answers[0]["errors"] == [{"statusCode": "INVALID_STATUS", "fields": [],
                                     "message": "invalid convertedStatus: Open - Not Contacted"}]
    assert answers[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert answers[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING" and answers[2]["leadId"] is None
    # the Account was created before the Contact failed: one transaction per lead, so it is gone again
    assert answers[3]["errors"] == [{"statusCode": "REQUIRED_FIELD_MISSING", "fields": ["Region__c"],
                                     "message": "Required fields are missing: [Region__c]"}]
    assert answers[4]["errors"][0]["fields"] == ["accountId"]
    assert count(org, "SELECT Id FROM Account") == 0 and count(org, "SELECT Id FROM Contact") == 0
    assert count(org, "SELECT Id FROM Lead WHERE IsConverted = true") == 0
    assert get(org, "Lead", bad_status)["Status"] == "Open - Not Contacted"


def test_a_bad_session_or_envelope_is_a_soap_fault(org: OrgEnv) -> None:
    lead_id = new_lead(org)
    request = {"leadId": lead_id, "convertedStatus": CONVERTED}
    url = org.sb.instance_url
    invalid = ("sf:INVALID_SESSION_ID",
               "INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal Session")
    assert fault(convert_leads(url, None, request)) == invalid
    assert fault(convert_leads(url, "00D000000000000!AQnope", request)) == invalid
    bearer_only = org.api.post(f"{url}/services/Soap/u/62.0", content=envelope(
        None, f"<convertLead><leadConverts><leadId>{lead_id}</leadId></leadConverts></convertLead>").encode(),
        headers={"Content-Type": "text/xml"})  # the Bearer header is not how SOAP authenticates
    assert fault(bearer_only) == invalid

    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           + envelope(org.token["access_token"], "<convertLead><leadConverts><leadId>&e;</leadId>"
                                                 "</leadConverts></convertLead>"))
    assert fault(post(url, xxe))[0] == "soapenv:Client"
    assert fault(post(url, "not xml"))[0] == "soapenv:Client"
    assert fault(post(url, envelope(org.token["access_token"], "<upsert/>")))[0] == "soapenv:Client"
    assert fault(convert_leads(url, org.token["access_token"], {**request, "leadID": lead_id}))[0] == (
        "soapenv:Client")
    assert fault(convert_leads(url, org.token["access_token"], {**request, "doNotCreateOpportunity": "maybe"}))[
        0] == "soapenv:Client"

    usage = org.sb.org(org.org_id).api_usage
    org.sb.set_api_usage(org.org_id, usage, limit=usage)
    assert fault(convert_leads(url, org.token["access_token"], request)) == (
        "sf:REQUEST_LIMIT_EXCEEDED", "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.")
    org.sb.set_api_usage(org.org_id, 0, limit=100_000)
    org.sb.expire_sessions(org.org_id)
    assert fault(convert_leads(url, org.token["access_token"], request)) == invalid
    assert org.sb.get(org.org_id, "Lead", lead_id)["IsConverted"] is False


def test_converted_records_show_in_the_change_feed_and_outbound_messages(org: OrgEnv, receiver: Receiver) -> None:
    lead_id = new_lead(org)
    org.sb.add_outbound_message(org.org_id, "Lead", receiver.url, ["Id", "IsConverted", "ConvertedAccountId"])
    org.sb.tick_outbound(force=True)  # the lead's creation
    since = datetime.now(UTC) - timedelta(milliseconds=1)
    bookmark = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    usage = org.sb.org(org.org_id).api_usage

    [result] = convert(org, {"leadId": lead_id, "convertedStatus": CONVERTED})

    assert org.sb.org(org.org_id).api_usage == usage + 1  # one API call, like one REST call
    assert org.sb.call_counts(org.org_id)["SOAP convertLead"] == 1
    changed = {s: [r["Id"] for r in org.api.get("/query", params={
        "q": f"SELECT Id FROM {s} WHERE SystemModstamp >= {bookmark}"}).json()["records"]]
        for s in ("Account", "Contact", "Opportunity", "Lead")}
    assert changed == {"Account": [result["accountId"]], "Contact": [result["contactId"]],
                       "Opportunity": [result["opportunityId"]], "Lead": [lead_id]}
    updated = org.api.get("/sobjects/Lead/updated/", params={"start": since.isoformat()}).json()
    assert updated["ids"] == [lead_id]
    attempts = org.sb.tick_outbound(force=True)
    assert len(attempts) == 1 and attempts[0].acked
    assert b"<sf:IsConverted>true</sf:IsConverted>" in attempts[0].body
    assert f"<sf:ConvertedAccountId>{result['accountId']}</sf:ConvertedAccountId>".encode() in attempts[0].body
