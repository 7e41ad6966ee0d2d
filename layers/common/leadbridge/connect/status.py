"""Reading connections: one CRM's connection, or one row per supported CRM, as the app shows them."""

from __future__ import annotations

from leadbridge.connect.ports import ConnectionServices, require_supported
from leadbridge.models.connection import Connection, ConnectionList, ConnectionView


def connection_status(svc: ConnectionServices, *, tenant_id: str, crm: str, admin: bool = False) -> ConnectionView:
    """`admin`: include a manual webhook set-up step with its target URL (which carries the connection key)."""
    require_supported(svc, crm)
    connection = svc.store.get(tenant_id, crm)
    return _view(svc, connection, admin) if connection else ConnectionView.never_connected(crm)


def list_connections(svc: ConnectionServices, *, tenant_id: str, admin: bool = False) -> ConnectionList:
    """Every supported CRM, connected or not, so an app can render one row per CRM."""
    stored = {c.crm: c for c in svc.store.list(tenant_id)}
    return ConnectionList(
        connections=[
            _view(svc, stored[crm], admin) if crm in stored else ConnectionView.never_connected(crm)
            for crm in svc.supported_crms()
        ]
    )


def _view(svc: ConnectionServices, connection: Connection, admin: bool) -> ConnectionView:
    url = svc.webhook_url(connection.crm, connection.connection_key) if admin else None
    return ConnectionView.of(connection, webhook_url=url)
