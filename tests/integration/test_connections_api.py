"""The connection routes through the local gateway (template routes, JWT authorizer, real HTTP API v2 events).

Cases that need no CRM login; the full round trips against the SuperOffice sandbox are in tests/e2e/test_connect*.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from local.stack import LocalStack


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    stack.reset_aws()
    with httpx.Client(base_url=stack.gateway_url, timeout=10, follow_redirects=False) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_member_cannot_start_or_remove_a_connection(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    member = _bearer(mint_token("t-api", role="member"))
    body = {"return_url": f"{api.base_url}/swagger"}

    started = api.post("/connections/superoffice/authorize", json=body, headers=member)
    removed = api.delete("/connections/superoffice", headers=member)

    assert started.status_code == 403 and started.json()["error"]["code"] == "forbidden"
    assert removed.status_code == 403


def test_without_token_the_gateway_answers_401(api: httpx.Client) -> None:
    assert api.get("/connections").status_code == 401


def test_return_url_off_the_allow_list_is_422_naming_the_field(
    api: httpx.Client, mint_token: Callable[..., str]
) -> None:
    response = api.post(
        "/connections/superoffice/authorize",
        json={"return_url": "https://evil.example/steal"},
        headers=_bearer(mint_token("t-api")),
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["errors"][0]["loc"] == ["body", "return_url"]


def test_missing_return_url_is_422(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    response = api.post("/connections/superoffice/authorize", json={}, headers=_bearer(mint_token("t-api")))

    assert response.status_code == 422
    assert ["body", "return_url"] in [e["loc"] for e in response.json()["error"]["details"]["errors"]]


def test_unknown_crm_is_404(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    response = api.get("/connections/nocrm", headers=_bearer(mint_token("t-api")))

    assert response.status_code == 404
    assert "superoffice" in response.json()["error"]["details"]["supported"]


def test_status_of_a_never_connected_tenant(api: httpx.Client, mint_token: Callable[..., str]) -> None:
    member = _bearer(mint_token("t-api", role="member"))

    listed = api.get("/connections", headers=member)
    one = api.get("/connections/superoffice", headers=member)
    removed = api.delete("/connections/superoffice", headers=_bearer(mint_token("t-api")))

    assert listed.status_code == 200
    by_crm = {c["crm"]: c for c in listed.json()["connections"]}  # one row per supported CRM
    assert {"crm": "superoffice", "status": "disconnected"}.items() <= by_crm["superoffice"].items()
    assert by_crm["salesforce"]["status"] == "disconnected"
    assert one.json()["status"] == "disconnected" and one.json()["account_id"] is None
    assert removed.status_code == 404


@pytest.mark.parametrize("query", ["", "?code=abc", "?state=forged&code=abc", "?state=" + "x" * 43])
def test_callback_without_a_known_state_shows_an_error_page(api: httpx.Client, query: str) -> None:
    response = api.get(f"/oauth/superoffice/callback{query}")

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "invalid_state" in response.text
    assert response.headers["cache-control"] == "no-store"
