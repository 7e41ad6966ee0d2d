"""What becomes of one lead event delivered from the app's EventBridge bus (LeadEventsQueue): the retry-or-drop policy.

A delivery is read (`read_delivered_event`), then applied (`deliver_lead_event`). The policy, in one place:
- a malformed event never becomes valid: acknowledged and dropped (`MalformedLeadEvent`);
- no connection, or several and the event does not say which: nothing to apply it to, dropped (`NOT_CONNECTED`);
- the CRM refuses our credentials: kept as pending outbound until an admin reconnects (`deferred_outbound.defer`);
- the CRM rejects the write, or its metadata says it would (`RefusedBeforeWrite`): logged in the sync log where the
  app sees it, retrying cannot help, dropped (`REJECTED`);
- anything else (lead busy, store or CRM hiccup outside the pending-outbound path, unexpected errors) is raised, so
  the queue delivers the event again and, after its maxReceiveCount, moves it to the dead-letter queue.
The handler (functions/export/lead_events.py) only turns SQS records into calls and outcomes into logs and metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from leadbridge.errors import ConnectionMissing, CrmError, CrmRejected, InvalidInput, NeedsReauth, RefusedBeforeWrite
from leadbridge.lifecycle.contracts import LeadEvent, LeadEventMessage, LeadEventResult
from leadbridge.lifecycle.deferred_outbound import defer
from leadbridge.lifecycle.events import check_event, handle_event
from leadbridge.lifecycle.ports import LifecycleServices


class MalformedLeadEvent(Exception):
    """The delivered message is no valid lead event; `invalid_fields` names the bad fields (dotted paths)."""

    def __init__(self, invalid_fields: list[str]) -> None:
        super().__init__("malformed lead event")
        self.invalid_fields = invalid_fields


class DeliveryOutcome(StrEnum):
    HANDLED = "handled"  # applied, skipped, queued or needs a decision: `result` says which
    NOT_CONNECTED = "not_connected"  # no single CRM connection to apply it to: dropped
    REJECTED = "rejected"  # the CRM refused the write: dropped (the sync log has the entry)


@dataclass(frozen=True)
class EventDelivery:
    outcome: DeliveryOutcome
    result: LeadEventResult | None = None  # when HANDLED
    reason: str | None = None  # the error code when NOT_CONNECTED
    log_entry_id: str | None = None  # the sync log entry when REJECTED


HandleEvent = Callable[..., LeadEventResult]  # lifecycle.events.handle_event's signature
DeferEvent = Callable[[LifecycleServices, str, str, LeadEvent, CrmError], LeadEventResult]


def read_delivered_event(body: str) -> LeadEventMessage:
    """The message of an SQS record's body (an EventBridge event whose `detail` is the message); raises
    MalformedLeadEvent when it is not one, or breaks a domain check."""
    try:
        envelope = json.loads(body)
        message = LeadEventMessage.model_validate(envelope.get("detail") if isinstance(envelope, dict) else None)
        check_event(message.event, message.lead_id)
    except ValidationError as exc:
        raise MalformedLeadEvent(_dotted(exc.errors())) from None
    except InvalidInput as exc:
        raise MalformedLeadEvent(_dotted(exc.errors)) from None
    except ValueError:  # not JSON
        raise MalformedLeadEvent([]) from None
    return message


def deliver_lead_event(
    services: LifecycleServices,
    message: LeadEventMessage,
    *,
    correlation_id: str | None = None,
    handle: HandleEvent = handle_event,
    defer_event: DeferEvent = defer,
) -> EventDelivery:
    """Apply a read event under the policy of the module docstring; raises when the queue should retry it."""
    tenant = message.tenant_id
    try:
        crm = message.crm or services.export.active_crm(tenant)
    except (ConnectionMissing, InvalidInput) as exc:
        return EventDelivery(DeliveryOutcome.NOT_CONNECTED, reason=exc.code)
    try:
        result = handle(services, tenant, message.event, crm=crm, correlation_id=correlation_id)
    except ConnectionMissing as exc:
        return EventDelivery(DeliveryOutcome.NOT_CONNECTED, reason=exc.code)
    except NeedsReauth as exc:
        # Kept until an admin reconnects: the retry run applies it then.
        result = defer_event(services, tenant, crm, message.event, exc)
    except (CrmRejected, RefusedBeforeWrite) as exc:  # the CRM refused it, or would have: retrying cannot help
        return EventDelivery(DeliveryOutcome.REJECTED, log_entry_id=exc.details.get("log_entry_id"))
    return EventDelivery(DeliveryOutcome.HANDLED, result=result)


def _dotted(problems: object) -> list[str]:
    if not isinstance(problems, list):
        return []
    return [".".join(str(part) for part in problem.get("loc", [])) for problem in problems if isinstance(problem, dict)]
