"""`SuperOfficeSandbox`: a SuperOffice CRM Online stand-in on loopback, the sandbox state (state.py) served by a
SuperID login host (login.py, with the admin API) and numbered API hosts (rest.py)."""

from __future__ import annotations

from typing import Any

from local.sandbox.superoffice.login import LoginApp, issue_token_response
from local.sandbox.superoffice.rest import RestApp
from local.sandbox.superoffice.state import SuperOfficeState


class SuperOfficeSandbox(SuperOfficeState):
    """Start with `start()` (or use as a context manager); `login_base` plays `https://sod.superoffice.com`,
    `api_hosts` play the numbered hosts `sod2`, `sod3`, ... Options: see `SuperOfficeState`."""

    def serve_hosts(self) -> None:
        self.serve("login", LoginApp(self), port=self.login_port)
        for index, port in enumerate(self.api_ports):
            self.serve(f"api{index}", RestApp(self, index), port=port)

    def issue_tokens(self, ctx: str, email: str, client_id: str) -> dict[str, Any]:
        """Mint tokens as if `email` had completed the code flow for `client_id` (skips the browser dance)."""
        user = self.find_user(email, ctx)
        if user is None:
            raise KeyError(f"no user {email} in {ctx}")
        with self.lock:
            return issue_token_response(self, self.apps[client_id], user, nonce=None, with_refresh=True)
