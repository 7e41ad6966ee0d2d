"""A tenant connected to the SuperOffice sandbox the way an admin does it: through the local gateway (template routes,
JWT authorizer, handlers) and the sandbox's SuperID login with PKCE. The browser is played by httpx (with its cookie
jar) without following redirects, so every step can be checked. The authorize call is made from the same "browser", as
leadbridge's connect page makes it (same-origin), so the browser-binding cookie it sets lands in that browser.

- `sandbox` (module): a started `SuperOfficeSandbox` (webhook retries 100 times faster, no spec check).
- `env` (function): the `stack` and `sandbox` reset, customers `CTX` and `OTHER_CTX` each with an admin, the OAuth
  app registered and configured; an `Env` whose `connect(tenant)` runs the whole flow.

Registered for every test by tests/conftest.py; a module defining its own `sandbox` or `env` overrides them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from leadbridge.models.connection import Connection
from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from local.stack import LocalStack
from tests.support.local_stack import stop_in_background

CTX, OTHER_CTX = "Cust40001", "Cust40002"
ADMIN_EMAIL, OTHER_EMAIL = "admin@cust40001.test", "admin@cust40002.test"
TOKEN_CALL = "POST /login/common/oauth/tokens"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SuperOfficeSandbox]:
    server = SuperOfficeSandbox(webhook_delay_factor=0.01, spec_check=False).start()
    yield server
    server.stop_workers()  # now: a late webhook must not reach the next module's stack
    stop_in_background(server.stop)


@contextmanager
def configured_app(
    stack: LocalStack, sandbox: SuperOfficeSandbox, patch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    """The OAuth app registered in the sandbox and configured for the stack's functions (the environment they read,
    providers rebuilt); the "browser" for the flow. Customers and users are the caller's."""
    app = sandbox.register_app([f"{stack.gateway_url}/oauth/superoffice/callback"], client_secret="app-secret")
    patch.setenv("SUPEROFFICE_LOGIN_BASE", sandbox.login_base)
    patch.setenv("SUPEROFFICE_CLIENT_ID", app.client_id)
    patch.setenv("SUPEROFFICE_CLIENT_SECRET", app.client_secret)
    patch.delenv("SUPEROFFICE_CLIENT_SECRET_NAME", raising=False)
    runtime.reset()
    reset_providers()
    try:
        with httpx.Client(base_url=stack.gateway_url, timeout=15, follow_redirects=False) as http:
            yield http
    finally:
        runtime.reset()
        reset_providers()


@pytest.fixture
def env(stack: LocalStack, sandbox: SuperOfficeSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    stack.reset_aws()
    sandbox.reset()
    sandbox.add_customer(CTX, "Connect Test AS")
    sandbox.add_user(CTX, ADMIN_EMAIL, is_admin=True)
    sandbox.add_customer(OTHER_CTX, "Other Account AS")
    sandbox.add_user(OTHER_CTX, OTHER_EMAIL, is_admin=True)
    with configured_app(stack, sandbox, monkeypatch) as http:
        yield Env(stack, sandbox, http)


class Env:
    def __init__(self, stack: LocalStack, sandbox: SuperOfficeSandbox, http: httpx.Client) -> None:
        self.stack = stack
        self.sandbox = sandbox
        self.http = http
        self.return_url = f"{stack.gateway_url}/swagger"
        self.seen: list[httpx.Response] = []  # every response the "browser" and the app got

    def auth(self, tenant: str, role: str = "admin", **claims: Any) -> dict[str, str]:
        token = self.stack.token(tenant, role, sub=f"{role}-of-{tenant}", **claims)
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, url, **kwargs)
        self.seen.append(response)
        return response

    def authorize(self, tenant: str, *, email: str | None = None, require_same_email: bool = False) -> str:
        """The admin's authorize call from the browser (it keeps the binding cookie); returns the CRM sign-in URL."""
        body: dict[str, Any] = {"return_url": self.return_url}
        if require_same_email:
            body["require_same_email"] = True
        claims = {"email": email} if email else {}
        response = self.call(
            "POST", "/connections/superoffice/authorize", json=body, headers=self.auth(tenant, **claims)
        )
        assert response.status_code == 200, response.text
        url = str(response.json()["authorization_url"])
        assert url.startswith(f"{self.sandbox.login_base}/login/common/oauth/authorize?")
        return url

    def login(self, authorization_url: str, email: str = ADMIN_EMAIL, consent: str = "allow") -> str:
        """The admin's browser signs in at SuperOffice; returns where SuperOffice sends the browser (our callback)."""
        return self.sign_in(authorization_url, email, consent)

    def sign_in(self, crm_url: str, email: str = ADMIN_EMAIL, consent: str = "allow") -> str:
        extra = urlencode({"sandbox_login": email, "sandbox_consent": consent})
        response = self.call("GET", f"{crm_url}&{extra}")
        assert response.status_code == 302, response.text
        return response.headers["location"]

    def back_to_leadbridge(self, callback_url: str) -> httpx.Response:
        assert callback_url.startswith(f"{self.stack.gateway_url}/oauth/superoffice/callback?")
        return self.call("GET", callback_url)

    def connect(self, tenant: str, email: str = ADMIN_EMAIL) -> dict[str, str]:
        response = self.back_to_leadbridge(self.login(self.authorize(tenant), email))
        assert response.status_code == 302, response.text
        return landing(response, self.return_url)

    def status(self, tenant: str) -> dict[str, Any]:
        response = self.call("GET", "/connections/superoffice", headers=self.auth(tenant, "member"))
        assert response.status_code == 200
        return dict(response.json())

    def connection(self, tenant: str) -> Connection:
        found = runtime.connection_store().get(tenant, "superoffice")
        assert found is not None
        return found

    def stored_grant(self, tenant: str) -> dict[str, Any]:
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=self.connection(tenant).secret_name)
        return dict(json.loads(secret["SecretString"]))

    def token_calls(self) -> int:
        return self.sandbox.call_counts("login").get(TOKEN_CALL, 0)


def landing(response: httpx.Response, return_url: str) -> dict[str, str]:
    location = response.headers["location"]
    assert location.startswith(return_url + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
