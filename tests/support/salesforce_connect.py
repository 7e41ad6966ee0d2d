"""A tenant connected to the Salesforce sandbox the way an admin does it: through the local gateway (template routes,
JWT authorizer, handlers) and the sandbox's login host with PKCE.

- `sf_sandbox` (module): a started `SalesforceSandbox` whose Outbound Messages go out only on `tick_outbound`.
- `sfc` (function): the `stack` and `sf_sandbox` reset, an org with an admin, the connected app registered and
  configured; an `SfConnect` whose `connect()` runs the whole flow for `TENANT`.

Registered for every test by tests/conftest.py; a module defining its own `sf_sandbox` or `sfc` overrides them.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from local.sandbox.salesforce import SalesforceSandbox
from local.stack import LocalStack
from tests.support.gateway_connect import GatewayConnect
from tests.support.local_stack import stop_in_background

ADMIN_EMAIL = "admin@sf-connect.test"
TENANT = "acme-sf"


@pytest.fixture(scope="module")
def sf_sandbox() -> Iterator[SalesforceSandbox]:
    server = SalesforceSandbox(outbound_background=False).start()
    yield server
    server.stop_workers()  # now: a late webhook must not reach the next module's stack
    stop_in_background(server.stop)


class SfConnect(GatewayConnect):
    def __init__(self, stack: LocalStack, sandbox: SalesforceSandbox, http: httpx.Client, org_id: str) -> None:
        super().__init__(stack, http, crm="salesforce", tenant=TENANT, admin_email=ADMIN_EMAIL,
                         authorize_prefix=f"{sandbox.login_base}/services/oauth2/authorize?")  # fmt: skip
        self.sandbox = sandbox
        self.org_id = org_id

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
