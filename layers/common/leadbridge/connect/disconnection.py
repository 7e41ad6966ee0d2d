"""Disconnecting a tenant from its CRM account: the webhook, the grant and the secrets go; the sync log, the record
links and everything in the CRM stay.

A webhook an admin set up by hand in the CRM (registration state `ManualSetupRequired`: Salesforce Outbound
Messages, which its API can neither create nor remove) stays at the CRM: the result says so (`webhook_removed`
false) and what to remove there, or that it may be kept for a reconnect of the same account, which keeps the
connection key and so the URL (`connect.authorization`). Meanwhile the intake acknowledges and drops its deliveries.
"""

from __future__ import annotations

from leadbridge.connect.log_entries import log_connection_event
from leadbridge.connect.ports import ConnectionServices, require_supported
from leadbridge.connect.webhook_registration import NO_MANUAL_SETUP
from leadbridge.errors import ConnectionMissing, CrmError, NotFound
from leadbridge.models.connection import (
    Connection,
    ConnectionStatus,
    ConnectionView,
    DisconnectResult,
    WebhookStatus,
)
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
    manual_removal: list[str] = []
    if connection.manual_webhook:
        webhook_removed = False  # nothing can be removed through the CRM's API; the admin must do it
        manual_removal = _manual_removal(svc, connection)
    elif connection.webhook_id is not None:
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
        webhook_manual_removal=manual_removal,
        secret_recovery_days=SECRET_RECOVERY_DAYS,
    )


def _manual_removal(svc: ConnectionServices, connection: Connection) -> list[str]:
    """What the admin must remove in the CRM (the CRM profile's words), with the URL and objects filled in."""
    steps = svc.providers(connection.crm).profile.manual_webhook_removal or _GENERIC_MANUAL_REMOVAL
    facts = {
        "target_url": svc.webhook_url(connection.crm, connection.connection_key),
        "objects": ", ".join(connection.webhook_events) or "every object",
    }
    return [step.format(**facts) for step in steps]


_GENERIC_MANUAL_REMOVAL = (
    "In the CRM, remove the webhook that sends to {target_url} ({objects}); until then the CRM keeps sending and "
    "leadbridge acknowledges and drops each delivery.",
    "Or keep it if you will connect this same CRM account again: the URL stays valid.",
)
