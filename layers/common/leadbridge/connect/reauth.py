"""A connection whose refresh token the CRM refused: flip it to `needs_reauth` once, say so in the sync log and on
the bus (`ConnectionNeedsReauth`). The token vault calls this; the admin fixes it by connecting again."""

from __future__ import annotations

from leadbridge.connect.log_entries import log_connection_event
from leadbridge.connect.ports import ConnectionServices
from leadbridge.errors import NeedsReauth
from leadbridge.models.connection import Connection, ConnectionNeedsReauthDetail, ConnectionStatus
from leadbridge.models.synclog import Action, Outcome
from leadbridge.observability import logger
from leadbridge.store.events import AppEvent, EventDeliveryError

CONNECTION_NEEDS_REAUTH = "ConnectionNeedsReauth"


def mark_needs_reauth(
    svc: ConnectionServices, connection: Connection, error: NeedsReauth, *, correlation_id: str | None = None
) -> bool:
    """The CRM refused our refresh token. Flip the status once (concurrent callers: only the first), write the sync
    log and publish `ConnectionNeedsReauth`. Returns whether this call made the change."""
    now = svc.clock()
    changed = svc.store.transition(
        connection.tenant_id,
        connection.crm,
        expected=ConnectionStatus.CONNECTED,
        status=ConnectionStatus.NEEDS_REAUTH,
        set_values={"last_error": error.message[:1000], "last_error_at": now, "updated_at": now},
    )
    if changed is None:
        return False
    log_connection_event(
        svc,
        connection.tenant_id,
        connection.crm,
        Action.REFRESH_TOKEN,
        Outcome.FAILED,
        error.code,
        error.message,
        crm_id=connection.account_id,
        correlation_id=correlation_id,
    )
    detail = ConnectionNeedsReauthDetail(
        tenant_id=connection.tenant_id,
        crm=connection.crm,
        account_id=connection.account_id,
        account_name=connection.account_name,
        reason=error.message,
        correlation_id=correlation_id,
        occurred_at=now,
    )
    try:
        svc.publisher.publish([AppEvent.of(CONNECTION_NEEDS_REAUTH, detail)])
    except EventDeliveryError as exc:
        # The status and the sync log already say it; the app also sees it on GET /connections.
        logger.error("ConnectionNeedsReauth not delivered", extra={"tenant_id": connection.tenant_id, **exc.details})
    logger.warning(
        "connection needs re-authorization", extra={"tenant_id": connection.tenant_id, "crm": connection.crm}
    )
    return True
