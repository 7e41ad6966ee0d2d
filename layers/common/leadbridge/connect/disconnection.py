"""Disconnecting a tenant from its CRM account: the webhook, the grant and the secrets go; the sync log, the record
links and everything in the CRM stay."""

from __future__ import annotations

from leadbridge.connect.log_entries import log_connection_event
from leadbridge.connect.ports import ConnectionServices, require_supported
from leadbridge.connect.webhook_registration import NO_MANUAL_SETUP
from leadbridge.errors import ConnectionMissing, CrmError, NotFound
from leadbridge.models.connection import ConnectionStatus, ConnectionView, DisconnectResult, WebhookStatus
from leadbridge.models.synclog import Action, Outcome
from leadbridge.observability import logger
from leadbridge.store.secret_names import SECRET_RECOVERY_DAYS


def disconnect(svc: ConnectionServices, *, tenant_id: str, crm: str, user_id: str) -> DisconnectResult:
    """Unregister the webhook, revoke at the CRM, delete the secrets (recoverable for 7 days), mark disconnected.
    Keeps the sync log and the record links; deletes nothing in the CRM."""
    require_supported(svc, crm)
    connection = svc.store.get(tenant_id, crm)
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        raise NotFound(f"No {crm} account is connected", details={"crm": crm})

    provider = svc.providers(crm)
    webhook_removed = connection.webhook_id is None
    if connection.webhook_id is not None:
        try:
            provider.connector(connection.context(), svc.vault.tokens(connection)).unregister_webhook(
                connection.webhook_id
            )
            webhook_removed = True
        except (CrmError, ConnectionMissing) as exc:
            logger.warning("webhook unregistration failed", extra={"tenant_id": tenant_id, "crm": crm, "e": exc.code})

    revoked = False
    try:
        provider.oauth().revoke(svc.vault.read_grant(connection.secret_name))
        revoked = True
    except (CrmError, ConnectionMissing) as exc:
        logger.warning("revocation failed", extra={"tenant_id": tenant_id, "crm": crm, "error_code": exc.code})

    svc.vault.delete_secret(connection.secret_name, recovery_days=SECRET_RECOVERY_DAYS)
    if connection.webhook_secret_name:
        svc.vault.delete_secret(connection.webhook_secret_name, recovery_days=SECRET_RECOVERY_DAYS)

    now = svc.clock()
    disconnected = connection.model_copy(
        update={
            "status": ConnectionStatus.DISCONNECTED,
            "disconnected_at": now,
            "disconnected_by": user_id,
            "webhook_id": None,
            "webhook_status": WebhookStatus.NONE,
            "webhook_error": None,
            **NO_MANUAL_SETUP,
            "next_run_at": None,
            "updated_at": now,
        }
    )
    svc.store.save(disconnected)
    log_connection_event(svc, tenant_id, crm, Action.DISCONNECT, Outcome.SUCCESS, crm_id=connection.account_id)
    logger.info("disconnected", extra={"tenant_id": tenant_id, "crm": crm, "revoked": revoked})
    return DisconnectResult(
        connection=ConnectionView.of(disconnected),
        revoked_at_crm=revoked,
        webhook_removed=webhook_removed,
        secret_recovery_days=SECRET_RECOVERY_DAYS,
    )
