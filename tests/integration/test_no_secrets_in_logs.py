"""No secret ever reaches the logs: the production log handler's output is captured while (a) code logs dicts, extras,
free text and exceptions full of tokens and (b) every HTTP route of template.yaml runs with full event logging on
(POWERTOOLS_LOGGER_LOG_EVENT=true) for a request that carries a bearer token, an OAuth code and tokens in the body.
The captured text is scanned for each secret string."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from leadbridge import runtime
from leadbridge.api.testing import http_api_event
from leadbridge.observability import logger
from local.lambda_runtime import FunctionRuntime

ACCESS = "AT-8f3e2b1c9d7a6e5f4b3c2d1e0f9a8b7c"
REFRESH = "RT-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXNlY3JldA"
CLIENT_SECRET = "CS-supersecret-0011223344"
CODE = "AUTHCODE-5566778899aabbcc"
VERIFIER = "VERIFIER-ddeeff00112233445566778899"
PASSWORD = "hunter2-but-longer-1234"
SECRETS = [ACCESS, REFRESH, ID_TOKEN, CLIENT_SECRET, CODE, VERIFIER, PASSWORD]


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def leaked(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_logging_structures_and_text_with_tokens(logs):
    logger.info({"access_token": ACCESS, "grant": {"refresh_token": REFRESH, "id_token": ID_TOKEN, "expires_in": 3600}})
    logger.info("token response", extra={"client_secret": CLIENT_SECRET, "Authorization": f"Bearer {ACCESS}"})
    logger.info(f"POST /token body=grant_type=authorization_code&code={CODE}&code_verifier={VERIFIER}")
    logger.warning(f'CRM said: {{"error": "invalid_grant", "refresh_token": "{REFRESH}"}}')
    logger.info("headers", extra={"headers": {"authorization": f"Bearer {ACCESS}", "x-api-key": PASSWORD}})
    logger.info("user", extra={"user": {"password": PASSWORD, "name": "Ada"}, "items": [{"secret": CLIENT_SECRET}]})
    logging.getLogger("httpx").warning("HTTP Request: GET https://crm.test/cb?code=%s&state=abc", CODE)
    try:
        raise RuntimeError(f"refresh failed for Bearer {ACCESS} with {{'access_token': '{ACCESS}'}}")
    except RuntimeError:
        logger.exception("refresh failed")

    text = logs.getvalue()
    assert leaked(text) == []
    # The records themselves are there, with non-secret facts intact: redaction did not drop whole lines.
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 8
    assert lines[0]["message"]["grant"]["expires_in"] == 3600
    assert lines[5]["user"]["name"] == "Ada"
    assert "state=abc" in lines[6]["message"]
    assert "invalid_grant" in lines[3]["message"]


def test_every_http_route_with_full_event_logging(logs, aws, sam_template, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    runtime.reset()
    functions = FunctionRuntime(sam_template)  # fresh module imports, so the decorators see the setting
    invoked = []
    for route in sam_template.http_routes():
        path = re.sub(r"\{(\w+)\+?\}", "superoffice", route.path)
        event = http_api_event(
            "POST" if route.method == "ANY" else route.method,
            path,
            route_key=route.route_key,
            query={"code": CODE, "state": "state-1", "code_verifier": VERIFIER},
            headers={"Authorization": f"Bearer {ACCESS}", "X-Client-Secret": CLIENT_SECRET},
            body={"access_token": ACCESS, "refresh_token": REFRESH, "id_token": ID_TOKEN, "password": PASSWORD},
            claims={"sub": "u1", "tenant_id": "acme", "role": "admin"},
            path_parameters={m: "superoffice" for m in re.findall(r"\{(\w+)\+?\}", route.path)},
        )
        invocation = functions.invoke(route.function_id, event)
        if invocation.not_built:
            continue
        invoked.append((route.route_key, event["requestContext"]["requestId"]))

    text = logs.getvalue()
    assert invoked, "no HTTP function is built yet"
    # Each invocation logged its event (so a secret in it would have been seen) ...
    for route_key, request_id in invoked:
        assert request_id in text, f"{route_key} did not log its event"
    # ... and no secret made it through.
    assert leaked(text) == []
    runtime.reset()
