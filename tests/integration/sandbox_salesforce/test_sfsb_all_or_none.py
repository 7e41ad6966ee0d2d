"""All-or-none writes: `POST /composite` and sObject Collections with `allOrNone: true` undo every write of the
request on any failure (records, replication windows, Outbound Messages); without it, earlier writes stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.salesforce_sandbox import OrgEnv, Receiver

V = "/services/data/v62.0"
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction failed."}]
ROLLED_BACK = [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all "
                "records were valid and the request was using AllOrNone header", "fields": []}]


def count(org: OrgEnv, sobject: str) -> int:
    return int(org.api.get("/query", params={"q": f"SELECT COUNT() FROM {sobject}"}).json()["totalSize"])


def composite(org: OrgEnv, all_or_none: bool, *subrequests: dict[str, Any]) -> list[dict[str, Any]]:
    response = org.api.post("/composite", json={"allOrNone": all_or_none, "compositeRequest": list(subrequests)})
    assert response.status_code == 200, response.text
    return list(response.json()["compositeResponse"])


def test_composite_all_or_none_undoes_every_write_when_one_subrequest_fails(org: OrgEnv, receiver: Receiver) -> None:
    kept = org.api.post("/sobjects/Account/", json={"Name": "Kept"}).json()["id"]
    doomed = org.api.post("/sobjects/Account/", json={"Name": "Not deleted"}).json()["id"]
    before = org.api.get(f"/sobjects/Account/{kept}").json()
    org.sb.add_outbound_message(org.org_id, "Account", receiver.url)
    start = (datetime.now(UTC) - timedelta(milliseconds=1)).isoformat()

    answers = composite(org, True,
                        {"method": "PATCH", "url": f"{V}/sobjects/Account/{kept}", "referenceId": "rename",
                         "body": {"Name": "Renamed"}},
                        {"method": "DELETE", "url": f"{V}/sobjects/Account/{doomed}", "referenceId": "drop"},
                        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acc",
                         "body": {"Name": "New Co"}},
                        {"method": "POST", "url": f"{V}/sobjects/Opportunity", "referenceId": "deal",
                         "body": {"Name": "Deal", "StageName": "Prospecting", "AccountId": "@{acc.id}"}},
                        {"method": "GET", "url": f"{V}/sobjects/Account/@{{acc.id}}", "referenceId": "read"})

    assert [(a["referenceId"], a["httpStatusCode"]) for a in answers] == [
        ("rename", 400), ("drop", 400), ("acc", 400), ("deal", 400), ("read", 400)]
    assert answers[3]["body"] == [{"message": "Required fields are missing: [CloseDate]",
                                   "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["CloseDate"]}]
    for answer in (answers[0], answers[1], answers[2], answers[4]):
        assert answer["body"] == HALTED
    assert count(org, "Account") == 2 and count(org, "Opportunity") == 0
    assert org.api.get(f"/sobjects/Account/{kept}").json() == before  # name and SystemModstamp as they were
    assert org.api.get(f"/sobjects/Account/{doomed}").status_code == 200
    assert org.api.get("/sobjects/Account/updated/", params={"start": start}).json()["ids"] == []
    assert org.api.get("/sobjects/Account/deleted/", params={"start": start}).json()["deletedRecords"] == []
    assert org.sb.tick_outbound(force=True) == [] and receiver.bodies == []


def test_composite_all_or_none_that_succeeds_commits_and_sends_outbound_messages(
        org: OrgEnv, receiver: Receiver) -> None:
    org.sb.add_outbound_message(org.org_id, "Account", receiver.url, ["Id", "Name"])
    answers = composite(org, True,
                        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acc",
                         "body": {"Name": "New Co"}},
                        {"method": "POST", "url": f"{V}/sobjects/Opportunity", "referenceId": "deal",
                         "body": {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2030-01-31",
                                  "AccountId": "@{acc.id}"}})
    assert [a["httpStatusCode"] for a in answers] == [201, 201]
    assert count(org, "Account") == 1 and count(org, "Opportunity") == 1
    attempts = org.sb.tick_outbound(force=True)
    assert len(attempts) == 1 and attempts[0].acked and b"<sf:Name>New Co</sf:Name>" in attempts[0].body


def test_composite_without_all_or_none_keeps_earlier_writes_and_halts_what_refers_to_a_failure(org: OrgEnv) -> None:
    answers = composite(org, False,
                        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acc",
                         "body": {"Name": "Stays"}},
                        {"method": "POST", "url": f"{V}/sobjects/Opportunity", "referenceId": "deal",
                         "body": {"Name": "Deal", "StageName": "Prospecting"}},
                        {"method": "POST", "url": f"{V}/sobjects/Task", "referenceId": "task",
                         "body": {"Subject": "Call", "WhatId": "@{deal.id}"}},
                        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "con",
                         "body": {"LastName": "Berg", "AccountId": "@{acc.id}"}})

    assert [a["httpStatusCode"] for a in answers] == [201, 400, 400, 201]
    assert answers[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert answers[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert count(org, "Account") == 1 and count(org, "Contact") == 1 and count(org, "Task") == 0


def test_collections_all_or_none_writes_nothing_when_a_record_fails(org: OrgEnv) -> None:
    account = org.api.post("/sobjects/Account/", json={"Name": "Acme"}).json()["id"]
    lead = org.api.post("/sobjects/Lead/", json={"LastName": "L", "Company": "C"}).json()["id"]
    assert org.sb.convert_lead(org.org_id, lead, "Closed - Converted", do_not_create_opportunity=True).success
    accounts_before = count(org, "Account")

    updates = org.api.patch("/composite/sobjects", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "id": account, "Name": "Renamed"},
        {"attributes": {"type": "Lead"}, "id": lead, "Title": "CEO"}]}).json()
    assert updates[0]["errors"] == ROLLED_BACK and updates[0]["success"] is False
    assert updates[1]["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert org.api.get(f"/sobjects/Account/{account}").json()["Name"] == "Acme"

    # valid field by field, refused only when written (User takes no inserts): the Account before it is undone
    creates = org.api.post("/composite/sobjects", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": "Would be new"},
        {"attributes": {"type": "User"}, "LastName": "U", "Username": "u@acme.test", "Email": "u@acme.test"}]}
                           ).json()
    assert creates[0]["errors"] == ROLLED_BACK
    assert creates[1]["errors"][0]["statusCode"] == "INVALID_TYPE_FOR_OPERATION"
    assert count(org, "Account") == accounts_before

    partial = org.api.post("/composite/sobjects", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Name": "Is new"},
        {"attributes": {"type": "User"}, "LastName": "U", "Username": "u@acme.test", "Email": "u@acme.test"}]}
                           ).json()
    assert partial[0]["success"] is True and partial[1]["success"] is False
    assert count(org, "Account") == accounts_before + 1
