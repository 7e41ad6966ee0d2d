"""A token source over one grant, for connector tests without the token vault."""

from __future__ import annotations

from typing import Protocol

from leadbridge.models.crm import Grant


class RefreshesGrants(Protocol):
    def refresh(self, grant: Grant) -> Grant: ...


class GrantTokens:
    """A minimal `TokenSource` over one grant (the real one is the token vault): refreshes once per rejected token."""

    def __init__(self, oauth: RefreshesGrants, grant: Grant) -> None:
        self.oauth = oauth
        self.grant = grant
        self.refreshes = 0

    def access_token(self) -> str:
        return self.grant.access_token

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        if rejected_token == self.grant.access_token:
            self.grant = self.oauth.refresh(self.grant)
            self.refreshes += 1
        return self.grant.access_token
