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

import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from local.sandbox.hubspot import HubSpotSandbox
from local.sandbox.hubspot.demo import DEMO_SCOPES
from local.stack import LocalStack
from tests.support.gateway_connect import GatewayConnect

ADMIN_EMAIL = "admin@hs-connect.test"
REP_EMAIL = "rep@hs-connect.test"
TENANT = "acme-hs"
PORTAL_NAME = "Connect Test ApS"


@pytest.fixture(scope="module")
def hs_sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox() as server:
        yield server


class HsConnect(GatewayConnect):
    def __init__(self, stack: LocalStack, sandbox: HubSpotSandbox, http: httpx.Client, hub_id: int,
                 app_id: int, owner_ids: dict[str, str]) -> None:  # fmt: skip
        super().__init__(stack, http, crm="hubspot", tenant=TENANT, admin_email=ADMIN_EMAIL,
                         authorize_prefix=f"{sandbox.app_base}/oauth/")  # fmt: skip
        self.sandbox = sandbox
        self.hub_id = hub_id
        self.app_id = app_id
        self.owner_ids = owner_ids  # e-mail -> owner id (what records are assigned with)

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
