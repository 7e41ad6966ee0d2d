"""A tenant connected to the Salesforce sandbox the way an admin does it: through the local gateway (template routes,
JWT authorizer, handlers) and the sandbox's login host with PKCE.

- `sf_sandbox` (module): a started `SalesforceSandbox` whose Outbound Messages go out only on `tick_outbound`.
- `sfc` (function): the `stack` and `sf_sandbox` reset, an org with an admin, the connected app registered and
  configured; an `SfConnect` whose `connect()` runs the whole flow for `TENANT`.

Registered for every test by tests/conftest.py; a module defining its own `sf_sandbox` or `sfc` overrides them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from leadbridge.models.connection import Connection
from local.sandbox.salesforce import SalesforceSandbox
from local.stack import LocalStack

ADMIN_EMAIL = "admin@sf-connect.test"
TENANT = "acme-sf"


@pytest.fixture(scope="module")
def sf_sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(outbound_background=False) as server:
        yield server


class SfConnect:
    def __init__(self, stack: LocalStack, sandbox: SalesforceSandbox, http: httpx.Client, org_id: str) -> None:
        self.stack = stack
        self.sandbox = sandbox
        self.http = http
        self.org_id = org_id
        self.return_url = f"{stack.gateway_url}/swagger"

    def auth(self, tenant: str = TENANT, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token(tenant, role, sub=f'{role}-of-{tenant}')}"}

    def sign_in_url(self, tenant: str = TENANT) -> str:
        """Ask leadbridge to connect; follow any leadbridge hop to the Salesforce authorize page."""
        response = self.http.post("/connections/salesforce/authorize", json={"return_url": self.return_url},
                                  headers=self.auth(tenant))
        assert response.status_code == 200, response.text
        url = str(response.json()["authorization_url"])
        while url.startswith(self.stack.gateway_url):
            hop = self.http.get(url)
            assert hop.status_code == 302, hop.text
            url = hop.headers["location"]
        assert url.startswith(f"{self.sandbox.login_base}/services/oauth2/authorize?")
        return url

    def connect(self, tenant: str = TENANT, email: str = ADMIN_EMAIL) -> dict[str, str]:
        consent = self.http.get(f"{self.sign_in_url(tenant)}&{urlencode({'sandbox_login': email})}")
        assert consent.status_code == 302, consent.text
        callback = consent.headers["location"]
        assert callback.startswith(f"{self.stack.gateway_url}/oauth/salesforce/callback?")
        landed = self.http.get(callback)
        assert landed.status_code == 302, landed.text
        location = landed.headers["location"]
        assert location.startswith(self.return_url + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def status(self, tenant: str = TENANT) -> dict[str, Any]:
        response = self.http.get("/connections/salesforce", headers=self.auth(tenant, "member"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def connection(self, tenant: str = TENANT) -> Connection:
        found = runtime.connection_store().get(tenant, "salesforce")
        assert found is not None
        return found

    def webhook_url(self, tenant: str = TENANT) -> str:
        return f"{self.stack.gateway_url}/webhooks/salesforce/{self.connection(tenant).connection_key}"


@pytest.fixture
def sfc(stack: LocalStack, sf_sandbox: SalesforceSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[SfConnect]:
    stack.reset_aws()
    sf_sandbox.reset()
    org = sf_sandbox.add_org("Connect Test Inc")
    sf_sandbox.add_user(org.org_id, ADMIN_EMAIL, name="Sam Admin", is_admin=True)
    app = sf_sandbox.register_app([f"{stack.gateway_url}/oauth/salesforce/callback"], client_secret="sf-app-secret")
    monkeypatch.setenv("SALESFORCE_LOGIN_BASE", sf_sandbox.login_base)
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", app.client_id)
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", app.client_secret)
    monkeypatch.delenv("SALESFORCE_CLIENT_SECRET_NAME", raising=False)
    runtime.reset()
    reset_providers()
    with httpx.Client(base_url=stack.gateway_url, timeout=15, follow_redirects=False) as http:
        yield SfConnect(stack, sf_sandbox, http, org.org_id)
    runtime.reset()
    reset_providers()
