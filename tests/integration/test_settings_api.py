"""The settings routes inside the process: the template's SettingsFunction handler, HTTP API v2 events with JWT
claims, the settings and connection items in moto. The CRM side is an in-memory metadata source behind the real
connection lookup (the sandbox round trip is in tests/e2e/test_settings_e2e.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from leadbridge import runtime
from leadbridge.api.testing import http_api_event
from leadbridge.crm.defaults import default_settings
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.settings import SettingsServices, connector_for
from leadbridge.store.settings import DynamoSettingsStore
from local.lambda_runtime import FunctionRuntime
from tests.support.crm_metadata import InMemoryMetadata

NOW = datetime(2025, 3, 28, 10, 0, tzinfo=UTC)  # a Friday, two days before the spring DST change in Copenhagen
ADMIN = {"sub": "admin-1", "tenant_id": "acme", "role": "admin"}
MEMBER = {"sub": "member-1", "tenant_id": "acme", "role": "member"}

Call = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


class _Provider:
    def connector(self, context: Any, tokens: Any) -> InMemoryMetadata:
        return InMemoryMetadata()


class _NoVault:
    def tokens(self, connection: Connection) -> None:
        return None  # the in-memory CRM needs no token


def _connection(tenant: str) -> Connection:
    return Connection(
        tenant_id=tenant,
        crm="superoffice",
        status=ConnectionStatus.CONNECTED,
        account_id="Cust1",
        api_base="http://127.0.0.1:1/Cust1/api/",
        secret_name="leadbridge/test/x",
        connected_by="admin-1",
        connected_at=NOW,
        connection_key="k-" + tenant,
    )


@pytest.fixture
def call(aws: Any, sam_template: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    runtime.reset()
    connections = runtime.connection_store()
    connections.save(_connection("acme"))
    services = SettingsServices(
        store=DynamoSettingsStore(runtime.table()),
        metadata=lambda tenant, crm: connector_for(connections, _NoVault(), lambda _: _Provider(), tenant, crm),  # type: ignore[arg-type]
        scheduler=connections,
        supported_crms=lambda: ["superoffice"],
        clock=lambda: NOW,
    )
    monkeypatch.setattr(runtime, "settings_services", lambda: services)
    handler = FunctionRuntime(sam_template).handler("SettingsFunction")

    def _call(
        method: str,
        path: str,
        body: Any = None,
        *,
        claims: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        event = http_api_event(method, path, body=body, claims=claims or ADMIN, headers=headers)
        response = handler(event, lambda_context)
        return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}

    yield _call
    runtime.reset()


def _defaults_body() -> dict[str, Any]:
    return default_settings("superoffice").model_dump(mode="json")


def _errors(body: dict[str, Any]) -> dict[str, str]:
    return {e["path"]: e["message"] for e in body["error"]["details"]["errors"]}


def test_get_returns_the_superoffice_defaults_with_etag_0(call: Call) -> None:
    status, body, headers = call("GET", "/settings/superoffice", claims=MEMBER)
    assert status == 200 and headers["ETag"] == '"0"'
    assert body["version"] == 0
    assert body["objects"]["company"] == {"crm_object": "Contact", "direction": "both"}
    company = {m["crm_field"]: m["app_fields"] for m in body["field_mappings"]["company"]}
    assert company["Name"] == ["company_name"] and company["OrgNr"] == ["org_number"]
    assert [f"RabitIQ:{n}" in company for n in range(1, 38)] == [True] * 37
    assert body["status_mapping"]["create_at_stage"] == "Lead"
    assert body["country_mapping"]["default"] == "Denmark"


def test_unknown_crm_is_404(call: Call) -> None:
    status, body, _ = call("GET", "/settings/nocrm")
    assert status == 404 and "superoffice" in body["error"]["message"]


def test_members_read_but_only_admins_write(call: Call) -> None:
    status, body, _ = call("PUT", "/settings/superoffice", _defaults_body(), claims=MEMBER, headers={"If-Match": '"0"'})
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_put_needs_if_match(call: Call) -> None:
    status, body, _ = call("PUT", "/settings/superoffice", _defaults_body())
    assert status == 428 and "If-Match" in body["error"]["message"]


def test_put_versions_the_document_and_stale_writes_get_412(call: Call) -> None:
    status, body, headers = call("PUT", "/settings/superoffice", _defaults_body(), headers={"If-Match": '"0"'})
    assert status == 200 and headers["ETag"] == '"1"'
    assert body["settings"]["version"] == 1 and body["settings"]["updated_by"] == "admin-1"
    missing = {m["crm_field"] for m in body["missing_fields"]}
    assert "RabitIQ:2" in missing and "RabitIQ:1" not in missing

    stale, error, _ = call("PUT", "/settings/superoffice", _defaults_body(), headers={"If-Match": '"0"'})
    assert stale == 412 and error["error"]["details"]["current_version"] == 1

    status, got, headers = call("GET", "/settings/superoffice", claims=MEMBER)
    assert got["version"] == 1 and headers["ETag"] == '"1"'


def test_patch_changes_one_section_and_the_history_says_who_what_when(call: Call) -> None:
    call("PUT", "/settings/superoffice", _defaults_body(), headers={"If-Match": '"0"'})
    status, body, _ = call(
        "PATCH", "/settings/superoffice", {"owners": {"default_crm_user": "5"}}, headers={"If-Match": '"1"'}
    )
    assert status == 200 and body["settings"]["owners"]["default_crm_user"] == "5"
    assert body["settings"]["field_mappings"] == _defaults_body()["field_mappings"]  # untouched

    status, history, _ = call("GET", "/settings/superoffice/history", claims=MEMBER)
    assert [(h["version"], h["operation"], h["sections"], h["updated_by"]) for h in history] == [
        (2, "patch", ["owners"], "admin-1"),
        (1, "put", [], "admin-1"),
    ]


def test_concurrent_patches_on_the_same_version_one_wins(call: Call) -> None:
    first = call("PATCH", "/settings/superoffice", {"initial_import": True}, headers={"If-Match": '"0"'})
    second = call("PATCH", "/settings/superoffice", {"initial_import": False}, headers={"If-Match": '"0"'})
    assert (first[0], second[0]) == (200, 412)


def test_schedule_change_computes_and_stores_the_next_run_for_the_dispatcher(call: Call) -> None:
    patch = {
        "schedule": {
            "frequency": "daily",
            "start_date": "2025-03-01",
            "start_time": "09:00",
            "timezone": "Europe/Copenhagen",
        }
    }
    status, body, _ = call("PATCH", "/settings/superoffice", patch, headers={"If-Match": "*"})
    assert status == 200
    assert body["settings"]["schedule"]["next_run_at"] == "2025-03-29T08:00:00Z"  # 09:00 CET, Saturday
    stored = runtime.connection_store().get("acme", "superoffice")
    assert stored is not None and stored.next_run_at == datetime(2025, 3, 29, 8, 0, tzinfo=UTC)

    status, body, _ = call(
        "PATCH", "/settings/superoffice", {"schedule": {"frequency": "manual"}}, headers={"If-Match": "*"}
    )
    assert body["settings"]["schedule"]["next_run_at"] is None
    assert runtime.connection_store().get("acme", "superoffice").next_run_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("patch", "path", "reason"),
    [
        (
            {"field_mappings": {"company": [{"app_fields": ["company_name"], "crm_field": "Nmae"}]}},
            "field_mappings.company[0].crm_field",
            "'Nmae' is not a field of company in SuperOffice CRM Online; did you",
        ),
        (
            {"field_mappings": {"company": [{"app_fields": ["company_name"], "crm_field": "RabitIQ:1"}]}},
            "field_mappings.company[0].crm_field",
            "'RabitIQ:1' holds integer values but the app value is text",
        ),
        (
            {"field_mappings": {"company": [{"app_fields": ["website"], "crm_field": "Domain"}]}},
            "field_mappings.company[0].crm_field",
            "'Domain' is read-only",
        ),
        (
            {"field_mappings": {"company": [{"app_fields": ["webside"], "crm_field": "Url"}]}},
            "field_mappings.company[0].app_fields[0]",
            "'webside' is not an app field of company",
        ),
        (
            {
                "field_mappings": {
                    "company": [{"app_fields": ["website"], "crm_field": "Url", "transforms": [{"kind": "shout"}]}]
                }
            },
            "field_mappings.company[0].transforms[0]",
            "Input tag 'shout' found using 'kind' does not match",
        ),
        (
            {"status_mapping": {"stages": [{"app_stage": "Won", "crm_status": "Won"}]}},
            "status_mapping.stages[0].crm_status",
            "'Won' is not a CRM status id; choose one of: Open (Open)",
        ),
        ({"owners": {"default_crm_user": "404"}}, "owners.default_crm_user", "'404' is not a user in the CRM"),
        ({"schedule": {"timezone": "Europe/Kopenhagen"}}, "schedule.timezone", "unknown IANA time zone"),
        (
            {"objects": {"deal": {"crm_object": "Opportunity"}}},
            "objects.deal.crm_object",
            "'Opportunity' is not a SuperOffice CRM Online object for deal; choose one of: Sale",
        ),
        ({"colour": "blue"}, "colour", "'colour' is not a section"),
    ],
)
def test_each_validation_error_is_a_422_naming_the_field_and_the_reason(
    call: Call, patch: dict[str, Any], path: str, reason: str
) -> None:
    status, body, _ = call("PATCH", "/settings/superoffice", patch, headers={"If-Match": '"0"'})
    assert status == 422, body
    assert body["error"]["code"] == "invalid_input"
    found = _errors(body)
    assert path in found, found
    assert reason in found[path]
    status, current, _ = call("GET", "/settings/superoffice")
    assert current["version"] == 0  # nothing stored


def test_put_with_a_malformed_body_is_422_from_request_validation(call: Call) -> None:
    body = _defaults_body()
    body["schedule"]["frequency"] = "monthly"
    status, error, _ = call("PUT", "/settings/superoffice", body, headers={"If-Match": '"0"'})
    assert status == 422
    assert ["body", "schedule", "frequency"] in [e["loc"] for e in error["error"]["details"]["errors"]]


def test_preview_returns_the_payloads_and_skips_without_writing(call: Call) -> None:
    call("PATCH", "/settings/superoffice", {"owners": {"default_crm_user": "5"}}, headers={"If-Match": '"0"'})
    lead = {
        "id": "L-9",
        "stage": "Qualified",
        "companyName": "Fjord Fisk AS",
        "cvr": "DK-1",
        "location": "Norge",
        "score": 77,
        "contacts": [{"name": "Kari Nordmann", "email": "kari@fjord.no"}],
    }
    status, body, _ = call("POST", "/settings/superoffice/preview", {"lead": lead}, claims=MEMBER)
    assert status == 200, body
    plan = body["plan"]
    assert body["settings_version"] == 1 and plan["send"] is True
    assert plan["company"]["fields"] == {
        "Name": "Fjord Fisk AS",
        "CountryId": "578",  # Norge → Norway → SuperOffice country id
        "OrgNr": "DK-1",
        "RabitIQ:1": 77,
        "Owner": "5",
    }
    assert plan["persons"][0]["fields"] == {
        "Firstname": "Kari",
        "Lastname": "Nordmann",
        "Email": "kari@fjord.no",
        "Owner": "5",
    }
    skipped = {s["crm_field"]: s["reason"] for s in plan["company"]["skipped"]}
    assert skipped["RabitIQ:6"] == "missing_in_crm" and skipped["Url"] == "empty_value"
    _, history, _ = call("GET", "/settings/superoffice/history")
    assert len(history) == 1  # the preview wrote nothing


def test_preview_of_a_lead_in_stage_new_sends_nothing_and_says_why(call: Call) -> None:
    status, body, _ = call("POST", "/settings/superoffice/preview", {"lead": {"id": "L-1", "stage": "New"}})
    assert status == 200
    assert body["plan"]["send"] is False and body["plan"]["not_sent"][0]["reason"] == "stage_not_sent"


def test_preview_with_a_bad_sample_names_the_field(call: Call) -> None:
    status, body, _ = call("POST", "/settings/superoffice/preview", {"lead": {"id": "L-1", "score": "high"}})
    assert status == 422 and "lead.score" in _errors(body)


def test_lookups_read_the_connected_crm(call: Call) -> None:
    assert [o["crm_name"] for o in call("GET", "/crm/superoffice/objects", claims=MEMBER)[1]] == [
        "Contact",
        "Person",
        "Sale",
        "Appointment",
    ]
    fields = call("GET", "/crm/superoffice/fields/company", claims=MEMBER)[1]
    assert {"name": "Name", "length": 20, "required": True}.items() <= fields[0].items()
    stages = call("GET", "/crm/superoffice/stages", claims=MEMBER)[1]
    assert {s["id"]: s["group"] for s in stages}["Sold"] == "status"
    assert [u["id"] for u in call("GET", "/crm/superoffice/users", claims=MEMBER)[1]] == ["5", "9"]
    assert call("GET", "/crm/superoffice/fields/opportunity")[0] == 422


def test_without_a_connection_writes_and_lookups_are_409_saying_what_to_do(call: Call) -> None:
    other = {"sub": "admin-2", "tenant_id": "globex", "role": "admin"}
    status, body, _ = call("PUT", "/settings/superoffice", _defaults_body(), claims=other, headers={"If-Match": '"0"'})
    assert status == 409 and body["error"]["code"] == "not_connected"
    assert "connect" in body["error"]["message"]
    assert call("GET", "/crm/superoffice/users", claims=other)[0] == 409
    assert call("GET", "/settings/superoffice", claims=other)[0] == 200  # defaults are readable without a CRM
