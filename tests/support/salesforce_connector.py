"""A Salesforce connector against the Salesforce sandbox over real HTTP on loopback, without the gateway.

- `SfEnv` (what the `sf` fixture yields): `sf.connect()` runs the full web server flow with PKCE (non-interactive
  sandbox login) → `Grant`; `sf.connector(objects=...)` builds a `SalesforceConnector` through `SalesforceProvider`,
  with retry sleeps recorded in `sf.sleeps`, not slept.
- `GrantTokens` (from tests/support/grant_tokens.py): a token source over one grant that counts its refreshes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from leadbridge.crm.base import AuthorizationRequest, ConnectionContext
from leadbridge.crm.http import RetryPolicy, Timeouts
from leadbridge.crm.salesforce import SalesforceProvider
from leadbridge.crm.salesforce.connector import SalesforceConnector
from leadbridge.crm.salesforce.oauth import SalesforceOAuth
from leadbridge.models.crm import Grant
from local.sandbox.salesforce import SalesforceSandbox
from tests.support.grant_tokens import GrantTokens

ADMIN_EMAIL = "ada@acme.test"
REDIRECT_URI = "https://app.example.com/oauth/salesforce/callback"


@dataclass
class SfEnv:
    sandbox: SalesforceSandbox
    org_id: str
    admin_id: str
    client_id: str
    client_secret: str
    sleeps: list[float] = field(default_factory=list)

    def provider(self, **kwargs: Any) -> SalesforceProvider:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_total_wait=30.0))
        kwargs.setdefault("timeouts", Timeouts(connect=2.0, read=2.0))
        return SalesforceProvider(
            client_id=self.client_id,
            client_secret=self.client_secret,
            login_base=self.sandbox.login_base,
            sleep=self.sleeps.append,
            rand=lambda: 0.5,
            **kwargs,
        )

    def authorize(self, oauth: SalesforceOAuth, email: str = ADMIN_EMAIL) -> tuple[str, AuthorizationRequest]:
        request = oauth.authorization_request(redirect_uri=REDIRECT_URI)
        response = httpx.get(request.url + "&" + urlencode({"sandbox_login": email}), follow_redirects=False)
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == [request.state]
        return query["code"][0], request

    def connect(self, oauth: SalesforceOAuth) -> Grant:
        code, request = self.authorize(oauth)
        return oauth.exchange_code(code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI)

    def connector(self, objects: dict[str, str] | None = None, **provider_kwargs: Any
                  ) -> tuple[SalesforceConnector, GrantTokens]:
        provider = self.provider(**provider_kwargs)
        grant = self.connect(provider.oauth())
        tokens = GrantTokens(provider.oauth(), grant)
        context = ConnectionContext(tenant_id="tenant-1", crm="salesforce", account_id=grant.account_id,
                                    api_base=grant.api_base)
        return provider.connector(context, tokens, objects), tokens

    def writes(self) -> int:
        return sum(n for op, n in self.sandbox.call_counts(self.org_id).items()
                   if op.split(" ", 1)[0] in ("POST", "PATCH", "DELETE"))
