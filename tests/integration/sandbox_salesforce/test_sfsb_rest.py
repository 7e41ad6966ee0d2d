"""The sandbox's REST API: sObject CRUD, describe, validation errors, SOQL with paging, collections, composite,
replication, limits and faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.salesforce_sandbox import OrgEnv


def test_crud_and_describe(org: OrgEnv) -> None:
    created = org.api.post("/sobjects/Account/", json={"Name": "Acme A/S", "Website": "acme.dk"})
    assert created.status_code == 201 and created.json()["success"] is True
    account_id = created.json()["id"]
    assert len(account_id) == 18 and account_id.startswith("001")
    got = org.api.get(f"/sobjects/Account/{account_id}").json()
    assert got["attributes"] == {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{account_id}"}
    assert got["Name"] == "Acme A/S" and got["OwnerId"] == org.admin_id
    assert got["SystemModstamp"].endswith("+0000")
    assert org.api.patch(f"/sobjects/Account/{account_id}", json={"Phone": "+4512345678"}).status_code == 204
    assert org.api.get(f"/sobjects/Account/{account_id[:15]}", params={"fields": "Phone"}).json()["Phone"] == (
        "+4512345678")
    assert org.api.delete(f"/sobjects/Account/{account_id}").status_code == 204
    gone = org.api.get(f"/sobjects/Account/{account_id}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"

    describe = org.api.get("/sobjects/Lead/describe").json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["keyPrefix"] == "00Q"
    required = sorted(n for n, f in fields.items() if f["createable"] and not f["nillable"]
                      and not f["defaultedOnCreate"])
    assert required == ["Company", "LastName"]
    assert fields["Status"]["restrictedPicklist"] and fields["Status"]["defaultValue"] == "Open - Not Contacted"
    assert fields["Email"]["type"] == "email" and fields["LastName"]["length"] == 80
    names = [o["name"] for o in org.api.get("/sobjects/").json()["sobjects"]]
    assert {"Account", "Contact", "Lead", "Opportunity", "Task", "User", "OpportunityStage"} <= set(names)


def test_validation_errors_have_the_real_bodies(org: OrgEnv) -> None:
    org.sb.add_custom_field(org.org_id, "Account", "Region__c", "picklist", picklist=["North", "South"],
                            restricted=True, required=True)
    missing = org.api.post("/sobjects/Account/", json={"Name": "X"})
    assert missing.status_code == 400
    assert missing.json() == [{"message": "Required fields are missing: [Region__c]",
                               "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Region__c"]}]
    bad = org.api.post("/sobjects/Account/", json={"Name": "X", "Region__c": "East"}).json()
    assert bad == [{"message": "Region: bad value for restricted picklist field: East",
                    "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["Region__c"]}]
    long = org.api.post("/sobjects/Account/", json={"Name": "x" * 256, "Region__c": "North"}).json()
    assert long[0]["errorCode"] == "STRING_TOO_LONG" and long[0]["fields"] == ["Name"]
    unknown = org.api.post("/sobjects/Account/", json={"Name": "X", "Nope__c": 1}).json()
    assert unknown[0]["errorCode"] == "INVALID_FIELD"
    read_only = org.api.post("/sobjects/Opportunity/", json={"Name": "D", "StageName": "Prospecting",
                                                             "CloseDate": "2030-01-01", "IsWon": True}).json()
    assert read_only[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert org.api.post("/sobjects/Nope__c/", json={}).status_code == 404
    assert org.api.post("/sobjects/Account/", content=b"{nope", headers={"Content-Type": "application/json"}
                        ).json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_opportunity_and_task_derive_closed_won_and_account(org: OrgEnv) -> None:
    account = org.api.post("/sobjects/Account/", json={"Name": "Acme"}).json()["id"]
    deal = org.api.post("/sobjects/Opportunity/", json={"Name": "D", "StageName": "Closed Won",
                                                        "CloseDate": "2030-01-01", "AccountId": account}).json()["id"]
    got = org.api.get(f"/sobjects/Opportunity/{deal}").json()
    assert got["IsWon"] is True and got["IsClosed"] is True and got["Probability"] == 100
    task = org.api.post("/sobjects/Task/", json={"Subject": "Call", "WhatId": deal}).json()["id"]
    got_task = org.api.get(f"/sobjects/Task/{task}").json()
    assert got_task["AccountId"] == account and got_task["Status"] == "Not Started" and got_task["IsClosed"] is False


def test_soql_filters_order_and_paging(org: OrgEnv) -> None:
    for i in range(7):
        org.api.post("/sobjects/Account/", json={"Name": f"Co {i}", "NumberOfEmployees": i * 10,
                                                 "Website": f"co{i}.dk" if i % 2 else None})
    q = ("SELECT Id, Name, NumberOfEmployees FROM Account WHERE (NumberOfEmployees >= 20 AND Name LIKE 'co%') "
         "OR Name IN ('Co 0') ORDER BY NumberOfEmployees DESC LIMIT 10")
    first = org.api.get("/query", params={"q": q}).json()
    assert first["totalSize"] == 6 and first["done"] is False and len(first["records"]) == 3
    assert [r["Name"] for r in first["records"]] == ["Co 6", "Co 5", "Co 4"]
    second = httpx.get(f"{org.sb.instance_url}{first['nextRecordsUrl']}", headers=org.api.headers).json()
    assert [r["Name"] for r in second["records"]] == ["Co 3", "Co 2", "Co 0"] and second["done"] is True
    none_site = org.api.get("/query", params={"q": "SELECT Id FROM Account WHERE Website = null"}).json()
    assert none_site["totalSize"] == 4
    count = org.api.get("/query", params={"q": "SELECT COUNT() FROM Account WHERE Website != null"}).json()
    assert count["totalSize"] == 3 and count["records"] == []
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = org.api.get("/query", params={"q": f"SELECT Id FROM Account WHERE SystemModstamp >= {since} "
                                                 "AND CreatedDate = TODAY"}).json()
    assert recent["totalSize"] == 7


@pytest.mark.parametrize(("soql", "code"), [
    ("SELECT Id FROM", "MALFORMED_QUERY"),
    ("SELECT Id, Bogus FROM Account", "INVALID_FIELD"),
    ("SELECT Id FROM Bogus", "INVALID_TYPE"),
    ("SELECT Id FROM Account WHERE Name ~ 'x'", "MALFORMED_QUERY"),
])
def test_bad_soql_is_400_with_the_code(org: OrgEnv, soql: str, code: str) -> None:
    response = org.api.get("/query", params={"q": soql})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == code


def test_collections_per_record_results_and_all_or_none(org: OrgEnv) -> None:
    account = org.api.post("/sobjects/Account/", json={"Name": "Acme"}).json()["id"]
    records = [
        {"attributes": {"type": "Contact"}, "LastName": "Hansen", "AccountId": account},
        {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
        {"attributes": {"type": "Contact"}, "LastName": "Berg", "Email": "not-an-email"},
    ]
    mixed = org.api.post("/composite/sobjects", json={"allOrNone": False, "records": records}).json()
    assert mixed[0]["success"] is True and mixed[0]["id"].startswith("003")
    assert mixed[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING" and mixed[1]["success"] is False
    assert mixed[2]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    rolled = org.api.post("/composite/sobjects", json={"allOrNone": True, "records": records}).json()
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    contacts = org.api.get("/query", params={"q": "SELECT Id FROM Contact"}).json()
    assert contacts["totalSize"] == 1  # nothing of the all-or-none call was written
    updated = org.api.patch("/composite/sobjects", json={"records": [
        {"attributes": {"type": "Contact"}, "id": mixed[0]["id"], "Title": "CEO"}]}).json()
    assert updated == [{"id": mixed[0]["id"], "success": True, "errors": []}]
    too_many = org.api.post("/composite/sobjects", json={"records": [records[0]] * 201})
    assert too_many.status_code == 400


def test_composite_references_earlier_results(org: OrgEnv) -> None:
    body = {"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "acc",
         "body": {"Name": "Comp"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "con",
         "body": {"LastName": "L", "AccountId": "@{acc.id}"}},
        {"method": "GET", "url": "/services/data/v62.0/sobjects/Contact/@{con.id}?fields=AccountId",
         "referenceId": "read"},
    ]}
    result = org.api.post("/composite", json=body).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [201, 201, 200]
    assert result[2]["body"]["AccountId"] == result[0]["body"]["id"]
    assert org.sb.call_counts(org.org_id)["POST /composite"] == 1


def test_deleted_and_updated_windows(org: OrgEnv) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    ids = [org.api.post("/sobjects/Lead/", json={"LastName": f"L{i}", "Company": "C"}).json()["id"] for i in range(3)]
    org.api.delete(f"/sobjects/Lead/{ids[1]}")
    deleted = org.api.get("/sobjects/Lead/deleted/", params={"start": start}).json()
    assert [d["id"] for d in deleted["deletedRecords"]] == [ids[1]]
    assert deleted["latestDateCovered"].endswith("+0000")
    updated = org.api.get("/sobjects/Lead/updated/", params={"start": start}).json()
    assert sorted(updated["ids"]) == sorted([ids[0], ids[2]])


def test_limit_header_and_request_limit_exceeded(org: OrgEnv) -> None:
    org.sb.set_api_usage(org.org_id, 98, limit=100)
    first = org.api.get("/limits")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=99/100"
    assert first.json()["DailyApiRequests"] == {"Max": 100, "Remaining": 1}
    org.api.get("/limits")
    over = org.api.get("/limits")
    assert over.status_code == 403
    assert over.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_faults_and_call_counts(org: OrgEnv) -> None:
    org.sb.inject_fault("503", count=1, path_prefix="/query")
    org.sb.inject_fault("403", count=1, path_prefix="/sobjects/Account", method="POST")
    unavailable = org.api.get("/query", params={"q": "SELECT Id FROM Account"})
    assert unavailable.status_code == 503 and unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert org.api.get("/query", params={"q": "SELECT Id FROM Account"}).status_code == 200
    limited = org.api.post("/sobjects/Account/", json={"Name": "x"})
    assert limited.status_code == 403 and limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    org.sb.inject_fault("401", count=1)
    assert org.api.get("/limits").json()[0]["errorCode"] == "INVALID_SESSION_ID"
    counts = org.sb.call_counts(org.org_id)
    assert counts["GET /query"] == 2 and counts["POST /sobjects/Account"] == 1 and counts["GET /limits"] == 1
    token_fault = org.sb.inject_fault("503", path_prefix="/services/oauth2/token")
    assert org.token_call(grant_type="refresh_token", refresh_token="x", client_id="cid").status_code == 503
    assert token_fault.count == 0


def test_admin_http(org: OrgEnv) -> None:
    admin = f"{org.sb.login_base}/__admin"
    assert "endpoints" in httpx.get(admin).json()
    made = httpx.post(f"{admin}/orgs/{org.org_id}/records/Lead", json={"LastName": "A", "Company": "B"})
    assert made.status_code == 201
    refused = httpx.post(f"{admin}/orgs/{org.org_id}/records/Lead", json={"LastName": "A"})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert httpx.post(f"{admin}/faults", json={"kind": "503", "path_prefix": "/limits"}).status_code == 201
    assert org.api.get("/limits").status_code == 503
    assert httpx.get(f"{admin}/orgs/{org.org_id}/calls").json()["GET /limits"] == 1
