"""Connecting a CRM as an admin does it, through the local gateway (template routes, JWT authorizer, handlers) and a
CRM sandbox's sign-in page: what every CRM's connect fixture shares (`salesforce_connect`, `hubspot_connect`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from leadbridge import runtime
from leadbridge.models.connection import Connection
from local.stack import LocalStack


class GatewayConnect:
    """`crm`: the CRM's name in the routes; `authorize_prefix`: where the CRM's authorize page starts (the sign-in
    URL must lead there); `tenant`: the tenant the helpers act for unless told otherwise."""

    def __init__(self, stack: LocalStack, http: httpx.Client, *, crm: str, authorize_prefix: str, tenant: str,
                 admin_email: str) -> None:  # fmt: skip
        self.stack = stack
        self.http = http
        self.crm = crm
        self.authorize_prefix = authorize_prefix
        self.tenant = tenant
        self.admin_email = admin_email
        self.return_url = f"{stack.gateway_url}/swagger"

    def auth(self, tenant: str | None = None, role: str = "admin") -> dict[str, str]:
        tenant = tenant or self.tenant
        return {"Authorization": f"Bearer {self.stack.token(tenant, role, sub=f'{role}-of-{tenant}')}"}

    def sign_in_url(self, tenant: str | None = None) -> str:
        """Ask leadbridge to connect; follow any leadbridge hop to the CRM's authorize page."""
        response = self.http.post(f"/connections/{self.crm}/authorize", json={"return_url": self.return_url},
                                  headers=self.auth(tenant))  # fmt: skip
        assert response.status_code == 200, response.text
        url = str(response.json()["authorization_url"])
        while url.startswith(self.stack.gateway_url):
            hop = self.http.get(url)
            assert hop.status_code == 302, hop.text
            url = hop.headers["location"]
        assert url.startswith(self.authorize_prefix), url
        return url

    def connect(self, tenant: str | None = None, email: str | None = None) -> dict[str, str]:
        """The whole flow: sign-in URL, the sandbox's consent as `email` (the admin by default), the callback; the
        query leadbridge returns the browser to."""
        consent = self.http.get(f"{self.sign_in_url(tenant)}&{urlencode({'sandbox_login': email or self.admin_email})}")
        assert consent.status_code == 302, consent.text
        callback = consent.headers["location"]
        assert callback.startswith(f"{self.stack.gateway_url}/oauth/{self.crm}/callback?"), callback
        landed = self.http.get(callback)
        assert landed.status_code == 302, landed.text
        location = landed.headers["location"]
        assert location.startswith(self.return_url + "?"), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def status(self, tenant: str | None = None) -> dict[str, Any]:
        response = self.http.get(f"/connections/{self.crm}", headers=self.auth(tenant, "member"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def connection(self, tenant: str | None = None) -> Connection:
        found = runtime.connection_store().get(tenant or self.tenant, self.crm)
        assert found is not None
        return found
