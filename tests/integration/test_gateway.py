"""The local gateway behaves like API Gateway HTTP API: routes, JWT authorizer, CORS, v2.0 events and responses.

Runs over real HTTP against tests/fixtures/stack (an echo function that returns the event it received).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import boto3
import httpx
import pytest

from local.stack import LocalStack
from local.template import REPO_ROOT
from local.tokens import LocalIssuer


@pytest.fixture(scope="module")
def api(fixture_stack: LocalStack) -> httpx.Client:
    with httpx.Client(base_url=fixture_stack.gateway_url, timeout=10) as client:
        yield client


def bearer(stack: LocalStack, **claims: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {stack.token('tenant-a', 'admin', **claims)}"}


def echo_calls(stack: LocalStack) -> int:
    table = boto3.resource("dynamodb").Table(stack.resources.refs["SeenTable"])
    item = table.get_item(Key={"id": "echo-calls"}).get("Item") or {}
    return int(item.get("calls", 0))


def test_authorized_request_reaches_the_handler_as_an_http_api_v2_event(api: httpx.Client,
                                                                        fixture_stack: LocalStack) -> None:
    headers = {**bearer(fixture_stack, groups=["sales", "admins"], email="a@example.com"),
               "X-Custom": "one", "Cookie": "session=abc; theme=dark", "User-Agent": "pytest-agent"}
    response = api.get("/items/a%20b?tag=x&tag=y&empty=", headers=headers)

    assert response.status_code == 200
    assert response.headers["etag"] == '"v1"'
    event = response.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "tag=x&tag=y&empty="
    assert event["queryStringParameters"] == {"tag": "x,y", "empty": ""}
    assert event["pathParameters"] == {"id": "a b"}
    assert event["headers"]["x-custom"] == "one"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["http"] == {"method": "GET", "path": "/items/a%20b", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "pytest-agent"}
    assert context["stage"] == "$default"
    assert context["routeKey"] == "GET /items/{id}"
    assert context["accountId"] == "123456789012"
    assert context["requestId"] and context["apiId"] and context["domainName"].startswith("127.0.0.1")
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    assert context["time"].endswith("+0000")
    assert response.headers["apigw-requestid"] == context["requestId"]
    # Claims sit where API Gateway puts them, flattened to strings like the JWT authorizer does.
    jwt = context["authorizer"]["jwt"]
    assert jwt["claims"]["tenant_id"] == "tenant-a"
    assert jwt["claims"]["role"] == "admin"
    assert jwt["claims"]["email"] == "a@example.com"
    assert jwt["claims"]["groups"] == "[sales admins]"
    assert jwt["claims"]["exp"].isdigit()
    assert jwt["scopes"] is None
    lambda_context = response.json()["context"]
    assert lambda_context["function_name"] == "leadbridge-local-EchoFunction"
    assert lambda_context["invoked_function_arn"].endswith(":function:leadbridge-local-EchoFunction")
    assert lambda_context["aws_request_id"]
    assert 0 < lambda_context["remaining_ms"] <= 10_000  # Timeout: 10 in the fixture template


def test_token_without_bearer_prefix_is_accepted(api: httpx.Client, fixture_stack: LocalStack) -> None:
    token = fixture_stack.token("tenant-a")
    assert api.get("/items/1", headers={"authorization": token}).status_code == 200


@pytest.mark.parametrize("case", ["missing", "expired", "wrong-audience", "wrong-issuer", "foreign-key", "garbage"])
def test_bad_bearer_is_rejected_without_calling_the_handler(api: httpx.Client, fixture_stack: LocalStack,
                                                            case: str) -> None:
    issuer = fixture_stack.issuer
    tokens = {
        "missing": None,
        "expired": fixture_stack.token("tenant-a", exp=int(time.time()) - 10),
        "wrong-audience": fixture_stack.token("tenant-a", aud="someone-else"),
        "wrong-issuer": fixture_stack.token("tenant-a", iss="https://evil.example/"),
        "foreign-key": LocalIssuer(issuer.issuer, issuer.audience).mint("tenant-a", "u", "admin"),
        "garbage": "not.a.jwt",
    }
    before = echo_calls(fixture_stack)
    headers = {} if tokens[case] is None else {"authorization": f"Bearer {tokens[case]}"}

    response = api.get("/items/1", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    if case == "expired":
        assert "expired" in response.headers["www-authenticate"]
    assert echo_calls(fixture_stack) == before


def test_public_route_needs_no_token(api: httpx.Client) -> None:
    response = api.get("/shapes/plain")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "world"}  # no statusCode: sent as a 200 JSON body


def test_route_scopes_are_enforced(api: httpx.Client, fixture_stack: LocalStack) -> None:
    assert api.get("/scoped", headers=bearer(fixture_stack)).json() == {"message": "Forbidden"}
    response = api.get("/scoped", headers=bearer(fixture_stack, scope="leads/read leads/write"))
    assert response.status_code == 200
    assert response.json()["event"]["requestContext"]["authorizer"]["jwt"]["scopes"] == ["leads/read", "leads/write"]


def test_literal_route_wins_over_parameter_and_greedy_routes_match_any_method(api: httpx.Client,
                                                                               fixture_stack: LocalStack) -> None:
    auth = bearer(fixture_stack)
    assert api.get("/items/latest", headers=auth).json()["event"]["routeKey"] == "GET /items/latest"
    event = api.delete("/files/reports/2024/q1.csv", headers=auth).json()["event"]
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "reports/2024/q1.csv"}
    assert event["requestContext"]["http"]["method"] == "DELETE"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/items/1"), ("GET", "/items")])
def test_unknown_route_or_method_is_404(api: httpx.Client, fixture_stack: LocalStack, method: str, path: str) -> None:
    response = api.request(method, path, headers=bearer(fixture_stack))
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_json_body_is_text_and_binary_body_is_base64(api: httpx.Client, fixture_stack: LocalStack) -> None:
    auth = bearer(fixture_stack)
    event = api.post("/items", headers=auth, json={"name": "Ærø"}).json()["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"name": "Ærø"}

    raw = b"\x00\x01binary\xff"
    event = api.post("/items", headers={**auth, "content-type": "application/octet-stream"}, content=raw).json()[
        "event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw

    event = api.post("/items", headers=auth, data={"a": "1"}).json()["event"]
    assert event["isBase64Encoded"] is True  # HTTP APIs base64 form posts too
    assert base64.b64decode(event["body"]) == b"a=1"


def test_handler_response_shapes(api: httpx.Client) -> None:
    binary = api.get("/shapes/binary")
    assert binary.headers["content-type"] == "image/png"
    assert binary.content == b"\x89PNG\r\n\x1a\n\x00\xff"

    cookies = api.get("/shapes/cookies")
    assert cookies.status_code == 201
    assert cookies.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert cookies.text == "made"

    redirect = api.get("/shapes/redirect", follow_redirects=False)
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "https://app.example.com/done"


@pytest.mark.parametrize("kind", ["malformed", "explode"])
def test_handler_errors_become_api_gateway_500(api: httpx.Client, kind: str) -> None:
    response = api.get(f"/shapes/{kind}")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert "Traceback" not in response.text


def test_route_whose_handler_is_not_built_answers_501(api: httpx.Client, fixture_stack: LocalStack) -> None:
    response = api.get("/missing", headers=bearer(fixture_stack))
    assert response.status_code == 501
    assert response.json() == {"message": "handler tests/fixtures/stack/functions/missing/app.py not built"}


def test_cors_preflight_and_response_headers(api: httpx.Client, fixture_stack: LocalStack) -> None:
    before = echo_calls(fixture_stack)
    preflight = api.options("/items/1", headers={"origin": "https://app.example.com",
                                                 "access-control-request-method": "GET",
                                                 "access-control-request-headers": "authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert set(preflight.headers["access-control-allow-methods"].split(",")) == {"GET", "POST"}
    assert preflight.headers["access-control-allow-headers"] == "authorization,content-type"
    assert preflight.headers["access-control-max-age"] == "300"
    assert echo_calls(fixture_stack) == before  # preflight needs no token and never reaches the function

    stranger = api.options("/items/1", headers={"origin": "https://evil.example",
                                                "access-control-request-method": "GET"})
    assert "access-control-allow-origin" not in stranger.headers

    response = api.get("/items/1", headers={**bearer(fixture_stack), "origin": "https://app.example.com"})
    # The API's CORS settings replace the "*" the handler returned.
    assert response.headers.get_list("access-control-allow-origin") == ["https://app.example.com"]
    assert response.headers["access-control-expose-headers"] == "etag"
    denied = api.get("/items/1", headers={"origin": "https://app.example.com"})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "https://app.example.com"


def test_swagger_page_and_openapi_document(api: httpx.Client, fixture_stack: LocalStack, tmp_path: Any) -> None:
    page = api.get("/swagger")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text

    gateway = fixture_stack.gateway
    original = gateway.openapi_path
    try:
        gateway.openapi_path = tmp_path / "absent.json"
        derived = api.get("/openapi.json").json()  # from the template's routes
        assert derived["paths"]["/items/{id}"]["get"]["security"] == [{"bearerAuth": []}]
        assert derived["paths"]["/shapes/{kind}"]["get"]["security"] == []
        assert derived["paths"]["/files/{proxy}"]["any"]["parameters"][0]["name"] == "proxy"

        generated = tmp_path / "openapi.json"
        generated.write_text(json.dumps({"openapi": "3.1.0", "info": {"title": "generated"}, "paths": {}}))
        gateway.openapi_path = generated
        assert api.get("/openapi.json").json()["info"]["title"] == "generated"
    finally:
        gateway.openapi_path = original


def test_jwks_of_the_local_issuer(api: httpx.Client, fixture_stack: LocalStack) -> None:
    keys = api.get("/.well-known/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == [fixture_stack.issuer.kid]
    assert "d" not in keys[0]  # public part only


# ---------------------------------------------------------------------------------------- the real template


def test_real_template_routes_are_served_behind_the_jwt_authorizer(stack: LocalStack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        for route in stack.template.http_routes():
            path = route.path.replace("{crm}", "superoffice")
            anonymous = client.request(route.method, path)
            gateway_refusals = (b'{"message":"Unauthorized"}', b'{"message":"Not Found"}')
            if route.authorizer:
                assert anonymous.status_code == 401, route.route_key
                assert anonymous.json() == {"message": "Unauthorized"}
            else:  # public: the function itself answers (whatever it thinks of an empty request)
                assert anonymous.content not in gateway_refusals, route.route_key

        admin = {"authorization": f"Bearer {stack.admin_token()}"}
        response = client.get("/sync-log", headers=admin)
        built = (REPO_ROOT / "functions" / "export" / "app.py").is_file()
        assert response.status_code == (200 if built else 501), response.text
