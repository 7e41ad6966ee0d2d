"""Composite Graph, `POST composite/graph` (reference §5.3): each graph is its own all-or-none transaction, graphs are
independent, references stay within a graph, more than 14 failed graphs halt the rest, and a request that breaks a
limit or rule is refused whole (400 INVALID_INPUT, nothing written). One API call however many graphs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.salesforce_sandbox import OrgEnv, Receiver

V = "/services/data/v62.0"
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same transaction failed."}]
MISSING_CLOSE_DATE = [{"message": "Required fields are missing: [CloseDate]", "errorCode": "REQUIRED_FIELD_MISSING",
                       "fields": ["CloseDate"]}]


def node(ref: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"method": method, "url": f"{V}{path}", "referenceId": ref}
    if body is not None:
        out["body"] = body
    return out


def new_account(ref: str, name: str, **fields: Any) -> dict[str, Any]:
    return node(ref, "POST", "/sobjects/Account", {"Name": name, **fields})


def bad_deal(ref: str) -> dict[str, Any]:
    """Fails when run: an Opportunity needs a CloseDate."""
    return node(ref, "POST", "/sobjects/Opportunity", {"Name": "Deal", "StageName": "Prospecting"})


def graphs(org: OrgEnv, *items: tuple[str, list[dict[str, Any]]]) -> httpx.Response:
    return org.api.post("/composite/graph", json={"graphs": [
        {"graphId": graph_id, "compositeRequest": nodes} for graph_id, nodes in items]})


def answered(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return list(response.json()["graphs"])


def names(org: OrgEnv, sobject: str = "Account") -> list[str]:
    """Every record's Name, following the query's pages (the sandbox fixture pages by 3)."""
    page = org.api.get("/query", params={"q": f"SELECT Name FROM {sobject} ORDER BY Name"}).json()
    rows = page["records"]
    while not page["done"]:
        page = org.api.get(page["nextRecordsUrl"].removeprefix(V)).json()
        rows += page["records"]
    return [r["Name"] for r in rows]


def usage(response: httpx.Response) -> int:
    return int(response.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])


def test_a_failed_graph_is_rolled_back_while_the_others_commit(org: OrgEnv, receiver: Receiver) -> None:
    kept = org.api.post("/sobjects/Account/", json={"Name": "Existing"}).json()["id"]
    doomed = org.api.post("/sobjects/Account/", json={"Name": "Not deleted"}).json()["id"]
    org.sb.add_outbound_message(org.org_id, "Account", receiver.url, ["Id", "Name"])
    # The replication window starts after the two were written (their stamps have milliseconds; a clock read right
    # after writing them can fall in the same millisecond).
    stamps = [org.sb.get(org.org_id, "Account", record_id)["SystemModstamp"] for record_id in (kept, doomed)]
    start = (max(stamps) + timedelta(milliseconds=1)).isoformat()
    used_before = usage(org.api.get("/limits"))
    calls_before = org.sb.call_counts(org.org_id)

    response = graphs(
        org,
        ("g1", [new_account("acc", "Alpha"),
                node("con", "POST", "/sobjects/Contact", {"LastName": "Berg", "AccountId": "@{acc.id}"})]),
        ("g2", [node("rename", "PATCH", f"/sobjects/Account/{kept}", {"Name": "Renamed"}),
                node("drop", "DELETE", f"/sobjects/Account/{doomed}"),
                new_account("acc", "Beta"),
                bad_deal("deal"),
                node("con", "POST", "/sobjects/Contact", {"LastName": "Never", "AccountId": "@{acc.id}"})]),
        ("g3", [new_account("acc", "Gamma")]),
    )

    g1, g2, g3 = answered(response)
    assert [g["graphId"] for g in (g1, g2, g3)] == ["g1", "g2", "g3"]
    assert (g1["isSuccessful"], g2["isSuccessful"], g3["isSuccessful"]) == (True, False, True)
    acc, con = g1["graphResponse"]["compositeResponse"]
    assert acc == {"body": {"id": acc["body"]["id"], "success": True, "errors": []}, "httpHeaders": {},
                   "httpStatusCode": 201, "referenceId": "acc"}
    assert org.api.get(f"/sobjects/Contact/{con['body']['id']}").json()["AccountId"] == acc["body"]["id"]
    failed = g2["graphResponse"]["compositeResponse"]
    assert [(a["referenceId"], a["httpStatusCode"]) for a in failed] == [
        ("rename", 400), ("drop", 400), ("acc", 400), ("deal", 400), ("con", 400)]
    assert failed[3]["body"] == MISSING_CLOSE_DATE
    assert all(a["body"] == HALTED for i, a in enumerate(failed) if i != 3)

    # g2 left no trace: its rename, delete and new Account are undone, in the replication windows too
    assert names(org) == ["Alpha", "Existing", "Gamma", "Not deleted"]
    assert names(org, "Contact") == ["Berg"]
    updated = set(org.api.get("/sobjects/Account/updated/", params={"start": start}).json()["ids"])
    assert kept not in updated and doomed not in updated
    assert org.api.get("/sobjects/Account/deleted/", params={"start": start}).json()["deletedRecords"] == []
    # Outbound Messages only for what committed
    sent = b"".join(a.body for a in org.sb.tick_outbound(force=True))
    assert b"Alpha" in sent and b"Gamma" in sent and b"Beta" not in sent and b"Renamed" not in sent

    # one API call for the whole request
    assert usage(response) == used_before + 1
    calls = org.sb.call_counts(org.org_id)
    assert {k: v - calls_before.get(k, 0) for k, v in calls.items() if v != calls_before.get(k, 0)} == {
        "POST /composite/graph": 1, "GET /query": 2, "GET /query/{locator}": 1, "GET /sobjects/Contact/{id}": 1,
        "GET /sobjects/Account/updated": 1, "GET /sobjects/Account/deleted": 1}


def test_references_within_a_graph_and_nodes_by_external_id(org: OrgEnv) -> None:
    org.sb.add_custom_field(org.org_id, "Account", "Ext__c", "string", external_id=True, unique=True)
    old = org.api.post("/sobjects/Account/", json={"Name": "Old", "Ext__c": "OLD-1"}).json()["id"]

    g1, g2 = answered(graphs(
        org,
        ("g1", [node("up", "PATCH", "/sobjects/Account/Ext__c/NEW-1", {"Name": "Upserted"}),
                node("rename", "PATCH", "/sobjects/Account/@{up.id}", {"Name": "Renamed"}),
                node("read", "GET", "/sobjects/Account/@{up.id}?fields=Name,Ext__c"),
                node("child", "POST", "/sobjects/Account", {"Name": "Child", "ParentId": "@{read.Id}"}),
                node("byext", "GET", "/sobjects/Account/Ext__c/NEW-1"),
                node("drop", "DELETE", "/sobjects/Account/Ext__c/OLD-1")]),
        # a reference to a value the earlier answer does not hold fails its node and so its graph
        ("g2", [new_account("acc", "Lost"),
                node("con", "POST", "/sobjects/Contact", {"LastName": "X", "AccountId": "@{acc.Name}"})]),
    ))

    assert g1["isSuccessful"] is True, g1
    up, rename, read, child, byext, drop = g1["graphResponse"]["compositeResponse"]
    assert (up["httpStatusCode"], up["body"]["created"]) == (201, True)
    assert (rename["httpStatusCode"], rename["body"]) == (204, None)
    assert read["body"]["Name"] == "Renamed" and read["body"]["Ext__c"] == "NEW-1"
    assert byext["httpStatusCode"] == 200 and byext["body"]["Id"] == up["body"]["id"]
    assert drop["httpStatusCode"] == 204 and org.api.get(f"/sobjects/Account/{old}").status_code == 404
    assert org.api.get(f"/sobjects/Account/{child['body']['id']}").json()["ParentId"] == up["body"]["id"]

    assert g2["isSuccessful"] is False
    acc, con = g2["graphResponse"]["compositeResponse"]
    assert acc["body"] == HALTED
    assert con["httpStatusCode"] == 400 and con["body"][0]["errorCode"] == "INVALID_REFERENCE"
    assert names(org) == ["Child", "Renamed"]


def test_more_than_14_failed_graphs_halt_the_rest(org: OrgEnv) -> None:
    failing = [(f"f{i}", [new_account("acc", f"Undone {i}"), bad_deal("deal")]) for i in range(1, 16)]
    answers = answered(graphs(org, ("ok0", [new_account("acc", "First")]), *failing[:14],
                              ("ok15", [new_account("acc", "After 14 failures")]),
                              failing[14],  # the 15th failure: runs, fails, and halts what follows
                              ("ok16", [new_account("acc", "Halted")]), ("ok17", [new_account("acc", "Halted too")])))

    assert [g["graphId"] for g in answers] == ["ok0", *[f"f{i}" for i in range(1, 15)], "ok15", "f15", "ok16",
                                                "ok17"]
    assert [g["isSuccessful"] for g in answers] == [True, *[False] * 14, True, False, False, False]
    for ran in [*answers[1:15], answers[16]]:
        assert [a["body"] for a in ran["graphResponse"]["compositeResponse"]] == [HALTED, MISSING_CLOSE_DATE]
    for halted in answers[17:]:
        assert halted["graphResponse"]["compositeResponse"] == [
            {"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "acc"}]
    assert names(org) == ["After 14 failures", "First"]


def test_limits_at_their_bounds_are_accepted(org: OrgEnv) -> None:
    chain = [new_account("n1", "Level 1")] + [new_account(f"n{i}", f"Level {i}", ParentId=f"@{{n{i - 1}.id}}")
                                              for i in range(2, 16)]
    assert [g["isSuccessful"] for g in answered(graphs(org, ("deep", chain)))] == [True]  # depth 15
    wide = [(f"g{i}", [new_account("acc", f"Wide {i}")]) for i in range(75)]
    assert all(g["isSuccessful"] for g in answered(graphs(org, *wide)))  # 75 graphs
    versions = [{"method": "POST", "url": f"/services/data/v{50 + i}.0/sobjects/Account", "referenceId": f"v{i}",
                 "body": {"Name": f"Version {i}"}} for i in range(15)]
    assert answered(graphs(org, ("types", versions)))[0]["isSuccessful"] is True  # 15 different nodes
    big = [(f"b{g}", [new_account(f"a{i}", f"Big {g}-{i}") for i in range(250)]) for g in range(2)]
    assert all(g["isSuccessful"] for g in answered(graphs(org, *big)))  # 500 nodes
    assert org.api.get("/query", params={"q": "SELECT COUNT() FROM Account"}).json()["totalSize"] == 15 + 75 + 15 + 500


def _over_limit_cases() -> dict[str, list[dict[str, Any]]]:
    one = [new_account("acc", "A")]
    chain = [new_account("n1", "Level 1")] + [new_account(f"n{i}", f"Level {i}", ParentId=f"@{{n{i - 1}.id}}")
                                              for i in range(2, 17)]
    return {
        "76 graphs": [{"graphId": f"g{i}", "compositeRequest": one} for i in range(76)],
        "501 nodes": [{"graphId": f"g{g}", "compositeRequest": [new_account(f"a{i}", "A") for i in range(250)]}
                      for g in range(2)] + [{"graphId": "last", "compositeRequest": one}],
        "depth 16": [{"graphId": "deep", "compositeRequest": chain}],
        "16 different nodes": [{"graphId": "types", "compositeRequest": [
            {"method": "POST", "url": f"/services/data/v{50 + i}.0/sobjects/Account", "referenceId": f"v{i}",
             "body": {"Name": "A"}} for i in range(16)]}],
        "graphId repeated": [{"graphId": "g", "compositeRequest": one}, {"graphId": "g", "compositeRequest": one}],
        "graphId missing": [{"compositeRequest": one}],
        "graphId not alphanumeric first": [{"graphId": "_g", "compositeRequest": one}],
        "empty graph": [{"graphId": "g", "compositeRequest": []}],
        "reference to another graph": [
            {"graphId": "g1", "compositeRequest": one},
            {"graphId": "g2", "compositeRequest": [node("con", "POST", "/sobjects/Contact",
                                                        {"LastName": "L", "AccountId": "@{acc.id}"})]}],
        "reference to a later node": [{"graphId": "g", "compositeRequest": [
            node("con", "POST", "/sobjects/Contact", {"LastName": "L", "AccountId": "@{acc.id}"}), *one]}],
        "referenceId repeated": [{"graphId": "g", "compositeRequest": one + one}],
        "query node": [{"graphId": "g", "compositeRequest": [node("q", "GET", "/query?q=SELECT+Id+FROM+Account")]}],
        "describe node": [{"graphId": "g", "compositeRequest": [node("d", "GET", "/sobjects/Account/describe")]}],
        "PATCH without id": [{"graphId": "g", "compositeRequest": [node("p", "PATCH", "/sobjects/Account", {})]}],
        "POST to an id": [{"graphId": "g", "compositeRequest": [
            node("p", "POST", "/sobjects/Account/001000000000001AAA", {})]}],
        "reserved header": [{"graphId": "g", "compositeRequest": [
            {**one[0], "httpHeaders": {"Authorization": "Bearer other"}}]}],
    }


@pytest.mark.parametrize("case", sorted(_over_limit_cases()))
def test_a_request_that_breaks_a_rule_is_refused_whole(org: OrgEnv, case: str) -> None:
    # a valid graph first: it must not run either
    bad = _over_limit_cases()[case]
    body = {"graphs": [{"graphId": "valid", "compositeRequest": [new_account("first", "Would be written")]}, *bad]}
    if case == "76 graphs":
        body["graphs"] = bad  # the valid graph would make it 77
    response = org.api.post("/composite/graph", json=body)

    assert response.status_code == 400, response.text
    errors = response.json()
    assert [e["errorCode"] for e in errors] == ["INVALID_INPUT"] and errors[0]["message"]
    assert org.api.get("/query", params={"q": "SELECT COUNT() FROM Account"}).json()["totalSize"] == 0
    assert org.sb.call_counts(org.org_id)["POST /composite/graph"] == 1


def test_a_body_that_is_not_a_graph_request_is_refused(org: OrgEnv) -> None:
    for body in ({}, {"graphs": []}, {"graphs": "g1"}, {"compositeRequest": [new_account("acc", "A")]}):
        response = org.api.post("/composite/graph", json=body)
        assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_INPUT", body
    assert org.api.get("/composite/graph").status_code == 404
