"""The sync log entries of the connection flows (`trigger: connection`, `direction: to_crm`): connect, disconnect,
refused sign-ins and refused refresh tokens. A log write that fails is logged and dropped: the connection record
already says what happened."""

from __future__ import annotations

from leadbridge.connect.ports import ConnectionServices
from leadbridge.errors import StoreUnavailable
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger
from leadbridge.observability import logger


def log_connection_event(
    svc: ConnectionServices,
    tenant_id: str,
    crm: str,
    action: Action,
    outcome: Outcome,
    error_code: str | None = None,
    message: str = "",
    *,
    crm_id: str | None = None,
    correlation_id: str | None = None,
) -> None:
    entry = SyncLogEntry(
        time=svc.clock(),
        tenant=tenant_id,
        crm=crm,
        direction=Direction.TO_CRM,
        trigger=Trigger.CONNECTION,
        action=action,
        outcome=outcome,
        crm_id=crm_id,
        error=LogError(code=error_code, message=message[:1000]) if error_code else None,
        correlation_id=correlation_id or logger.get_correlation_id(),
    )
    try:
        svc.sync_log.write(entry)
    except StoreUnavailable:
        logger.warning("sync log write failed", extra={"tenant_id": tenant_id, "crm": crm, "action": action.value})
