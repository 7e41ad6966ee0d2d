"""Issue #16 findings 1, 2, 3 and 6, over real HTTP through the local gateway and the template's functions:
no request body can make a route answer 5xx, a member is refused (403) before their body is validated, the public
webhook route parses nothing before the signature is verified, and the gateway answers every method the way API
Gateway does (JSON, never http.server's HTML)."""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.superoffice.webhooks import signature as sign
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.synclog import Outcome
from leadbridge.store.secret_names import webhook_secret_name
from local.stack import LocalStack

TENANT = "tenant-hostile"
NESTED = b"[" * 1000 + b"]" * 1000
NESTED_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
HUGE_INT = b'{"full": ' + b"9" * 5000 + b"}"

# Every route that takes a JSON body, with a body a member might send: valid JSON of the wrong shape.
BODY_ROUTES = [
    ("POST", "/leads/lead-1/match"),
    ("POST", "/leads/lead-1/export"),
    ("POST", "/leads/lead-1/events"),
    ("POST", "/leads/lead-1/activities"),
    ("POST", "/connections/superoffice/authorize"),
    ("PUT", "/settings/superoffice"),
    ("PATCH", "/settings/superoffice"),
    ("POST", "/settings/superoffice/preview"),
    ("POST", "/sync-runs"),
]
# The state-changing routes only an admin may call.
ADMIN_ROUTES = [
    *(
        route
        for crm in ("superoffice", "salesforce")
        for route in (
            ("POST", f"/connections/{crm}/authorize", {"return_url": 5, "unknown": [1]}),
            ("PUT", f"/settings/{crm}", {"mapping": "not-a-list", "schedule": {"interval_minutes": "x"}}),
            ("PATCH", f"/settings/{crm}", {"mapping": 17}),
        )
    ),
    ("POST", "/sync-runs", {"crm": 5, "full": {"x": 1}}),
]


class _AnyText(str):
    """Equal to any non-empty string."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_TEXT = _AnyText()


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
def as_role(stack: LocalStack) -> Callable[[str], dict[str, str]]:
    def headers(role: str) -> dict[str, str]:
        return {"authorization": f"Bearer {stack.token(TENANT, role)}", "content-type": "application/json"}

    return headers


def assert_json_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code, body
    return body


# --- findings 1 and 2: hostile JSON on every JSON route ---------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (NESTED, "deeper than 64"),
        (NESTED_OBJECT, "deeper than 64"),
        (HUGE_INT, "too many digits"),
        (b'{"full": NaN}', "not valid JSON"),
        (b'{"full": tru', "not valid JSON"),
        # Without a text content type the gateway hands the bytes over base64-encoded, as API Gateway does.
        (b'{"name": "\xff\xfe"}', "not valid UTF-8"),
    ],
    ids=["array-1000", "object-1000", "int-5000-digits", "nan", "truncated", "bad-utf8"],
)
def test_unreadable_json_is_400_invalid_input_on_every_json_route(
    api: httpx.Client, as_role: Callable[[str], dict[str, str]], method: str, path: str, raw: bytes, reason: str
) -> None:
    headers = as_role("admin")
    if reason == "not valid UTF-8":
        del headers["content-type"]
    response = api.request(method, path, content=raw, headers=headers)

    body = assert_json_error(response, 400, "invalid_input")
    assert reason in body["error"]["message"]
    assert body["error"]["details"]["errors"] == [{"loc": ["body"], "type": "json_invalid", "message": ANY_TEXT}]


def test_nesting_within_the_bound_still_reaches_validation(
    api: httpx.Client, as_role: Callable[[str], dict[str, str]]
) -> None:
    # 60 levels is readable JSON of the wrong shape: the route's own validation answers (422 naming the field).
    deep = {"full": json.loads("[" * 60 + "]" * 60)}
    response = api.post("/sync-runs", json=deep, headers=as_role("admin"))

    body = assert_json_error(response, 422, "invalid_input")
    assert ["body", "full"] in [e["loc"] for e in body["error"]["details"]["errors"]]


# --- finding 3: the role comes before the body ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "invalid"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _ in ADMIN_ROUTES])
def test_member_is_403_before_the_body_is_validated(
    api: httpx.Client, as_role: Callable[[str], dict[str, str]], method: str, path: str, invalid: dict[str, Any]
) -> None:
    if_match = {"if-match": '"1"'}  # settings writes need one; it does not matter to the others
    admin = api.request(method, path, json=invalid, headers={**as_role("admin"), **if_match})
    assert_json_error(admin, 422, "invalid_input")  # the body really is invalid: an admin is told which fields

    for content in (json.dumps(invalid).encode(), NESTED, b"not json at all"):
        member = api.request(method, path, content=content, headers={**as_role("member"), **if_match})
        body = assert_json_error(member, 403, "forbidden")
        assert "errors" not in body["error"]["details"]  # nothing about the body is revealed to a member


# --- finding 1: the public webhook route verifies before it parses ----------------------------------------------------


@pytest.fixture
def superoffice_key(stack: LocalStack) -> Iterator[tuple[str, str]]:
    runtime.reset()
    key, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    grant = f"leadbridge/local/tenants/{TENANT}/superoffice"
    runtime.connection_store().save(
        Connection(
            tenant_id=TENANT,
            crm="superoffice",
            status=ConnectionStatus.CONNECTED,
            account_id="Cust777",
            api_base="http://sandbox/api/",
            secret_name=grant,
            connected_by="admin@tenant",
            connected_at=datetime.now(UTC),
            connection_key=key,
            webhook_secret_name=webhook_secret_name(grant),
        )
    )
    runtime.token_vault().store_webhook_secret(webhook_secret_name(grant), secret)
    yield key, secret
    runtime.reset()


@pytest.fixture
def salesforce_key(stack: LocalStack) -> Iterator[str]:
    runtime.reset()
    key = secrets.token_urlsafe(24)
    grant = f"leadbridge/local/tenants/{TENANT}/salesforce"
    runtime.connection_store().save(
        Connection(
            tenant_id=TENANT,
            crm="salesforce",
            status=ConnectionStatus.CONNECTED,
            account_id="00D000000000001AAA",
            api_base="http://sandbox/",
            secret_name=grant,
            connected_by="admin@tenant",
            connected_at=datetime.now(UTC),
            connection_key=key,
            webhook_secret_name=webhook_secret_name(grant),
        )
    )
    runtime.token_vault().store_webhook_secret(webhook_secret_name(grant), secrets.token_urlsafe(32))
    yield key
    runtime.reset()


@pytest.mark.parametrize(
    "raw",
    [b"<a>" * 100_000 + b"</a>" * 100_000, b"<a>" + b"9" * 10_000 + b"</a>", NESTED],
    ids=["xml-deep", "xml-digits", "json-deep"],
)
def test_hostile_body_on_a_salesforce_key_is_400_webhook_malformed(
    api: httpx.Client, salesforce_key: str, raw: bytes
) -> None:
    # Outbound Messages carry no signature: the URL's key is the proof, so parsing comes right after it.
    response = api.post(f"/webhooks/salesforce/{salesforce_key}", content=raw, headers={"content-type": "text/xml"})

    assert_json_error(response, 400, "webhook_malformed")


@pytest.mark.parametrize("crm", ["superoffice", "salesforce"])
@pytest.mark.parametrize("raw", [NESTED, HUGE_INT], ids=["array-1000", "int-5000-digits"])
def test_unsigned_hostile_webhook_is_the_generic_401(api: httpx.Client, crm: str, raw: bytes) -> None:
    key = secrets.token_urlsafe(24)
    response = api.post(f"/webhooks/{crm}/{key}", content=raw, headers={"content-type": "application/json"})

    assert_json_error(response, 401, "unauthorized")


def test_unsigned_test_event_is_401_and_a_signed_one_200(
    api: httpx.Client, superoffice_key: tuple[str, str]
) -> None:
    key, secret = superoffice_key
    test_event = json.dumps({"EventId": "t-1", "Event": "test", "Entity": "test", "ContextIdentifier": "Cust777"})
    raw = test_event.encode()
    headers = {"content-type": "application/json", "x-hook-test": "true"}

    unsigned = api.post(f"/webhooks/superoffice/{key}", content=raw, headers=headers)
    assert_json_error(unsigned, 401, "unauthorized")

    signed = api.post(
        f"/webhooks/superoffice/{key}", content=raw, headers={**headers, "x-superoffice-signature": sign(secret, raw)}
    )
    assert signed.status_code == 200, signed.text


@pytest.mark.parametrize("raw", [NESTED, HUGE_INT, b'{"Event": "test", "EventId": "t", "x": ' + b"[" * 900 + b"]"],
                         ids=["array-1000", "int-5000-digits", "test-event-nested"])
def test_signed_hostile_webhook_is_400_webhook_malformed_in_the_sync_log(
    api: httpx.Client, stack: LocalStack, superoffice_key: tuple[str, str], raw: bytes
) -> None:
    key, secret = superoffice_key
    headers = {"content-type": "application/json", "x-superoffice-signature": sign(secret, raw)}

    response = api.post(f"/webhooks/superoffice/{key}", content=raw, headers=headers)

    assert_json_error(response, 400, "webhook_malformed")
    log = api.get("/sync-log", headers={"authorization": f"Bearer {stack.token(TENANT, 'admin')}"})
    assert log.status_code == 200, log.text
    failed = [e for e in log.json()["items"] if e["outcome"] == Outcome.FAILED.value]
    assert failed and failed[0]["error"]["code"] == "webhook_malformed"


# --- finding 6: every method answered as API Gateway does ------------------------------------------------------------


def raw_request(stack: LocalStack, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request over a plain socket (httpx would refuse some of these methods or lines)."""
    host, port = stack.gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "FOO"])
@pytest.mark.parametrize("path", ["/sync-runs", "/settings/superoffice", "/nowhere"])
def test_unknown_method_is_json_404_not_found(stack: LocalStack, method: str, path: str) -> None:
    status, headers, body = raw_request(
        stack, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    )

    assert (status, headers["content-type"]) == (404, "application/json")
    assert json.loads(body) == {"message": "Not Found"}


def test_malformed_request_line_is_json_400(stack: LocalStack) -> None:
    status, headers, body = raw_request(stack, b"GET /sync-runs HTTP/9.x\r\nHost: x\r\n\r\n")

    assert (status, headers["content-type"]) == (400, "application/json")
    assert json.loads(body) == {"message": "Bad Request"}


def test_known_route_with_another_method_is_json_404(api: httpx.Client) -> None:
    response = api.request("DELETE", "/sync-runs")

    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})
