"""What the HubSpot benchmarks stand on: `count_refusals` (both `bench_export_hubspot` and `bench_sync_hubspot`), and
for the export benchmark `ConnectedHubSpot`: the local stack with a HubSpot sandbox portal (one admin; the app
registered with the connector's scopes) connected through the gateway's real OAuth flow (leadbridge's PKCE hop, the
sandbox's install page), as an admin does it, and an HTTP client on the gateway."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import httpx


def count_refusals(sb: Any) -> Counter[str]:
    """The sandbox's 429s by policy (`SECONDLY`: search; `TEN_SECONDLY_ROLLING`: the rest), counted as they happen:
    the sandbox counts a refused request under its operation like any other, so they are told apart here."""
    refused: Counter[str] = Counter()

    def counting(take: Any, policy: str) -> Any:
        def counted(key: str) -> int | None:
            remaining: int | None = take(key)
            if remaining is None:
                refused[policy] += 1
            return remaining

        return counted

    for window in (sb.general_limit, sb.search_limit):
        window.take = counting(window.take, window.policy.name)
    return refused


class ConnectedHubSpot:
    def __init__(self, *, tenant: str, admin: str, portal_name: str, run_pump: bool, timeout: float) -> None:
        from leadbridge import runtime
        from leadbridge.crm.base import reset_providers
        from leadbridge.crm.hubspot import pacing
        from local.sandbox.hubspot import HubSpotSandbox
        from local.sandbox.hubspot.demo import DEMO_SCOPES
        from local.stack import LocalStack

        self.tenant, self.admin = tenant, admin
        self.stack = LocalStack(
            port=0, run_schedules=False, run_pump=run_pump, start_sandboxes=False, persist_issuer_key=False
        ).start()
        self.sb = HubSpotSandbox().start()
        self.hub = self.sb.add_portal(portal_name, domain="bench-portal.dk").hub_id
        self.sb.add_user(self.hub, admin, "Bench", "Admin")
        self.refused = count_refusals(self.sb)
        app = self.sb.register_app([f"{self.stack.gateway_url}/oauth/hubspot/callback"],
                                   client_secret="hs-bench-secret", scopes=DEMO_SCOPES)  # fmt: skip
        os.environ.update(
            HUBSPOT_API_BASE=self.sb.api_base,
            HUBSPOT_APP_BASE=self.sb.app_base,
            HUBSPOT_CLIENT_ID=app.client_id,
            HUBSPOT_CLIENT_SECRET=app.client_secret,
            HUBSPOT_APP_ID=str(app.app_id),
            HUBSPOT_WEBHOOK_URL=f"{self.stack.gateway_url}/webhooks/hubspot",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        os.environ.pop("HUBSPOT_CLIENT_SECRET_NAME", None)
        runtime.reset()
        reset_providers()
        pacing.reset()
        self.http = httpx.Client(base_url=self.stack.gateway_url, timeout=timeout, follow_redirects=False)
        self._connect()

    def auth(self, role: str = "member") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.stack.token(self.tenant, role, sub=f'{role}-bench')}"}

    def _connect(self) -> None:
        back = {"return_url": f"{self.stack.gateway_url}/swagger"}
        started = self.http.post("/connections/hubspot/authorize", json=back, headers=self.auth("admin"))
        started.raise_for_status()  # its answer set the browser-binding cookie in self.http, the "browser" below
        url = started.json()["authorization_url"]
        while url.startswith(self.stack.gateway_url):  # leadbridge's own hop (PKCE) before the CRM's install page
            url = self.http.get(url).headers["location"]
        assert url.startswith(f"{self.sb.app_base}/oauth/"), url
        consent = self.http.get(url + "&" + urlencode({"sandbox_login": self.admin}))
        landed = self.http.get(consent.headers["location"])
        assert "status=connected" in landed.headers.get("location", ""), landed.text

    def close(self) -> None:
        self.http.close()
        self.sb.stop()
        self.stack.stop()
