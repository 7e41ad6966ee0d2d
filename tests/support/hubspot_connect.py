"""A tenant connected to the HubSpot sandbox the way an admin does it: through the local gateway (template routes,
JWT authorizer, handlers) and the sandbox's install page with PKCE.

- `hs_sandbox` (module): a started `HubSpotSandbox` whose webhooks go out only on `tick_webhooks`.
- `hsc` (function): the `stack` and `hs_sandbox` reset, a portal with an admin and a sales rep, a custom `cvr`
  company property, the app registered with the connector's scopes and its webhook target at the gateway's
  app-level endpoint; an `HsConnect` whose `connect()` runs the whole flow for `TENANT`.

A test module imports both fixtures (`from tests.support.hubspot_connect import hs_sandbox, hsc`).
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
from local.sandbox.hubspot import HubSpotSandbox
from local.sandbox.hubspot.demo import DEMO_SCOPES
from local.stack import LocalStack

ADMIN_EMAIL = "admin@hs-connect.test"
REP_EMAIL = "rep@hs-connect.test"
TENANT = "acme-hs"
PORTAL_NAME = "Connect Test ApS"


@pytest.fixture(scope="module")
def hs_sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox() as server:
        yield server


class HsConnect:
    def __init__(self, stack: LocalStack, sandbox: HubSpotSandbox, http: httpx.Client, hub_id: int,
                 app_id: int, owner_ids: dict[str, str]) -> None:
        self.stack = stack
        self.sandbox = sandbox
        self.http = http
        self.hub_id = hub_id
        self.app_id = app_id
        self.owner_ids = owner_ids  # e-mail -> owner id (what records are assigned with)
        self.return_url = f"{stack.gateway_url}/swagger"

    def auth(self, tenant: str = TENANT, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token(tenant, role, sub=f'{role}-of-{tenant}')}"}

    def sign_in_url(self, tenant: str = TENANT) -> str:
        """Ask leadbridge to connect; follow any leadbridge hop to HubSpot's authorize page."""
        response = self.http.post("/connections/hubspot/authorize", json={"return_url": self.return_url},
                                  headers=self.auth(tenant))
        assert response.status_code == 200, response.text
        url = str(response.json()["authorization_url"])
        while url.startswith(self.stack.gateway_url):
            hop = self.http.get(url)
            assert hop.status_code == 302, hop.text
            url = hop.headers["location"]
        assert url.startswith(f"{self.sandbox.app_base}/oauth/"), url
        return url

    def connect(self, tenant: str = TENANT, email: str = ADMIN_EMAIL) -> dict[str, str]:
        consent = self.http.get(f"{self.sign_in_url(tenant)}&{urlencode({'sandbox_login': email})}")
        assert consent.status_code == 302, consent.text
        callback = consent.headers["location"]
        assert callback.startswith(f"{self.stack.gateway_url}/oauth/hubspot/callback?"), callback
        landed = self.http.get(callback)
        assert landed.status_code == 302, landed.text
        location = landed.headers["location"]
        assert location.startswith(self.return_url + "?"), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def status(self, tenant: str = TENANT) -> dict[str, Any]:
        response = self.http.get("/connections/hubspot", headers=self.auth(tenant, "member"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def connection(self, tenant: str = TENANT) -> Connection:
        found = runtime.connection_store().get(tenant, "hubspot")
        assert found is not None
        return found

    def calls(self, *methods: str) -> dict[str, int]:
        """The portal's CRM calls so far by operation, only those of `methods` when given."""
        counts = self.sandbox.call_counts(self.hub_id)
        return {op: n for op, n in counts.items() if not methods or op.split(" ", 1)[0] in methods}

    def writes(self) -> int:
        return sum(self.calls("POST", "PATCH", "PUT", "DELETE").values()) - sum(
            n for op, n in self.calls("POST").items() if op.endswith("/search") or op.endswith("/batch/read"))


@pytest.fixture
def hsc(stack: LocalStack, hs_sandbox: HubSpotSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[HsConnect]:
    stack.reset_aws()
    hs_sandbox.reset()
    portal = hs_sandbox.add_portal(PORTAL_NAME, domain="connecttest.dk")
    admin = hs_sandbox.add_user(portal.hub_id, ADMIN_EMAIL, "Sam", "Admin")
    rep = hs_sandbox.add_user(portal.hub_id, REP_EMAIL, "Rita", "Rep")
    hs_sandbox.add_property(portal.hub_id, "companies", "cvr", "CVR number", unique=True)
    app = hs_sandbox.register_app([f"{stack.gateway_url}/oauth/hubspot/callback"], client_secret="hs-app-secret",
                                  scopes=DEMO_SCOPES)
    hs_sandbox.set_webhook_target(app.client_id, f"{stack.gateway_url}/webhooks/hubspot")
    monkeypatch.setenv("HUBSPOT_API_BASE", hs_sandbox.api_base)
    monkeypatch.setenv("HUBSPOT_APP_BASE", hs_sandbox.app_base)
    monkeypatch.setenv("HUBSPOT_CLIENT_ID", app.client_id)
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", app.client_secret)
    monkeypatch.setenv("HUBSPOT_APP_ID", str(app.app_id))
    monkeypatch.setenv("HUBSPOT_WEBHOOK_URL", f"{stack.gateway_url}/webhooks/hubspot")
    monkeypatch.delenv("HUBSPOT_CLIENT_SECRET_NAME", raising=False)
    runtime.reset()
    reset_providers()
    with httpx.Client(base_url=stack.gateway_url, timeout=15, follow_redirects=False) as http:
        yield HsConnect(stack, hs_sandbox, http, portal.hub_id, app.app_id,
                        {ADMIN_EMAIL: admin.id, REP_EMAIL: rep.id})
    runtime.reset()
    reset_providers()
