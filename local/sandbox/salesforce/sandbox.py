"""`SalesforceSandbox`: a Salesforce stand-in on loopback, the sandbox state (state.py) served by a login host (OAuth
2.0 web server flow with PKCE, the admin API) and an instance host (`instance_url`: REST API
`/services/data/vNN.N/...`), both app.py; plus Outbound Messages (outbound.py)."""

from __future__ import annotations

import secrets
from typing import Any

from local.sandbox.salesforce.app import SalesforceApp, token_response
from local.sandbox.salesforce.model import RefreshGrant
from local.sandbox.salesforce.state import API_VERSION, SalesforceState

__all__ = ["API_VERSION", "SalesforceSandbox"]


class SalesforceSandbox(SalesforceState):
    """Start with `start()` (or use as a context manager). `login_base` plays `https://login.salesforce.com`,
    `instance_url` plays `https://{MyDomain}.my.salesforce.com`. Options: see `SalesforceState`."""

    def serve_hosts(self) -> None:
        self.serve("login", SalesforceApp(self, "login"), port=self.login_port)
        self.serve("instance", SalesforceApp(self, "instance"), port=self.instance_port)

    def issue_tokens(self, org_id: str, login: str, client_id: str) -> dict[str, Any]:
        """Tokens as if `login` had completed the web server flow (skips the browser)."""
        found = self.find_user(login, org_id)
        if found is None:
            raise KeyError(f"no user {login} in {org_id}")
        with self.lock:
            refresh = secrets.token_urlsafe(48)
            self.refresh_grants[refresh] = RefreshGrant(refresh, client_id, org_id, found[1], "api refresh_token")
            return token_response(self, self.apps[client_id], found[0], found[1], refresh, "api refresh_token")
