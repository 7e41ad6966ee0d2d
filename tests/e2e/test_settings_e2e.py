"""The settings routes over real HTTP: the local gateway serves template.yaml's SettingsFunction routes, verifies
JWTs minted by the local issuer, and calls the handler with HTTP API v2 events; the table lives in moto.

Only what needs no connected CRM is covered here; lookups, validation, concurrency, schedule and preview against a
connected SuperOffice sandbox are in tests/e2e/test_settings_superoffice_e2e.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from leadbridge import runtime
from local.stack import LocalStack


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    stack.reset_aws()
    runtime.reset()
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client
    runtime.reset()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_defaults_are_served_with_an_etag_to_members(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    response = api.get("/settings/superoffice", headers=bearer(mint_token("t-set", role="member")))
    assert response.status_code == 200
    assert response.headers["etag"] == '"0"'
    body = response.json()
    assert body["crm"] == "superoffice" and body["version"] == 0
    assert body["objects"]["person"] == {"crm_object": "Person", "direction": "both"}


def test_without_a_token_the_gateway_answers_401(api: httpx.Client) -> None:
    assert api.get("/settings/superoffice").status_code == 401


def test_writes_need_admin_and_if_match_and_a_connection(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    document = api.get("/settings/superoffice", headers=bearer(mint_token("t-set"))).json()
    member = api.put(
        "/settings/superoffice",
        json=document,
        headers={**bearer(mint_token("t-set", role="member")), "If-Match": '"0"'},
    )
    no_if_match = api.put("/settings/superoffice", json=document, headers=bearer(mint_token("t-set")))
    not_connected = api.patch(
        "/settings/superoffice",
        json={"initial_import": True},
        headers={**bearer(mint_token("t-set")), "If-Match": '"0"'},
    )

    assert member.status_code == 403
    assert no_if_match.status_code == 428 and no_if_match.json()["error"]["code"] == "precondition_required"
    assert not_connected.status_code == 409 and not_connected.json()["error"]["code"] == "not_connected"
    assert "connect" in not_connected.json()["error"]["details"]["hint"]


def test_an_invalid_patch_is_a_422_naming_the_field(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    response = api.patch(
        "/settings/superoffice",
        json={"schedule": {"timezone": "Mars/Olympus"}},
        headers={**bearer(mint_token("t-set")), "If-Match": '"0"'},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["errors"][0]["path"] == "schedule.timezone"
    assert "unknown IANA time zone 'Mars/Olympus'" in error["details"]["errors"][0]["message"]
