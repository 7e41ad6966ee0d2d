"""Issue #16 finding 4, over real HTTP through the local gateway to the SuperOffice sandbox: a request body is taken as
sent or refused with a 4xx JSON error naming what is wrong, and nothing reaches the CRM.

- strict values: a string or boolean where the lead has a whole number is a 422 naming the field (not converted);
  the lead contract's deliberate readings (an amount as a string, dates as ISO strings) still export;
- length limits: a text longer than the CRMs take (docs/export.md, "Field limits") is a 422 naming the field;
- body size: over the route's limit a 413 in the JSON error shape before anything is parsed, and over API Gateway's
  10 MB the gateway's own 413 JSON;
- invalid UTF-8 (raw bytes, or a lone surrogate spelt as an escape) is a 400 `invalid_input`, never replaced.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.superoffice.oauth import SuperOfficeOAuth
from leadbridge.json_body import MAX_BODY_BYTES, MAX_BULK_BODY_BYTES
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.lead import LONG_TEXT_MAX, SHORT_TEXT_MAX
from tests.integration.test_hostile_input import assert_json_error, raw_request
from tests.support.superoffice_connect import ADMIN_EMAIL, CTX, Env

TENANT = "tenant-strict"
MB = 1024 * 1024


class Connected:
    """A tenant connected to the SuperOffice sandbox, and what reached the CRM since the test began."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.crm_before = Counter(env.sandbox.call_counts(CTX))

    def headers(self, role: str = "admin", content_type: str | None = "application/json") -> dict[str, str]:
        return {**self.env.auth(TENANT, role), **({"content-type": content_type} if content_type else {})}

    def crm_writes(self) -> Counter[str]:
        calls = Counter(self.env.sandbox.call_counts(CTX)) - self.crm_before
        return Counter({op: n for op, n in calls.items() if op.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE")})

    def assert_nothing_written(self) -> None:
        assert self.crm_writes() == Counter()
        records = self.env.sandbox.customers[CTX].records
        assert not records["contact"] and not records["person"]
        runs = self.env.http.get("/sync-runs", headers=self.headers())
        assert runs.status_code == 200 and runs.json()["items"] == [], runs.text
        status = self.env.http.get("/leads/L-1/sync-status", headers=self.headers())
        assert status.status_code == 200 and status.json()["company"] is None, status.text


def seed_connection(env: Env) -> None:
    """The tenant connected to the sandbox customer CTX: a grant from the sandbox's authorization-code flow, stored
    as the callback stores it (the connect flow itself is tested in test_connections_api and the e2e tests)."""
    redirect_uri = f"{env.stack.gateway_url}/oauth/superoffice/callback"
    oauth = SuperOfficeOAuth(
        client_id=os.environ["SUPEROFFICE_CLIENT_ID"],
        client_secret=os.environ["SUPEROFFICE_CLIENT_SECRET"],
        login_base=env.sandbox.login_base,
    )
    request = oauth.authorization_request(redirect_uri=redirect_uri)
    login = httpx.get(request.url + "&" + urlencode({"sandbox_login": ADMIN_EMAIL}), follow_redirects=False)
    assert login.status_code == 302, login.text
    code = parse_qs(urlsplit(login.headers["location"]).query)["code"][0]
    grant = oauth.exchange_code(
        code=code, code_verifier=request.code_verifier, redirect_uri=redirect_uri, nonce=request.nonce
    )
    secret_name = f"leadbridge/local/tenants/{TENANT}/superoffice"
    runtime.token_vault().store_grant(secret_name, grant, new_connection=True)
    runtime.connection_store().save(
        Connection(
            tenant_id=TENANT,
            crm="superoffice",
            status=ConnectionStatus.CONNECTED,
            account_id=grant.account_id,
            api_base=grant.api_base,
            secret_name=secret_name,
            connected_by=ADMIN_EMAIL,
            connected_at=datetime.now(UTC),
            connection_key=secrets.token_urlsafe(24),
        )
    )
    runtime.reset()


@pytest.fixture
def connected(env: Env) -> Iterator[Connected]:
    seed_connection(env)
    with env.sandbox.lock:  # no CRM change notifications: the test counts the CRM's requests
        env.sandbox.customers[CTX].webhooks.clear()
    yield Connected(env)


def export(connected: Connected, lead: dict[str, Any], **headers: str) -> Any:
    return connected.env.http.post(
        f"/leads/{lead['id']}/export", json={"lead": lead}, headers={**connected.headers(), **headers}
    )


def error_locs(body: dict[str, Any]) -> list[tuple[list[Any], str]]:
    return [(e["loc"], e["type"]) for e in body["error"]["details"]["errors"]]


# --- strict values ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("score", "85"), ("score", True), ("intentScore", "high"), ("employees", "120"), ("employees", 12.5)],
)
def test_a_whole_number_given_as_anything_else_is_422_naming_it(connected: Connected, field: str, value: Any) -> None:
    response = export(connected, {"id": "L-1", "companyName": "Strict ApS", field: value})

    body = assert_json_error(response, 422, "invalid_input")
    assert [loc for loc, _ in error_locs(body)] == [["body", "lead", field]]
    connected.assert_nothing_written()


def test_the_lead_contracts_own_readings_still_export(connected: Connected) -> None:
    # The control for the test above: amounts as strings and ISO dates are the documented contract.
    lead = {"id": "L-1", "companyName": "Strict ApS", "score": 85, "dealAmount": "125000", "createdDate": "2026-05-01"}

    response = export(connected, lead)

    assert response.status_code == 200, response.text
    assert response.json()["company"]["action"] == "created"


def test_preview_linked_must_be_a_boolean(connected: Connected) -> None:
    response = connected.env.http.post(
        "/settings/superoffice/preview", json={"lead": {"id": "L-1"}, "linked": "yes"}, headers=connected.headers()
    )

    body = assert_json_error(response, 422, "invalid_input")
    assert [loc for loc, _ in error_locs(body)] == [["body", "linked"]]


def test_a_sync_run_with_full_yes_is_422_naming_full_and_starts_nothing(connected: Connected) -> None:
    response = connected.env.http.post("/sync-runs", json={"full": "yes"}, headers=connected.headers())

    body = assert_json_error(response, 422, "invalid_input")
    assert [loc for loc, _ in error_locs(body)] == [["body", "full"]]
    connected.assert_nothing_written()


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"initial_import": "yes"}, ["body", "initial_import"]),
        ({"selective_sync": {"enabled": 1}}, ["body", "selective_sync", "enabled"]),
        ({"lead_conversion": {"create_deal": "false"}}, ["body", "lead_conversion", "create_deal"]),
    ],
)
def test_a_settings_flag_that_is_not_a_json_boolean_is_422_and_changes_nothing(
    connected: Connected, patch: dict[str, object], loc: list[str]
) -> None:
    before = connected.env.http.get("/settings/superoffice", headers=connected.headers()).json()

    response = connected.env.http.patch("/settings/superoffice", json=patch,
                                        headers={**connected.headers(), "If-Match": "*"})  # fmt: skip

    body = assert_json_error(response, 422, "invalid_input")
    assert loc in [found for found, _ in error_locs(body)], body
    assert connected.env.http.get("/settings/superoffice", headers=connected.headers()).json() == before


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"country_mapping": {"names": {"x" * 300: "Denmark"}}}, "names"),
        ({"status_mapping": {"app_stages": ["y" * 101]}}, "app_stages"),
        ({"schedule": {"timezone": "z" * 100}}, "timezone"),
    ],
)
def test_an_overlong_settings_string_is_422_naming_it(
    connected: Connected, patch: dict[str, object], field: str
) -> None:
    response = connected.env.http.patch("/settings/superoffice", json=patch,
                                        headers={**connected.headers(), "If-Match": "*"})  # fmt: skip

    body = assert_json_error(response, 422, "invalid_input")
    assert any(field in [str(part) for part in loc] for loc, _ in error_locs(body)), body


# --- length limits ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "loc"),
    [
        ({"companyName": "A" * 1_000_000}, ["lead", "companyName"]),
        ({"company_name": "A" * (SHORT_TEXT_MAX + 1)}, ["lead", "company_name"]),
        ({"cvr": "1" * (SHORT_TEXT_MAX + 1)}, ["lead", "cvr"]),
        ({"reasonForFit": "r" * (LONG_TEXT_MAX + 1)}, ["lead", "reasonForFit"]),
        ({"contacts": [{"name": "Anne", "email": "a" * 300 + "@x.dk"}]}, ["lead", "contacts", 0, "email"]),
    ],
    ids=["1MB-company-name", "company-name-256", "cvr-256", "long-text-32001", "contact-email"],
)
def test_a_text_longer_than_the_crms_take_is_422_naming_the_field(
    connected: Connected, lead: dict[str, Any], loc: list[Any]
) -> None:
    response = export(connected, {"id": "L-1", **lead})

    body = assert_json_error(response, 422, "invalid_input")
    assert error_locs(body) == [(["body", *loc], "string_too_long")]
    assert len(response.content) < 10_000  # the refused text is not echoed back
    connected.assert_nothing_written()


def test_texts_at_their_limits_are_accepted(connected: Connected) -> None:
    lead = {"id": "L-1", "companyName": "B" * SHORT_TEXT_MAX, "userNotes": "n" * LONG_TEXT_MAX}

    response = connected.env.http.post(
        "/settings/superoffice/preview", json={"lead": lead}, headers=connected.headers()
    )

    assert response.status_code == 200, response.text


# --- body size --------------------------------------------------------------------------------------------------------


def padded(size: int, *, bulk: bool = False) -> bytes:
    """A body of exactly `size` bytes: one lead with an unknown `pad` member, as the single or the bulk export
    takes it (so a body that is read is a 422 naming `pad`)."""

    def body(pad: str) -> bytes:
        lead = {"id": "L-1", "companyName": "Pad ApS", "pad": pad}
        return json.dumps({"leads": [lead]} if bulk else {"lead": lead}).encode()

    return body("x" * (size - len(body(""))))


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/leads/L-1/export"), ("POST", "/leads/L-1/events"), ("PUT", "/settings/superoffice"),
     ("POST", "/sync-runs")],
)  # fmt: skip
def test_a_body_over_the_limit_is_413_json_before_it_is_parsed(connected: Connected, method: str, path: str) -> None:
    raw = padded(MAX_BODY_BYTES + 1)

    response = connected.env.http.request(method, path, content=raw, headers={**connected.headers(), "if-match": "*"})

    body = assert_json_error(response, 413, "payload_too_large")
    assert str(MAX_BODY_BYTES) in body["error"]["message"]
    connected.assert_nothing_written()


def test_a_body_at_the_limit_is_read(connected: Connected) -> None:
    response = connected.env.http.post("/leads/L-1/export", content=padded(MAX_BODY_BYTES), headers=connected.headers())

    # Read and validated: the padding is an unknown member (422 naming it), not a size refusal.
    body = assert_json_error(response, 422, "invalid_input")
    assert [loc for loc, _ in error_locs(body)] == [["body", "lead", "pad"]]


def test_the_bulk_export_has_its_own_larger_limit(connected: Connected) -> None:
    within = connected.env.http.post("/exports", content=padded(2 * MB, bulk=True), headers=connected.headers())
    body = assert_json_error(within, 422, "invalid_input")  # read: the padding is an unknown member
    assert [loc for loc, _ in error_locs(body)] == [["body", "leads", 0, "pad"]]

    over = connected.env.http.post(
        "/exports", content=padded(MAX_BULK_BODY_BYTES + 1, bulk=True), headers=connected.headers()
    )
    assert_json_error(over, 413, "payload_too_large")
    connected.assert_nothing_written()


def test_the_gateway_answers_a_body_over_api_gateways_limit_with_413_json(env: Env) -> None:
    # The gateway refuses on the declared length, before reading the body or invoking anything.
    status, headers, body = raw_request(
        env.stack,
        b"POST /exports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {10 * MB + 1}\r\n\r\n".encode(),
    )

    assert (status, headers["content-type"]) == (413, "application/json")
    assert json.loads(body) == {"message": "Request Entity Too Large"}


# --- invalid UTF-8 ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"lead": {"id": "L-1", "companyName": "Caf\xe9 ApS"}}',  # Latin-1, not UTF-8
        b'{"lead": {"id": "L-1", "companyName": "Bad \xff\xfe"}}',
        b'{"lead": {"id": "L-1", "companyName": "Lone \\ud800 surrogate"}}',
    ],
    ids=["latin-1", "ff-fe", "lone-surrogate-escape"],
)
def test_a_json_body_that_is_not_utf8_is_400_invalid_input_and_nothing_is_exported(
    connected: Connected, raw: bytes
) -> None:
    response = connected.env.http.post("/leads/L-1/export", content=raw, headers=connected.headers())

    body = assert_json_error(response, 400, "invalid_input")
    assert "not valid UTF-8" in body["error"]["message"]
    connected.assert_nothing_written()


def test_a_surrogate_pair_escape_is_one_character_and_exports(connected: Connected) -> None:
    raw = b'{"lead": {"id": "L-1", "companyName": "Smile \\ud83d\\ude00 ApS"}}'

    response = connected.env.http.post("/leads/L-1/export", content=raw, headers=connected.headers())

    assert response.status_code == 200, response.text
