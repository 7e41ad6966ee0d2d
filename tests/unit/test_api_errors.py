"""The shared error mapping, through a real resolver built by `make_resolver` and real HTTP API v2 events."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from leadbridge import errors
from leadbridge.api import http_lambda_handler, make_resolver
from leadbridge.api.testing import http_api_event
from local.lambda_runtime import FakeLambdaContext

app = make_resolver()
RAISE: dict[str, Exception] = {}


class NewThing(BaseModel):
    name: str = Field(min_length=1)
    size: int = Field(ge=1)


@app.get("/boom/<name>")
def boom(name: str) -> dict[str, Any]:
    raise RAISE[name]


@app.post("/things")
def create_thing(thing: NewThing, dry_run: Annotated[bool, Query()] = False) -> dict[str, Any]:
    return {"name": thing.name, "dry_run": dry_run}


handler = http_lambda_handler(app)


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    response = handler(event, FakeLambdaContext.for_function("unit"))
    return response["statusCode"], response.get("headers") or {}, json.loads(response["body"])


def raising(exc: Exception) -> tuple[int, dict[str, Any], dict[str, Any]]:
    RAISE["x"] = exc
    return call(http_api_event("GET", "/boom/x"))


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.InvalidInput("bad", errors=[{"loc": ["body", "x"], "message": "no"}]), 422, "invalid_input"),
        (errors.InvalidCursor("bad cursor"), 400, "invalid_cursor"),
        (errors.Unauthenticated("who?"), 401, "unauthenticated"),
        (errors.Forbidden("no"), 403, "forbidden"),
        (errors.NotFound("gone"), 404, "not_found"),
        (errors.Conflict("taken"), 409, "conflict"),
        (errors.ConnectionMissing("none"), 409, "not_connected"),
        (errors.NeedsReauth("revoked"), 409, "needs_reauth"),
        (errors.PreconditionFailed("stale"), 412, "precondition_failed"),
        (errors.RateLimited("slow down", retry_after=2.2), 429, "crm_rate_limited"),
        (errors.CrmRejected("OrgNr too long", fields=["OrgNr"], status=400), 502, "crm_rejected"),
        (errors.CrmUnavailable("down"), 503, "crm_unavailable"),
        (errors.StoreUnavailable("throttled"), 503, "store_unavailable"),
    ],
)
def test_domain_errors_map_to_status_and_shared_shape(exc, status, code):
    got_status, _, body = raising(exc)
    assert got_status == status
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"] == exc.message
    assert body["error"]["correlation_id"]


def test_invalid_input_names_each_field():
    _, _, body = raising(errors.InvalidInput("bad", errors=[{"loc": ["body", "mapping", 0], "message": "unknown"}]))
    assert body["error"]["details"]["errors"] == [{"loc": ["body", "mapping", 0], "message": "unknown"}]


def test_conflicts_say_what_to_do():
    _, _, body = raising(errors.NeedsReauth("refresh token revoked"))
    assert "reconnect" in body["error"]["details"]["hint"]
    _, _, body = raising(errors.ConnectionMissing("no connection"))
    assert "connect" in body["error"]["details"]["hint"]


def test_rate_limited_carries_retry_after_in_whole_seconds():
    _, headers, body = raising(errors.RateLimited("slow down", retry_after=2.2))
    assert headers["Retry-After"] == "3"
    assert body["error"]["details"]["retry_after"] == 2.2


def test_unauthenticated_asks_for_a_bearer_token():
    _, headers, _ = raising(errors.Unauthenticated("no token"))
    assert headers["WWW-Authenticate"] == "Bearer"


def test_crm_rejection_carries_the_crms_reason():
    _, _, body = raising(errors.CrmRejected("OrgNr too long", fields=["OrgNr"], status=400))
    assert body["error"]["message"] == "OrgNr too long"
    assert body["error"]["details"] == {"fields": ["OrgNr"], "crm_status": 400}


def test_unexpected_error_is_a_generic_500_with_the_correlation_id_and_no_trace():
    RAISE["x"] = KeyError("/var/task/secret_path.py line 12")
    event = http_api_event("GET", "/boom/x")
    status, _, body = call(event)
    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["correlation_id"] == event["requestContext"]["requestId"]
    text = json.dumps(body)
    assert "secret_path" not in text and "Traceback" not in text and "KeyError" not in text


def test_body_validation_is_422_naming_each_field():
    status, _, body = call(http_api_event("POST", "/things", body={"name": "", "size": 0}))
    assert status == 422
    locs = [e["loc"] for e in body["error"]["details"]["errors"]]
    assert ["body", "name"] in locs and ["body", "size"] in locs
    assert "body.name" in body["error"]["message"]


def test_malformed_json_is_400_not_500():
    status, _, body = call(http_api_event("POST", "/things", body="{not json"))
    assert status == 400
    assert body["error"]["code"] == "invalid_input"
    assert body["error"]["details"]["errors"][0]["loc"] == ["body"]


def test_query_coercion_and_validation():
    status, _, body = call(http_api_event("POST", "/things", body={"name": "a", "size": 1}, query={"dry_run": "true"}))
    assert (status, body) == (200, {"name": "a", "dry_run": True})
    status, _, body = call(http_api_event("POST", "/things", body={"name": "a", "size": 1}, query={"dry_run": "x"}))
    assert status == 422 and body["error"]["details"]["errors"][0]["loc"] == ["query", "dry_run"]


def test_unknown_route_is_404_in_the_shared_shape():
    status, _, body = call(http_api_event("GET", "/nowhere"))
    assert status == 404
    assert body["error"]["code"] == "not_found"
