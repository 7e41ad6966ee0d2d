"""Keeping a connection's CRM webhook working: the scheduled sync calls `check_registration` on each run.

A CRM stops delivering when our endpoint failed too often (SuperOffice: 3 failed retry cycles in a row put the
webhook in `TooManyErrors`, and nothing is sent until its owner sets it back to `Active`), when someone stops or
deletes the webhook in the CRM, or when registering it failed at connect time. Polling still brings the changes, but
late; this check puts the webhook back:

- not registered (never, or it failed before) → register it (`webhook_registration.ensure_webhook`);
- our registration is gone from the CRM, or points elsewhere → register again with a new signing secret (as connect
  does), then remove what is left of the old one;
- registered but not active (`TooManyErrors`, `Stopped`) → reactivate it;
- active → nothing (no log entry, so a healthy connection does not fill the sync log).

The result is recorded on the connection (`webhook_status`, `webhook_error`, `webhook_id`) and every repair, or
failed repair, in the sync log (`trigger: schedule`, `direction: to_crm`, `details.operation: webhook_check`). A
throttled or unavailable CRM changes nothing: the next run checks again.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from leadbridge.connect.ports import ConnectionServices
from leadbridge.connect.webhook_registration import ensure_webhook
from leadbridge.crm.base import Connector
from leadbridge.errors import (
    Conflict,
    ConnectionMissing,
    CrmError,
    CrmUnavailable,
    NeedsReauth,
    RateLimited,
    StoreUnavailable,
)
from leadbridge.models.connection import Connection, ConnectionStatus, WebhookStatus
from leadbridge.models.crm import WebhookRegistration
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry, Trigger
from leadbridge.observability import logger


class HealthOutcome(StrEnum):
    HEALTHY = "healthy"  # registered and active at the CRM
    REGISTERED = "registered"  # was not registered; is now
    REREGISTERED = "reregistered"  # the CRM had lost it (deleted, or pointed elsewhere); registered again
    REACTIVATED = "reactivated"  # the CRM had stopped it (TooManyErrors, Stopped); active again
    FAILED = "failed"  # a repair was needed and failed; recorded on the connection, retried next run
    UNCHECKED = "unchecked"  # the CRM could not be asked now (throttled, unavailable); retried next run
    NOT_APPLICABLE = "not_applicable"  # not connected, waiting for re-authorization, or a CRM without webhooks


class WebhookHealth(BaseModel):
    model_config = ConfigDict(defer_build=True)

    outcome: HealthOutcome
    webhook_id: str | None = None
    crm_state: str | None = None  # the CRM's own state word before the check, e.g. "TooManyErrors"
    detail: str | None = None


def check_registration(
    svc: ConnectionServices, connection: Connection, *, trigger: Trigger = Trigger.SCHEDULE
) -> WebhookHealth:
    """Check the connection's webhook at the CRM and repair it. Never raises for CRM trouble (the sync run goes on);
    raises `StoreUnavailable` only when the connection record itself cannot be saved. `trigger`: the run's (its repair
    entries in the sync log say `manual` for a run an admin started)."""
    if connection.status is not ConnectionStatus.CONNECTED:
        return WebhookHealth(outcome=HealthOutcome.NOT_APPLICABLE, detail=f"connection is {connection.status.value}")
    if connection.webhook_status is not WebhookStatus.REGISTERED or connection.webhook_id is None:
        return _register(svc, connection, HealthOutcome.REGISTERED, crm_state=None, trigger=trigger)

    try:
        connector = svc.providers(connection.crm).connector(connection.context(), svc.vault.tokens(connection))
        hooks = connector.list_webhooks()
    except NotImplementedError:
        return WebhookHealth(outcome=HealthOutcome.NOT_APPLICABLE, detail="the CRM has no webhooks")
    except (NeedsReauth, ConnectionMissing) as exc:
        return WebhookHealth(outcome=HealthOutcome.NOT_APPLICABLE, detail=exc.message)
    except (RateLimited, CrmUnavailable) as exc:
        return WebhookHealth(outcome=HealthOutcome.UNCHECKED, webhook_id=connection.webhook_id, detail=exc.message)
    except CrmError as exc:  # e.g. the CRM no longer lets this app use webhooks
        return _failed(svc, connection, None, f"listing webhooks failed: {exc.message}", trigger)

    target = svc.webhook_url(connection.crm, connection.connection_key)
    ours = next((h for h in hooks if h.id == connection.webhook_id), None)
    if ours is None or ours.url != target:
        state = None if ours is None else f"{ours.state or 'unknown'} at another URL"
        health = _register(svc, connection, HealthOutcome.REREGISTERED, crm_state=state, trigger=trigger)
        if health.outcome is HealthOutcome.REREGISTERED:
            _remove_leftovers(connector, hooks, keep=health.webhook_id, old=connection.webhook_id, target=target)
        return health
    if ours.active:
        return WebhookHealth(outcome=HealthOutcome.HEALTHY, webhook_id=ours.id, crm_state=ours.state)
    return _reactivate(svc, connection, connector, ours, trigger)


# --- repairs ---------------------------------------------------------------------------------------------------------


def _register(
    svc: ConnectionServices, connection: Connection, outcome: HealthOutcome, *, crm_state: str | None, trigger: Trigger
) -> WebhookHealth:
    # ensure_webhook registers whatever is not marked registered; a new signing secret comes with it.
    forgotten = connection.model_copy(update={"webhook_status": WebhookStatus.NONE, "webhook_id": None})
    updated = ensure_webhook(svc, forgotten)
    if updated.webhook_status is WebhookStatus.REGISTERED:
        _log(svc, connection, trigger, Action.CREATE, Outcome.SUCCESS, outcome, updated.webhook_id, crm_state)
        return WebhookHealth(outcome=outcome, webhook_id=updated.webhook_id, crm_state=crm_state)
    if updated.webhook_status is WebhookStatus.NONE:  # the CRM has no webhooks: nothing to repair
        return WebhookHealth(outcome=HealthOutcome.NOT_APPLICABLE, detail="the CRM has no webhooks")
    reason = updated.webhook_error or "registration failed"
    _log(svc, connection, trigger, Action.CREATE, Outcome.FAILED, HealthOutcome.FAILED, None, crm_state, reason)
    return WebhookHealth(outcome=HealthOutcome.FAILED, crm_state=crm_state, detail=reason)


def _reactivate(
    svc: ConnectionServices,
    connection: Connection,
    connector: Connector,
    hook: WebhookRegistration,
    trigger: Trigger,
) -> WebhookHealth:
    try:
        result = connector.reactivate_webhook(hook.id)
    except (NeedsReauth, ConnectionMissing) as exc:
        return WebhookHealth(outcome=HealthOutcome.NOT_APPLICABLE, webhook_id=hook.id, detail=exc.message)
    except (RateLimited, CrmUnavailable) as exc:
        return WebhookHealth(outcome=HealthOutcome.UNCHECKED, webhook_id=hook.id, crm_state=hook.state,
                             detail=exc.message)
    except CrmError as exc:
        reason = f"reactivating webhook {hook.id} ({hook.state}) failed: {exc.message}"
        return _failed(svc, connection, hook, reason, trigger)
    if not result.active:
        return _failed(svc, connection, hook, f"webhook {hook.id} is still {result.state} after reactivation", trigger)
    _save(svc, connection, webhook_status=WebhookStatus.REGISTERED, webhook_error=None)
    _log(svc, connection, trigger, Action.UPDATE, Outcome.SUCCESS, HealthOutcome.REACTIVATED, hook.id, hook.state)
    logger.info(
        "webhook reactivated",
        extra={"tenant_id": connection.tenant_id, "crm": connection.crm, "crm_state": hook.state},
    )
    return WebhookHealth(outcome=HealthOutcome.REACTIVATED, webhook_id=hook.id, crm_state=hook.state)


def _failed(
    svc: ConnectionServices, connection: Connection, hook: WebhookRegistration | None, reason: str, trigger: Trigger
) -> WebhookHealth:
    _save(svc, connection, webhook_status=WebhookStatus.FAILED, webhook_error=reason[:500])
    state = hook.state if hook else None
    hook_id = hook.id if hook else None
    _log(svc, connection, trigger, Action.UPDATE, Outcome.FAILED, HealthOutcome.FAILED, hook_id, state, reason)
    logger.warning("webhook repair failed", extra={"tenant_id": connection.tenant_id, "crm": connection.crm,
                                                   "reason": reason})
    return WebhookHealth(outcome=HealthOutcome.FAILED, webhook_id=hook.id if hook else None, crm_state=state,
                         detail=reason)


def _remove_leftovers(
    connector: Connector, hooks: list[WebhookRegistration], *, keep: str | None, old: str | None, target: str
) -> None:
    """Our previous registration (if the CRM still has it) and any other pointing at our URL would deliver with a
    secret we no longer hold: every delivery rejected, the CRM counting errors. Best effort."""
    for hook in hooks:
        if hook.id != keep and (hook.id == old or hook.url == target):
            with contextlib.suppress(CrmError):
                connector.unregister_webhook(hook.id)


def _save(svc: ConnectionServices, connection: Connection, **changes: object) -> None:
    updated = connection.model_copy(update={**changes, "updated_at": svc.clock()})
    with contextlib.suppress(Conflict):  # another account was connected meanwhile: not ours to change
        svc.store.save(updated, only_if_account=connection.account_id)


def _log(
    svc: ConnectionServices,
    connection: Connection,
    trigger: Trigger,
    action: Action,
    outcome: Outcome,
    result: HealthOutcome,
    webhook_id: str | None,
    crm_state: str | None,
    reason: str | None = None,
) -> None:
    entry = SyncLogEntry(
        time=svc.clock(),
        tenant=connection.tenant_id,
        crm=connection.crm,
        direction=Direction.TO_CRM,
        trigger=trigger,
        action=action,
        outcome=outcome,
        crm_id=webhook_id,
        error=LogError(code="webhook_repair_failed", message=reason[:1000]) if reason else None,
        correlation_id=logger.get_correlation_id(),
        details={"operation": "webhook_check", "result": result.value, "crm_state": crm_state},
    )
    with contextlib.suppress(StoreUnavailable):  # the connection record already says it
        svc.sync_log.write(entry)
