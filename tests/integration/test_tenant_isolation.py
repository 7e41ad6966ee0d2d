"""Tenant isolation across every tenant-scoped route: a token of tenant A never sees tenant B's data, not even with a
cursor that B was given, and a tenant claim cannot be crafted to reach into another tenant's keys.

The routes are table-driven. To cover your route, append an `IsolationCase` to `CASES`:
- `function`: the template's logical id of the function serving the route (e.g. "ExportFunction"),
- `method`, `path` (with `path_parameters` for `{param}` segments), `query`,
- `seed(tenant) -> list[str]`: create data for `tenant` through the real adapters (`leadbridge.runtime` factories,
  the `aws` fixture is active) and return marker strings that appear in a response only if that tenant's data is
  in it (unique ids, names). The test asserts A sees its own markers (so the check can fail) and none of B's.
- `cursor_param` / `cursor_field` / `page_query`: for paginated routes, the query parameter taking a cursor, the
  response field holding the next one, and the query that makes B's first page short enough to have a next cursor.
  B's cursor replayed by A must be rejected (4xx) without any of B's markers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadbridge import runtime
from leadbridge.api.testing import http_api_event
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import Action, Direction, Outcome, SyncLogEntry, Trigger
from local.lambda_runtime import FunctionRuntime


@dataclass
class IsolationCase:
    name: str
    function: str
    method: str
    path: str
    seed: Callable[[str], list[str]]
    query: dict[str, str] = field(default_factory=dict)
    path_parameters: dict[str, str] | None = None
    body: Any = None
    cursor_param: str | None = None
    cursor_field: str = "next_cursor"
    page_query: dict[str, str] = field(default_factory=dict)


def seed_sync_log(tenant: str) -> list[str]:
    markers = []
    for i in range(3):
        marker = f"{tenant}-crm-{uuid.uuid4().hex[:8]}"
        runtime.sync_log().write(
            SyncLogEntry(
                time=datetime.now(UTC) - timedelta(seconds=i),
                tenant=tenant,
                crm="superoffice",
                direction=Direction.TO_CRM,
                trigger=Trigger.EXPORT,
                action=Action.CREATE,
                outcome=Outcome.SUCCESS,
                object=CrmObject.COMPANY,
                app_id="lead-shared-id",  # the same lead id in both tenants must not mix either
                crm_id=marker,
            )
        )
        markers.append(marker)
    return markers


CASES: list[IsolationCase] = [
    IsolationCase(
        "sync log",
        "ExportFunction",
        "GET",
        "/sync-log",
        seed_sync_log,
        cursor_param="cursor",
        page_query={"limit": "1"},
    ),
    IsolationCase(
        "sync log by lead",
        "ExportFunction",
        "GET",
        "/sync-log",
        seed_sync_log,
        query={"lead_id": "lead-shared-id"},
        cursor_param="cursor",
        page_query={"limit": "1"},
    ),
]


@pytest.fixture
def invoke(aws, sam_template, lambda_context):
    runtime.reset()
    functions = FunctionRuntime(sam_template)

    def _invoke(case: IsolationCase, tenant: str, query: dict[str, str]) -> tuple[int, str]:
        event = http_api_event(
            case.method,
            case.path,
            query=query or None,
            body=case.body,
            path_parameters=case.path_parameters,
            claims={"sub": f"user-of-{tenant}", "tenant_id": tenant, "role": "admin"},
        )
        response = functions.handler(case.function)(event, lambda_context)
        return response["statusCode"], response.get("body") or ""

    yield _invoke
    runtime.reset()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_tenant_sees_only_its_own_data(invoke, case):
    markers_a = case.seed("tenant-a")
    markers_b = case.seed("tenant-b")

    status, body = invoke(case, "tenant-a", case.query)

    assert status == 200, body
    assert all(m in body for m in markers_a), "A's own data is missing: the probe would not detect a leak"
    assert not [m for m in markers_b if m in body]


@pytest.mark.parametrize("case", [c for c in CASES if c.cursor_param], ids=lambda c: c.name)
def test_another_tenants_cursor_is_rejected(invoke, case):
    case.seed("tenant-a")
    markers_b = case.seed("tenant-b")
    status, body = invoke(case, "tenant-b", {**case.query, **case.page_query})
    cursor_b = json.loads(body)[case.cursor_field]
    assert status == 200 and cursor_b, "B's first page must have a next cursor for this probe"

    status, body = invoke(case, "tenant-a", {**case.query, **case.page_query, case.cursor_param: cursor_b})

    assert 400 <= status < 500
    assert json.loads(body)["error"]["code"] == "invalid_cursor"
    assert not [m for m in markers_b if m in body]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("crafted", ["tenant-b#superoffice", "tenant-b#", "#tenant-b", "tenant b"])
def test_a_crafted_tenant_claim_is_forbidden(invoke, case, crafted):
    markers_b = case.seed("tenant-b")
    status, body = invoke(case, crafted, case.query)
    assert status == 403
    assert not [m for m in markers_b if m in body]
