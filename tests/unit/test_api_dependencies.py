"""Routes ask for their caller as a parameter (leadbridge.api.dependencies): same answers as before, same OpenAPI."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadbridge.api import AdminCaller, Caller, make_resolver
from leadbridge.api.testing import http_api_event

app = make_resolver()


@app.get("/whoami")
def whoami(caller: Caller) -> dict[str, Any]:
    return {"tenant": caller.tenant_id, "user": caller.user_id, "admin": caller.is_admin}


@app.post("/admin-only")
def admin_only(admin: AdminCaller) -> dict[str, Any]:
    return {"tenant": admin.tenant_id}


def _call(method: str, path: str, claims: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
    response = app.resolve(http_api_event(method, path, claims=claims), {})
    return response["statusCode"], json.loads(response["body"])


def test_the_caller_comes_from_the_verified_claims() -> None:
    status, body = _call("GET", "/whoami", {"sub": "u1", "tenant_id": "acme", "role": "[member admin]"})
    assert (status, body) == (200, {"tenant": "acme", "user": "u1", "admin": True})


@pytest.mark.parametrize(
    ("method", "path", "claims", "status", "code"),
    [
        ("GET", "/whoami", None, 401, "unauthenticated"),
        ("GET", "/whoami", {"sub": "u1"}, 403, "forbidden"),
        ("POST", "/admin-only", {"sub": "u1", "tenant_id": "acme", "role": "member"}, 403, "forbidden"),
    ],
)
def test_an_error_raised_for_the_caller_is_answered_like_one_the_route_raised(
    method: str, path: str, claims: dict[str, Any] | None, status: int, code: str
) -> None:
    got, body = _call(method, path, claims)
    assert (got, body["error"]["code"]) == (status, code)


def test_the_caller_is_no_parameter_of_the_openapi_document() -> None:
    schema = app.get_openapi_schema()
    assert schema.paths is not None
    for path in ("/whoami", "/admin-only"):
        for operation in (schema.paths[path].get, schema.paths[path].post):
            assert operation is None or not operation.parameters
