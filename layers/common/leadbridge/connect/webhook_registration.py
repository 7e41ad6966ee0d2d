"""Registering a connection's CRM webhook: at connect time (`register_webhook`) and again from the scheduled sync
while it has not succeeded (`ensure_webhook`). A registration failure never fails the connection: polling still
brings the changes, and the failure is kept on the connection (`webhook_status: failed`, `webhook_error`)."""

from __future__ import annotations

import secrets

from leadbridge.connect.ports import ConnectionServices
from leadbridge.errors import LeadbridgeError
from leadbridge.models.connection import Connection, ConnectionStatus, WebhookStatus
from leadbridge.observability import logger
from leadbridge.store.secret_names import webhook_secret_name

# The fields of a manual set-up (a CRM that cannot create webhooks through its API) when there is nothing to set up.
NO_MANUAL_SETUP: dict[str, object] = {"webhook_state": None, "webhook_setup_steps": [], "webhook_events": []}


def ensure_webhook(svc: ConnectionServices, connection: Connection) -> Connection:
    """Register the webhook of a connected connection whose registration failed or never happened (the scheduled
    sync calls this); returns the connection as stored afterwards."""
    if connection.status is not ConnectionStatus.CONNECTED or connection.webhook_status is WebhookStatus.REGISTERED:
        return connection
    updated = register_webhook(svc, connection)
    if updated != connection:
        svc.store.save(updated.model_copy(update={"updated_at": svc.clock()}), only_if_account=connection.account_id)
    return updated


def register_webhook(svc: ConnectionServices, connection: Connection) -> Connection:
    """Register the CRM webhook with a new signing secret; returns the connection with the outcome, not saved.
    Failure does not fail the connection: polling still works, and the scheduled sync retries the registration
    (webhook_status `failed` with the reason)."""
    secret_name = webhook_secret_name(connection.secret_name)
    signing_secret = secrets.token_urlsafe(32)
    try:
        svc.vault.store_webhook_secret(secret_name, signing_secret)
        connector = svc.providers(connection.crm).connector(connection.context(), svc.vault.tokens(connection))
        registration = connector.register_webhook(
            svc.webhook_url(connection.crm, connection.connection_key), signing_secret
        )
    except NotImplementedError:
        return connection.model_copy(
            update={"webhook_status": WebhookStatus.NONE, "webhook_error": None, **NO_MANUAL_SETUP}
        )
    except Exception as exc:  # non-fatal by design, whatever went wrong
        reason = exc.message if isinstance(exc, LeadbridgeError) else type(exc).__name__
        logger.warning(
            "webhook registration failed",
            extra={"tenant_id": connection.tenant_id, "crm": connection.crm, "reason": reason},
        )
        return connection.model_copy(
            update={
                "webhook_status": WebhookStatus.FAILED,
                "webhook_error": reason[:500],
                "webhook_secret_name": secret_name,
                **NO_MANUAL_SETUP,
            }
        )
    return connection.model_copy(
        update={
            "webhook_id": registration.id,
            "webhook_status": WebhookStatus.REGISTERED,
            "webhook_error": None,
            "webhook_secret_name": secret_name,
            # A CRM that cannot create webhooks through its API says what an admin must do (shown to admins).
            "webhook_state": registration.state,
            "webhook_setup_steps": list(registration.setup_steps),
            "webhook_events": list(registration.events),
        }
    )
