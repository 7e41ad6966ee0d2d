"""The retry-or-drop policy for lead events delivered from the app's bus (leadbridge.lifecycle.event_delivery)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from leadbridge.errors import ConnectionMissing, CrmError, CrmRejected, CrmUnavailable, InvalidInput, NeedsReauth
from leadbridge.lifecycle import (
    LeadEvent,
    LeadEventMessage,
    LeadEventOutcome,
    LeadEventResult,
    LifecycleServices,
)
from leadbridge.lifecycle.event_delivery import (
    DeliveryOutcome,
    MalformedLeadEvent,
    deliver_lead_event,
    read_delivered_event,
)


def _body(detail: Any) -> str:
    return json.dumps({"detail-type": "LeadEvent", "source": "app", "detail": detail})


def _detail(**event: Any) -> dict[str, Any]:
    return {"tenant_id": "acme", "lead_id": "L1", "event": {"type": "won", "lead": {"id": "L1"}, **event}}


def test_a_bus_event_is_read_into_its_message() -> None:
    message = read_delivered_event(_body({**_detail(), "crm": "superoffice"}))
    assert (message.tenant_id, message.crm, message.lead_id) == ("acme", "superoffice", "L1")
    assert message.event.lead.id == "L1"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ("not json", []),
        (json.dumps(["a list"]), [""]),  # no `detail`: the message as a whole is wrong
        (_body({"lead_id": "L1", "event": {"type": "won", "lead": {"id": "L1"}}}), ["tenant_id"]),
        (_body({**_detail(), "lead_id": "L2"}), ["body.lead.id"]),
        (_body(_detail(type="stage_changed")), ["body.stage"]),
    ],
)
def test_a_malformed_event_is_refused_naming_its_fields(body: str, fields: list[str]) -> None:
    with pytest.raises(MalformedLeadEvent) as caught:
        read_delivered_event(body)
    assert caught.value.invalid_fields == fields


@dataclass
class _Export:
    connected: str | Exception = "superoffice"

    def active_crm(self, tenant: str) -> str:
        if isinstance(self.connected, Exception):
            raise self.connected
        return self.connected


@dataclass
class _Calls:
    handled: list[tuple[str, str | None]] = field(default_factory=list)
    deferred: list[tuple[str, str, str]] = field(default_factory=list)


def _services(export: _Export) -> LifecycleServices:
    return cast(LifecycleServices, type("Services", (), {"export": export})())


def _result(outcome: LeadEventOutcome, crm: str = "superoffice") -> LeadEventResult:
    return LeadEventResult(outcome=outcome, event_type="won", lead_id="L1", crm=crm)  # type: ignore[arg-type]


def _handler(calls: _Calls, outcome: LeadEventResult | Exception) -> Callable[..., LeadEventResult]:
    def handle(svc: LifecycleServices, tenant: str, event: LeadEvent, *, crm: str | None, correlation_id: str | None
               ) -> LeadEventResult:  # fmt: skip
        calls.handled.append((tenant, crm))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return handle


def _deferrer(calls: _Calls) -> Callable[[LifecycleServices, str, str, LeadEvent, CrmError], LeadEventResult]:
    def defer(svc: LifecycleServices, tenant: str, crm: str, event: LeadEvent, exc: CrmError) -> LeadEventResult:
        calls.deferred.append((tenant, crm, exc.code))
        return _result(LeadEventOutcome.QUEUED, crm)

    return defer


def _deliver(message: LeadEventMessage, export: _Export, outcome: LeadEventResult | Exception) -> tuple[Any, _Calls]:
    calls = _Calls()
    delivery = deliver_lead_event(
        _services(export), message, correlation_id="c-1", handle=_handler(calls, outcome), defer_event=_deferrer(calls)
    )
    return delivery, calls


def _message(crm: str | None = None) -> LeadEventMessage:
    return LeadEventMessage.model_validate({**_detail(), "crm": crm})


def test_an_event_is_applied_to_the_tenants_only_connection() -> None:
    delivery, calls = _deliver(_message(), _Export("salesforce"), _result(LeadEventOutcome.APPLIED, "salesforce"))
    assert delivery.outcome is DeliveryOutcome.HANDLED and delivery.result is not None
    assert delivery.result.outcome is LeadEventOutcome.APPLIED
    assert calls.handled == [("acme", "salesforce")]


def test_an_event_naming_its_crm_goes_there_without_asking_for_the_connection() -> None:
    delivery, calls = _deliver(_message("superoffice"), _Export(AssertionError("not asked")),
                               _result(LeadEventOutcome.SKIPPED))  # fmt: skip
    assert delivery.outcome is DeliveryOutcome.HANDLED
    assert calls.handled == [("acme", "superoffice")]


@pytest.mark.parametrize(
    "error", [ConnectionMissing("nothing connected"), InvalidInput("two CRMs connected: say which")]
)
def test_without_a_single_connection_the_event_is_dropped(error: Exception) -> None:
    delivery, calls = _deliver(_message(), _Export(error), _result(LeadEventOutcome.APPLIED))
    assert delivery.outcome is DeliveryOutcome.NOT_CONNECTED
    assert delivery.reason == cast(Any, error).code
    assert calls.handled == []


def test_a_connection_gone_while_handling_drops_the_event() -> None:
    delivery, _ = _deliver(_message(), _Export(), ConnectionMissing("disconnected meanwhile"))
    assert delivery.outcome is DeliveryOutcome.NOT_CONNECTED and delivery.reason == "not_connected"


def test_refused_credentials_keep_the_event_as_pending_outbound() -> None:
    delivery, calls = _deliver(_message(), _Export(), NeedsReauth("consent revoked"))
    assert delivery.outcome is DeliveryOutcome.HANDLED and delivery.result is not None
    assert delivery.result.outcome is LeadEventOutcome.QUEUED
    assert calls.deferred == [("acme", "superoffice", "needs_reauth")]


def test_a_write_the_crm_rejects_is_dropped_with_its_log_entry() -> None:
    rejected = CrmRejected("Name too long", fields=["Name"])
    rejected.details["log_entry_id"] = "log-7"
    delivery, calls = _deliver(_message(), _Export(), rejected)
    assert delivery.outcome is DeliveryOutcome.REJECTED and delivery.log_entry_id == "log-7"
    assert calls.deferred == []


@pytest.mark.parametrize("error", [CrmUnavailable("CRM down"), RuntimeError("bug")])
def test_anything_else_is_raised_so_the_queue_retries_it(error: Exception) -> None:
    with pytest.raises(type(error)):
        _deliver(_message(), _Export(), error)
