"""`HubSpotSandbox`: a HubSpot stand-in on loopback, the sandbox state (state.py) served by an app host (authorize
page, admin API) and an API host (token endpoints, CRM API), both app.py."""

from __future__ import annotations

from typing import Any

from local.sandbox.hubspot.app import HubSpotApp
from local.sandbox.hubspot.state import HubSpotState


class HubSpotSandbox(HubSpotState):
    """Start with `start()` (or use as a context manager). `app_base` plays `https://app.hubspot.com`, `api_base`
    plays `https://api.hubapi.com`. Options: see `HubSpotState`."""

    def serve_hosts(self) -> None:
        self.serve("app", HubSpotApp(self, "app"), port=self.app_port)
        self.serve("api", HubSpotApp(self, "api"), port=self.api_port)

    def tokens_for(self, email: str, client_id: str, scopes: list[str] | None = None) -> dict[str, Any]:
        """Tokens as if the user `email` had installed the app (skips the browser); the app's scopes by default."""
        found = self.find_user(email)
        if found is None:
            raise KeyError(f"no user {email}")
        portal, owner = found
        return self.issue_tokens(client_id, portal.hub_id, owner.user_id,
                                 scopes if scopes is not None else self.apps[client_id].scopes)
