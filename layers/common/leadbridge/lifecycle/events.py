"""Lead lifecycle events from the app (issue 6, seeds 000/001): created, stage changed, won, lost, deleted,
transferred — applied to the tenant's CRM under the settings of its connection.

`handle_event` (HTTP route and EventBridge consumer):
1. Takes the lead's lease (`export.lead_lease`), so an event and an export of the same lead never run together.
2. A replayed `event_id` returns the first outcome. An event older than the last one applied to the lead's deal
   (`occurred_at` against the deal link's `last_event_at`) is skipped: it never overrides a newer state.
3. Selective-sync rules (`rules.evaluate`) decide whether a lead not yet in the CRM syncs; linked leads keep syncing.
4. created / stage_changed: before `status_mapping.create_at_stage` nothing is sent. At or after it the company and
   persons are exported (`export_lead`, mode `auto`; only possible matches → outcome `needs_decision`) and the deal is
   created once under the company (link: object deal, app id = lead id) with the mapped stage/status; later changes
   write only the deal fields that differ.
   won → the CRM's won status (`on_won`), creating the deal first when the lead never reached the CRM;
   lost / deleted → lost status, delete, or nothing (`on_lost` / `on_deleted`);
   transferred → deal and company owner = the mapped CRM user (`owners.user_map`, else `default_crm_user`).
5. Every event is logged per record with its CRM calls. A retryable CRM failure (RateLimited, CrmUnavailable) stores
   a pending outbound item and answers `queued`; `retry_pending_outbound` (the scheduled worker) applies it later with
   exponential backoff.

Here: `check_event` (the domain checks of an event) and `handle_event` (lease, replay, apply, defer, remember).
Applying one event is `event_handlers.apply_event`; the CRM writes are in `deals`; the queueing in `deferred_outbound`.
"""

from __future__ import annotations

from typing import Any

from leadbridge.errors import InvalidInput
from leadbridge.export import lead_lease, one_call
from leadbridge.lifecycle.contracts import LeadEvent, LeadEventOutcome, LeadEventResult, LeadEventType
from leadbridge.lifecycle.deferred_outbound import RETRYABLE, defer
from leadbridge.lifecycle.event_handlers import apply_event
from leadbridge.lifecycle.ports import LifecycleServices


def check_event(event: LeadEvent, lead_id: str | None = None) -> None:
    """Domain checks pydantic cannot express, as 422s naming the field."""
    errors: list[dict[str, Any]] = []
    if lead_id is not None and event.lead.id != lead_id:
        errors.append(
            {"loc": ["body", "lead", "id"], "type": "mismatch", "message": "must equal the lead id in the path"}
        )
    if event.type is LeadEventType.STAGE_CHANGED and not (event.stage or event.lead.stage):
        errors.append({"loc": ["body", "stage"], "type": "missing", "message": "stage_changed needs the new stage"})
    if event.type is LeadEventType.TRANSFERRED and not (event.owner or event.lead.owner):
        errors.append({"loc": ["body", "owner"], "type": "missing", "message": "transferred needs the new owner"})
    if errors:
        raise InvalidInput("Invalid lead event: " + "; ".join(".".join(e["loc"]) for e in errors), errors=errors)


def handle_event(
    svc: LifecycleServices,
    tenant: str,
    event: LeadEvent,
    *,
    crm: str | None = None,
    correlation_id: str | None = None,
) -> LeadEventResult:
    """Apply one lead event; see the module docstring. Raises ExportInProgress (409) while the lead is busy."""
    check_event(event)
    export = one_call(svc.export)  # the settings and the connection read once for this event
    crm = crm or export.active_crm(tenant)
    lead_id = event.lead.id
    received_at = export.clock()
    if event.occurred_at is None:
        event = event.model_copy(update={"occurred_at": received_at})
    with lead_lease(export, tenant, crm, lead_id):
        if event.event_id:
            first = svc.processed.get(tenant, crm, lead_id, event.event_id)
            if first is not None:
                return LeadEventResult.model_validate_json(first).model_copy(update={"replayed": True})
        try:
            result = apply_event(export, tenant, crm, event, correlation_id)
        except RETRYABLE as exc:
            result = defer(svc, tenant, crm, event, exc)
        if event.event_id and result.outcome is not LeadEventOutcome.NEEDS_DECISION:
            # needs_decision is not final: once the user has linked the lead, a redelivery should create the deal.
            kept = svc.processed.remember(tenant, crm, lead_id, event.event_id, result.model_dump_json())
            result = LeadEventResult.model_validate_json(kept)
        return result
