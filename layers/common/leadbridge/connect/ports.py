"""The ports of the connection flows: the connection repository and the vault they read and write, and
`ConnectionServices`, the bundle of ports (plus the public URLs derived from configuration) every flow in
`leadbridge.connect` takes as its first argument. `leadbridge.runtime` builds it from the adapters; unit tests build
it from fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from leadbridge.crm.base import CrmProvider, TokenSource
from leadbridge.errors import NotFound
from leadbridge.models.connection import Connection, ConnectionStatus, OAuthState
from leadbridge.models.crm import Grant
from leadbridge.store.ports import EventPublisher, SyncLog


class ConnectionRepository(Protocol):
    """Connection records and the single-use OAuth state items (implemented by `store.connections`)."""

    def get(self, tenant_id: str, crm: str) -> Connection | None: ...

    def list(self, tenant_id: str) -> list[Connection]: ...

    def save(self, connection: Connection, *, only_if_account: str | None = None) -> None: ...

    def transition(
        self,
        tenant_id: str,
        crm: str,
        *,
        expected: ConnectionStatus,
        status: ConnectionStatus,
        set_values: dict[str, object] | None = None,
    ) -> Connection | None: ...

    def save_state(self, state: OAuthState) -> None: ...

    def get_state(self, state: str) -> OAuthState | None: ...

    def take_state(self, state: str) -> OAuthState | None: ...


class ConnectionVault(Protocol):
    """A connection's grant and webhook signing secret (implemented by `store.vault.TokenVault`)."""

    def store_grant(self, secret_name: str, grant: Grant, *, new_connection: bool = False) -> None: ...

    def read_grant(self, secret_name: str) -> Grant: ...

    def delete_secret(self, secret_name: str, *, recovery_days: int) -> None: ...

    def store_webhook_secret(self, secret_name: str, secret: str) -> None: ...

    def tokens(self, connection: Connection) -> TokenSource:
        """Access tokens for a connector working on `connection`, refreshed as needed."""
        ...


@dataclass
class ConnectionServices:
    """The ports of the connection flows (built by `leadbridge.runtime`, faked in unit tests)."""

    store: ConnectionRepository
    vault: ConnectionVault
    publisher: EventPublisher
    sync_log: SyncLog
    providers: Callable[[str], CrmProvider]
    supported_crms: Callable[[], list[str]]
    public_api_url: str
    secret_prefix: str
    allowed_return_urls: list[str]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def redirect_uri(self, crm: str) -> str:
        return f"{self.public_api_url.rstrip('/')}/oauth/{crm}/callback"

    def webhook_url(self, crm: str, connection_key: str) -> str:
        return f"{self.public_api_url.rstrip('/')}/webhooks/{crm}/{connection_key}"


def require_supported(svc: ConnectionServices, crm: str) -> None:
    """Raise `NotFound` (404) for a CRM name leadbridge has no provider for."""
    if crm not in svc.supported_crms():
        raise NotFound(
            f"leadbridge does not support the CRM {crm!r}",
            details={"crm": crm, "supported": svc.supported_crms()},
        )
