"""The HubSpot sandbox seen by a client of its own APIs (for the sandbox's tests, not leadbridge's).

- `Clock`: the sandbox's settable clock (tests move time instead of sleeping).
- `HubEnv`: a portal with its admin's token and an `httpx.Client` on the API host; `authorize()` runs the app host's
  authorize step non-interactively and returns the code, `token_call(**form)` posts a form to the token endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from local.sandbox.hubspot import HubSpotSandbox

REDIRECT_URI = "http://127.0.0.1:9/oauth/hubspot/callback"
ADMIN = "admin@acme.test"
SCOPES = ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
          "crm.objects.companies.write", "crm.objects.deals.read", "crm.objects.deals.write",
          "crm.objects.owners.read", "crm.schemas.contacts.read", "crm.schemas.companies.read",
          "crm.schemas.deals.read"]
START = 1_780_000_000.0  # 2026-05-28, before the v1 shutdown


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class HubEnv:
    sb: HubSpotSandbox
    clock: Clock
    hub_id: int
    owner_id: str
    user_id: int
    token: dict[str, Any]
    api: httpx.Client

    def authorize(self, path: str = "/oauth/authorize", **extra: str) -> str:
        params = {"client_id": "cid", "redirect_uri": REDIRECT_URI, "scope": " ".join(SCOPES), "state": "st",
                  "sandbox_login": ADMIN, **extra}
        response = httpx.get(f"{self.sb.app_base}{path}", params=params)
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == ["st"]
        return query["code"][0]

    def token_call(self, path: str = "/oauth/2026-03/token", **form: str) -> httpx.Response:
        return httpx.post(f"{self.sb.api_base}{path}", data=form)

    def create(self, obj: str, **properties: Any) -> dict[str, Any]:
        response = self.api.post(f"/crm/v3/objects/{obj}", json={"properties": properties})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body
