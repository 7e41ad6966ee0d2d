"""A SuperOffice connector against the SuperOffice sandbox over real HTTP on loopback, without the gateway.

- `SoEnv` (what the `so` fixtures yield): `so.connect()` runs the full authorization-code flow (non-interactive
  sandbox login) → `Grant`; `so.connector(...)` builds a `SuperOfficeConnector` through `SuperOfficeProvider`, with
  sleeps recorded in `so.sleeps`, not slept.
- `GrantTokens` (from tests/support/grant_tokens.py): a token source over one grant that counts its refreshes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from leadbridge.crm.base import ConnectionContext
from leadbridge.crm.http import RetryPolicy, Timeouts
from leadbridge.crm.superoffice import SuperOfficeProvider
from leadbridge.crm.superoffice.connector import SuperOfficeConnector
from leadbridge.crm.superoffice.oauth import SuperOfficeOAuth
from leadbridge.models.crm import Grant
from local.sandbox.superoffice import SuperOfficeSandbox
from tests.support.grant_tokens import GrantTokens

CTX = "Cust12345"
ADMIN_EMAIL = "tony@example.com"
ADMIN_ID = 5
REDIRECT_URI = "https://app.example.com/oauth/superoffice/callback"


@dataclass
class SoEnv:
    sandbox: SuperOfficeSandbox
    client_id: str
    client_secret: str
    sleeps: list[float] = field(default_factory=list)
    providers: list[SuperOfficeProvider] = field(default_factory=list)

    def provider(self, **kwargs: Any) -> SuperOfficeProvider:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_total_wait=30.0))
        kwargs.setdefault("timeouts", Timeouts(connect=2.0, read=2.0))
        provider = SuperOfficeProvider(
            client_id=self.client_id,
            client_secret=self.client_secret,
            login_base=self.sandbox.login_base,
            sleep=self.sleeps.append,
            rand=lambda: 0.5,
            **kwargs,
        )
        self.providers.append(provider)
        return provider

    def oauth(self, **kwargs: Any) -> SuperOfficeOAuth:
        return SuperOfficeOAuth(
            client_id=self.client_id,
            client_secret=self.client_secret,
            login_base=self.sandbox.login_base,
            **kwargs,
        )

    def authorize(self, oauth: SuperOfficeOAuth, email: str = ADMIN_EMAIL, **extra: str) -> tuple[str, str, Any]:
        """Follow the authorize URL with the sandbox's non-interactive login; (code, state, request)."""
        request = oauth.authorization_request(redirect_uri=REDIRECT_URI)
        params = {"sandbox_login": email, **extra}
        response = httpx.get(request.url + "&" + urlencode(params), follow_redirects=False)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI)
        query = parse_qs(urlsplit(location).query)
        return query.get("code", [""])[0], query["state"][0], request

    def connect(self, oauth: SuperOfficeOAuth | None = None) -> tuple[SuperOfficeOAuth, Grant]:
        oauth = oauth or self.oauth()
        code, _state, request = self.authorize(oauth)
        grant = oauth.exchange_code(
            code=code, code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI, nonce=request.nonce
        )
        return oauth, grant

    def connector(self, *, page_size: int = 1000, **provider_kwargs: Any) -> tuple[SuperOfficeConnector, GrantTokens]:
        provider = self.provider(page_size=page_size, **provider_kwargs)
        oauth, grant = self.connect(provider.oauth())
        tokens = GrantTokens(oauth, grant)
        context = ConnectionContext(
            tenant_id="tenant-1", crm="superoffice", account_id=grant.account_id, api_base=grant.api_base
        )
        return provider.connector(context, tokens), tokens
