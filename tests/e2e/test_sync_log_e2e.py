"""The sync log over real HTTP: the local gateway serves template.yaml's routes, verifies JWTs minted by the local
issuer (tenant and role claims), and calls ExportFunction with HTTP API v2 events; the table lives in moto.

Entries are written through the SyncLog port in this process, standing in for the export and sync flows that write
them in production (those flows' own e2e tests assert their entries)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadbridge import runtime
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger
from local.stack import LocalStack

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    stack.reset_aws()
    runtime.reset()
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client
    runtime.reset()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write(tenant: str, count: int, **overrides) -> list[SyncLogEntry]:
    entries = []
    for i in range(count):
        values = {
            "time": T0 + timedelta(seconds=i),
            "tenant": tenant,
            "crm": "superoffice",
            "direction": Direction.TO_CRM,
            "trigger": Trigger.EXPORT,
            "action": Action.CREATE,
            "outcome": Outcome.FAILED if i % 4 == 0 else Outcome.SUCCESS,
            "object": CrmObject.COMPANY,
            "app_id": f"{tenant}-lead-{i % 2}",
            "crm_id": f"{tenant}-{i}",
            "error": LogError(code="crm_rejected", message="OrgNr invalid") if i % 4 == 0 else None,
        }
        values.update(overrides)
        entry = SyncLogEntry(**values)
        runtime.sync_log().write(entry)
        entries.append(entry)
    return entries


def test_a_member_pages_through_the_tenants_log(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    written = write("t-e2e-a", 7)
    member = bearer(mint_token("t-e2e-a", role="member"))

    ids: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        response = api.get("/sync-log", params=params, headers=member)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert ids == [e.id for e in reversed(written)]


def test_filters_over_http(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    write("t-e2e-a", 8)
    token = bearer(mint_token("t-e2e-a", role="member"))

    failed = api.get("/sync-log", params={"status": "failed"}, headers=token).json()["items"]
    lead = api.get("/sync-log", params={"lead_id": "t-e2e-a-lead-1"}, headers=token).json()["items"]
    since = (T0 + timedelta(seconds=6)).isoformat()
    recent = api.get("/sync-log", params={"since": since}, headers=token).json()["items"]

    assert [i["crm_id"] for i in failed] == ["t-e2e-a-4", "t-e2e-a-0"]
    assert failed[0]["error"] == {"code": "crm_rejected", "message": "OrgNr invalid", "cause": None, "hint": None}
    assert [i["crm_id"] for i in lead] == ["t-e2e-a-7", "t-e2e-a-5", "t-e2e-a-3", "t-e2e-a-1"]
    assert [i["crm_id"] for i in recent] == ["t-e2e-a-7", "t-e2e-a-6"]


def test_tenants_are_isolated_over_http(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    write("t-e2e-a", 3)
    write("t-e2e-b", 3)
    token_a = bearer(mint_token("t-e2e-a"))
    token_b = bearer(mint_token("t-e2e-b"))

    page_a = api.get("/sync-log", headers=token_a).json()
    first_b = api.get("/sync-log", params={"limit": "1"}, headers=token_b).json()
    replay = api.get("/sync-log", params={"limit": "1", "cursor": first_b["next_cursor"]}, headers=token_a)

    assert {i["tenant"] for i in page_a["items"]} == {"t-e2e-a"} and len(page_a["items"]) == 3
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "invalid_cursor"
    assert "t-e2e-b" not in replay.text


def test_errors_over_http(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    token = bearer(mint_token("t-e2e-a"))

    no_token = api.get("/sync-log")
    bad_limit = api.get("/sync-log", params={"limit": "500"}, headers=token)
    bad_since = api.get("/sync-log", params={"since": "last tuesday"}, headers=token)

    assert no_token.status_code == 401
    assert bad_limit.status_code == 422
    assert bad_limit.json()["error"]["details"]["errors"][0]["loc"] == ["query", "limit"]
    assert bad_since.status_code == 422
    assert bad_since.json()["error"]["details"]["errors"][0]["loc"] == ["query", "since"]
    assert bad_since.json()["error"]["correlation_id"]
