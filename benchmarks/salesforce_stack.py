"""What the Salesforce export benchmarks (`bench_export_salesforce`, `bench_bulk_export`) stand on: the local stack
with a Salesforce sandbox org (one admin, the custom `Lead_Score__c` on Account) connected through the real OAuth
flow, and an HTTP client on the gateway."""

from __future__ import annotations

import os
from urllib.parse import urlencode

import httpx


class ConnectedSalesforce:
    def __init__(self, *, tenant: str, admin: str, org_name: str, run_pump: bool, timeout: float) -> None:
        from leadbridge import runtime
        from leadbridge.crm.base import reset_providers
        from local.sandbox.salesforce import SalesforceSandbox
        from local.stack import LocalStack

        self.tenant, self.admin = tenant, admin
        self.stack = LocalStack(
            port=0, run_schedules=False, run_pump=run_pump, start_sandboxes=False, persist_issuer_key=False
        ).start()
        self.sb = SalesforceSandbox(outbound_background=False).start()
        self.org = self.sb.add_org(org_name).org_id
        self.sb.add_user(self.org, admin, is_admin=True)
        self.sb.add_custom_field(self.org, "Account", "Lead_Score__c", "double", label="Lead Score")
        app = self.sb.register_app([f"{self.stack.gateway_url}/oauth/salesforce/callback"], client_secret="s3cret")
        os.environ.update(
            SALESFORCE_LOGIN_BASE=self.sb.login_base,
            SALESFORCE_CLIENT_ID=app.client_id,
            SALESFORCE_CLIENT_SECRET=app.client_secret,
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        os.environ.pop("SALESFORCE_CLIENT_SECRET_NAME", None)
        runtime.reset()
        reset_providers()
        self.http = httpx.Client(base_url=self.stack.gateway_url, timeout=timeout, follow_redirects=False)
        self._connect()

    def auth(self, role: str = "member") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token(self.tenant, role, sub=f'{role}-bench')}"}

    def _connect(self) -> None:
        back = {"return_url": f"{self.stack.gateway_url}/swagger"}
        started = self.http.post("/connections/salesforce/authorize", json=back, headers=self.auth("admin"))
        started.raise_for_status()  # its answer set the browser-binding cookie in self.http, the "browser" below
        url = started.json()["authorization_url"]  # the CRM's sign-in, directly
        assert url.startswith(self.sb.login_base), url
        callback = self.http.get(url + "&" + urlencode({"sandbox_login": self.admin})).headers["location"]
        landed = self.http.get(callback)
        assert "status=connected" in landed.headers.get("location", ""), landed.text

    def close(self) -> None:
        self.http.close()
        self.sb.stop()
        self.stack.stop()
