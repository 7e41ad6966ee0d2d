"""GET /sync-log end to end inside the process: the template's ExportFunction handler, a real HTTP API v2 event with
JWT claims, and the table in moto (through the `aws` fixture)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from leadbridge import runtime
from leadbridge.api.testing import http_api_event
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import (
    Action,
    Direction,
    LogError,
    Outcome,
    SkippedField,
    SyncLogEntry,
    Trigger,
)
from local.lambda_runtime import FunctionRuntime

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def call(aws, sam_template, lambda_context):
    runtime.reset()
    handler = FunctionRuntime(sam_template).handler("ExportFunction")

    def _call(query: dict[str, str] | None = None, claims: dict[str, Any] | None = None) -> tuple[int, dict]:
        if claims is None:
            claims = {"sub": "user-1", "tenant_id": "acme", "email": "u@acme.test", "role": "member"}
        event = http_api_event("GET", "/sync-log", query=query, claims=claims or None)
        response = handler(event, lambda_context)
        return response["statusCode"], json.loads(response["body"])

    yield _call
    runtime.reset()


def entry(i: int, tenant: str = "acme", **overrides: Any) -> SyncLogEntry:
    values: dict[str, Any] = {
        "time": T0 + timedelta(minutes=i),
        "tenant": tenant,
        "crm": "superoffice",
        "direction": Direction.TO_CRM,
        "trigger": Trigger.EXPORT,
        "action": Action.CREATE,
        "outcome": Outcome.SUCCESS,
        "object": CrmObject.COMPANY,
        "app_id": f"lead-{i % 3}",
        "crm_id": str(1000 + i),
        "fields_written": ["Name", "OrgNr"],
        "crm_calls": 2,
        "correlation_id": f"corr-{i}",
    }
    values.update(overrides)
    return SyncLogEntry(**values)


def test_entries_written_by_the_port_are_returned_newest_first_with_all_fields(call):
    # Given a failed and a successful export
    log = runtime.sync_log()
    failed = entry(
        1,
        outcome=Outcome.FAILED,
        action=Action.UPDATE,
        error=LogError(code="crm_rejected", message="OrgNr is invalid", cause="400 Bad Request"),
        fields_skipped=[SkippedField(field="RabitIQ:7", reason="not in CRM")],
        match={"rule": "org_nr", "score": 0.97, "candidates": 2},
        run_id="run-1",
    )
    log.write(entry(0))
    log.write(failed)

    # When the tenant reads its log
    status, body = call()

    # Then it gets both, newest first, each field as written
    assert status == 200
    assert [i["id"] for i in body["items"]] == [failed.id, entry_id(body, 1)]
    got = body["items"][0]
    assert got["outcome"] == "failed"
    assert got["error"] == {
        "code": "crm_rejected",
        "message": "OrgNr is invalid",
        "cause": "400 Bad Request",
        "hint": None,  # what to do: only where there is something (run failures)
    }
    assert got["fields_skipped"] == [{"field": "RabitIQ:7", "reason": "not in CRM"}]
    assert got["match"] == {"rule": "org_nr", "score": 0.97, "candidates": 2}
    assert got["run_id"] == "run-1" and got["crm_calls"] == 2 and got["app_id"] == "lead-1"
    assert datetime.fromisoformat(got["time"].replace("Z", "+00:00")) == T0 + timedelta(minutes=1)
    assert body["next_cursor"] is None


def entry_id(body: dict, index: int) -> str:
    return body["items"][index]["id"]


def test_entries_expire_after_the_configured_retention(call, aws):
    runtime.sync_log().write(entry(0))
    item = boto3.client("dynamodb").scan(TableName=aws.table_name)["Items"][0]
    expires = int(item["expires_at"]["N"])
    assert expires == int((T0 + timedelta(days=90)).timestamp())
    assert item["PK"]["S"] == "T#acme" and item["SK"]["S"].startswith("LOG#2025-03-01T12:00:00")
    assert item["GSI3PK"]["S"] == "T#acme#LEAD#lead-0"


def test_paging_with_the_cursor_visits_every_entry_once(call):
    log = runtime.sync_log()
    written = [entry(i) for i in range(23)]
    for e in written:
        log.write(e)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "10"}
        if cursor:
            query["cursor"] = cursor
        status, body = call(query)
        assert status == 200
        pages += 1
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == [e.id for e in reversed(written)]


def test_filters_fill_pages_even_when_matches_are_sparse(call):
    # Given 60 entries of which every 7th failed
    log = runtime.sync_log()
    for i in range(60):
        log.write(entry(i, outcome=Outcome.FAILED if i % 7 == 0 else Outcome.SUCCESS))
    failed = [i for i in range(60) if i % 7 == 0]  # 9 entries

    # When reading failed ones 4 at a time
    status, first = call({"status": "failed", "limit": "4"})
    _, second = call({"status": "failed", "limit": "4", "cursor": first["next_cursor"]})
    _, third = call({"status": "failed", "limit": "4", "cursor": second["next_cursor"]})

    # Then pages are full until the last, and hold exactly the failed ones
    assert status == 200
    assert [len(p["items"]) for p in (first, second, third)] == [4, 4, 1]
    assert third["next_cursor"] is None
    got = [i["correlation_id"] for p in (first, second, third) for i in p["items"]]
    assert got == [f"corr-{i}" for i in reversed(failed)]


def test_filter_by_object_lead_and_time_window(call):
    log = runtime.sync_log()
    for i in range(12):
        log.write(entry(i, object=CrmObject.PERSON if i % 2 else CrmObject.COMPANY))

    _, persons = call({"object": "person"})
    assert {i["object"] for i in persons["items"]} == {"person"} and len(persons["items"]) == 6

    _, lead = call({"lead_id": "lead-1"})
    assert [i["crm_id"] for i in lead["items"]] == ["1010", "1007", "1004", "1001"]

    since = (T0 + timedelta(minutes=3)).isoformat()
    until = (T0 + timedelta(minutes=5)).isoformat()
    _, window = call({"since": since, "until": until})
    assert [i["crm_id"] for i in window["items"]] == ["1005", "1004", "1003"]

    _, combined = call({"lead_id": "lead-1", "object": "person", "since": since})
    assert [i["crm_id"] for i in combined["items"]] == ["1007"]


def test_lead_pages_continue_with_their_own_cursor(call):
    log = runtime.sync_log()
    for i in range(9):
        log.write(entry(i, app_id="lead-x"))
    _, first = call({"lead_id": "lead-x", "limit": "5"})
    _, second = call({"lead_id": "lead-x", "limit": "5", "cursor": first["next_cursor"]})
    assert len(first["items"]) == 5 and len(second["items"]) == 4 and second["next_cursor"] is None

    # A cursor of the lead query is not valid for another query shape
    status, body = call({"limit": "5", "cursor": first["next_cursor"]})
    assert status == 400 and body["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "201"}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"status": "exploded"}, ["query", "status"]),
        ({"object": "spaceship"}, ["query", "object"]),
        ({"since": "yesterday"}, ["query", "since"]),
        ({"until": "2025-13-45"}, ["query", "until"]),
        ({"lead_id": "a#b"}, ["query", "lead_id"]),
        ({"since": "2025-03-02T00:00:00Z", "until": "2025-03-01T00:00:00Z"}, ["query", "since"]),
        ({"since": "0001-01-01T00:00:00+01:00"}, ["query", "since"]),
    ],
)
def test_invalid_parameters_are_422_naming_the_parameter(call, query, loc):
    status, body = call(query)
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    assert loc in [e["loc"] for e in body["error"]["details"]["errors"]]
    assert body["error"]["correlation_id"]


@pytest.mark.parametrize("cursor", ["not-base64!!", "eyJ4IjoxfQ", "A" * 40])
def test_garbage_cursor_is_400(call, cursor):
    status, body = call({"cursor": cursor})
    assert status == 400
    assert body["error"]["code"] == "invalid_cursor"
    assert body["error"]["details"]["errors"][0]["loc"] == ["query", "cursor"]


def test_without_claims_401_and_without_tenant_403(call):
    status, body = call(claims={})
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    status, body = call(claims={"sub": "user-1", "email": "x@y.test"})
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert "tenant_id" in body["error"]["message"]


def test_store_outage_is_a_503_with_the_error_shape(call, monkeypatch):
    # A table that does not exist is what an outage/misdeployment looks like to the adapter.
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    runtime.reset()
    status, body = call()
    assert status == 503
    assert body["error"]["code"] == "store_unavailable"


def test_an_entry_written_before_its_nested_parts_were_one_string_reads_as_it_was(call, aws):
    boto3.client("dynamodb").put_item(
        TableName=aws.table_name,
        Item={
            "PK": {"S": "T#acme"}, "SK": {"S": "LOG#2025-03-01T12:00:00.000000Z#01OLD"}, "id": {"S": "01OLD"},
            "time": {"S": "2025-03-01T12:00:00.000000Z"}, "tenant": {"S": "acme"}, "crm": {"S": "superoffice"},
            "direction": {"S": "from_crm"}, "trigger": {"S": "schedule"}, "action": {"S": "read"},
            "outcome": {"S": "failed"}, "object": {"S": "company"},
            "error": {"M": {"code": {"S": "invalid_value"}, "message": {"S": "not a date"}}},
            "fields_written": {"L": [{"S": "company_name"}]},
        },
    )  # fmt: skip
    runtime.sync_log().write(entry(1))

    status, body = call({"limit": "10"})

    assert status == 200
    old = next(i for i in body["items"] if i["id"] == "01OLD")
    assert old["error"]["code"] == "invalid_value" and old["fields_written"] == ["company_name"]
    new = next(i for i in body["items"] if i["id"] != "01OLD")
    assert new["fields_written"] == ["Name", "OrgNr"]


def inbound_entry(i: int, *, outcome: Outcome = Outcome.SUCCESS, **overrides: Any) -> SyncLogEntry:
    values: dict[str, Any] = {
        "time": T0 + timedelta(microseconds=i), "tenant": "acme", "crm": "superoffice",
        "direction": Direction.FROM_CRM, "trigger": Trigger.SCHEDULE, "action": Action.READ, "outcome": outcome,
        "object": CrmObject.COMPANY, "crm_id": str(5000 + i), "fields_written": ["company_name"], "run_id": "run-9",
    }  # fmt: skip
    values.update(overrides)
    return SyncLogEntry(**values)


def test_a_page_of_inbound_entries_is_a_few_items_and_reads_back_entry_by_entry(call, aws):
    page = [inbound_entry(i) for i in range(400)]
    page += [inbound_entry(400 + i, outcome=Outcome.FAILED, error=LogError(code="invalid_value", message="x"))
             for i in range(3)]  # fmt: skip
    page += [inbound_entry(410, app_id="lead-7")]  # the lead's entry stays its own item (its index)
    runtime.sync_log().write_many(page)

    items = boto3.client("dynamodb").scan(TableName=aws.table_name)["Items"]
    assert len(items) == 3  # 400 successes, 3 failures, the lead's entry
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, body = call({"limit": "37", **({"cursor": cursor} if cursor else {})})
        assert status == 200
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(e["crm_id"] for e in seen) == sorted(e.crm_id or "" for e in page)
    assert len({e["id"] for e in seen}) == len(page)
    assert [e["time"] for e in seen] == sorted((e["time"] for e in seen), reverse=True)

    status, failed = call({"status": "failed", "limit": "2"})
    assert [e["outcome"] for e in failed["items"]] == ["failed", "failed"] and failed["next_cursor"]
    status, rest = call({"status": "failed", "limit": "2", "cursor": failed["next_cursor"]})
    assert status == 200 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["error"]["code"] == "invalid_value"
    status, lead = call({"lead_id": "lead-7"})
    assert [e["crm_id"] for e in lead["items"]] == ["5410"]
    status, after = call({"since": (T0 + timedelta(seconds=1)).isoformat()})
    assert status == 200 and after["items"] == []
