"""The admin API over HTTP (`/__admin/...` on the app host), JSON in and out; each endpoint maps to one Python admin
method of `HubSpotState`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import TypeAdapter
from werkzeug.wrappers import Request, Response

from local.sandbox.common.admin import (
    answer_admin,
    answer_call_counts,
    answer_shell_endpoint,
    json_object_body,
    unknown_endpoint,
)
from local.sandbox.common.http import json_response
from local.sandbox.hubspot.model import HubSpotError, iso
from local.sandbox.hubspot.state import HubSpotState
from local.sandbox.hubspot.webhooks import WebhookAttempt, WebhookFault, WebhookSettings

HELP = {
    "POST /__admin/reset": "forget everything",
    "POST /__admin/apps": "{redirect_uris, client_id?, client_secret?, scopes?, name?} -> app",
    "POST /__admin/portals": "{name, hub_id?, time_zone?, domain?} -> portal",
    "GET /__admin/portals": "portals with owners and record counts",
    "POST /__admin/portals/{hub}/users": "{email, first_name?, last_name?} -> owner (id, userId)",
    "POST /__admin/portals/{hub}/properties": "{object, name, label, type?, field_type?, options?: [[value, label]], "
                                              "read_only?, calculated?, unique?} -> property",
    "POST /__admin/portals/{hub}/records/{object}": "properties -> record (validated like the API; a CRM user's "
                                                    "write: webhook events say CRM_UI, ?user_id= picks the user)",
    "PATCH /__admin/portals/{hub}/records/{object}/{id}": "properties -> record (a CRM user's edit, ?user_id=)",
    "DELETE /__admin/portals/{hub}/records/{object}/{id}": "archive (a CRM user's delete, ?user_id=)",
    "GET /__admin/portals/{hub}/records/{object}": "live records (?archived=true: archived ones)",
    "POST /__admin/portals/{hub}/expire-tokens": "access tokens -> 401 EXPIRED_AUTHENTICATION",
    "GET /__admin/portals/{hub}/calls": "call counts by operation (DELETE resets)",
    "POST /__admin/faults": "{kind: 423|477|429|502|504|500|latency|timeout, count?, path_prefix?, method?, hub_id?, "
                            "seconds?, retry_after?}",
    "GET /__admin/faults": "active faults (DELETE clears, ?id= one)",
    "PUT /__admin/apps/{client_id}/webhooks": "a project app's webhooks *-hsmeta.json (or its config) -> settings",
    "PUT /__admin/apps/{client_id}/webhooks/settings": "{targetUrl, throttling?: {maxConcurrentRequests}}",
    "POST /__admin/apps/{client_id}/webhooks/subscriptions": "{eventType, propertyName?, active?} -> subscription",
    "GET /__admin/apps/{client_id}/webhooks": "settings and subscriptions",
    "POST /__admin/webhooks/tick": "deliver what is due now -> the attempts made",
    "GET /__admin/webhooks": "{pending, attempts, dropped}",
    "POST /__admin/webhooks/faults": "{kind: stale_timestamp|bad_signature|duplicate_event|out_of_order, count?}",
}


def handle_admin(sb: HubSpotState, request: Request) -> Response:
    return answer_admin(lambda: _dispatch(sb, request), api_error=HubSpotError)


def _record(record: Any) -> dict[str, Any]:
    return {"id": record.id, "properties": record.properties, "createdAt": iso(record.created_at),
            "updatedAt": iso(record.updated_at),
            "archivedAt": iso(record.archived_at) if record.archived_at is not None else None}


def _attempt(attempt: WebhookAttempt) -> dict[str, Any]:
    return {"client_id": attempt.client_id, "hub_id": attempt.hub_id, "url": attempt.url, "status": attempt.status,
            "error": attempt.error, "events": attempt.events}


def _settings(settings: WebhookSettings) -> dict[str, Any]:
    return {"targetUrl": settings.target_url,
            "throttling": {"maxConcurrentRequests": settings.max_concurrent_requests, "period": "SECONDLY"},
            "subscriptions": [s.body() for s in settings.subscriptions]}


def _app_webhooks(sb: HubSpotState, method: str, client_id: str, rest: list[str], b: dict[str, Any]) -> Response:
    if not rest and method == "PUT":
        return json_response(_settings(sb.configure_webhooks(client_id, b)))
    if not rest and method == "GET":
        with sb.lock:
            return json_response(_settings(sb.webhook_settings[client_id]))
    if rest == ["settings"] and method == "PUT":
        throttling = b.get("throttling") or {}
        sb.set_webhook_target(client_id, str(b["targetUrl"]), int(throttling.get("maxConcurrentRequests", 10)))
        with sb.lock:
            return json_response(_settings(sb.webhook_settings[client_id]))
    if rest == ["subscriptions"] and method == "POST":
        sub = sb.subscribe(client_id, str(b.get("eventType", "")), b.get("propertyName"),
                           active=bool(b.get("active", True)))
        return json_response(sub.body(), 201)
    return unknown_endpoint(method, f"/__admin/apps/{client_id}/webhooks/{'/'.join(rest)}", HELP)


def _dispatch(sb: HubSpotState, request: Request) -> Response:
    parts = request.path.rstrip("/").split("/")[2:]
    method = request.method
    if not parts:
        return json_response({"endpoints": HELP, "app_base": sb.app_base, "api_base": sb.api_base})
    head = parts[0]
    b = json_object_body(request) if method in ("POST", "PATCH", "PUT") else {}
    shared = answer_shell_endpoint(sb, request, head, fault_scope_key="hub_id", render=str)
    if shared is not None:
        return shared
    if head == "apps" and len(parts) >= 3 and parts[2] == "webhooks":
        return _app_webhooks(sb, method, parts[1], parts[3:], b)
    if head == "webhooks":
        if parts[1:] == ["tick"] and method == "POST":
            return json_response([_attempt(a) for a in sb.tick_webhooks()])
        if parts[1:] == ["faults"] and method == "POST":
            sb.add_webhook_fault(TypeAdapter(WebhookFault).validate_python(b.get("kind")), int(b.get("count", 1)))
            return json_response({"kind": b.get("kind"), "count": int(b.get("count", 1))}, 201)
        if len(parts) == 1 and method == "GET":
            return json_response({"pending": sb.pending_webhook_events(),
                                  "attempts": [_attempt(a) for a in sb.webhook_attempts()],
                                  "dropped": sb.dropped_webhook_events()})
    if head == "apps" and method == "POST":
        app = sb.register_app(list(b.get("redirect_uris") or []), b.get("client_id"), b.get("client_secret"),
                              b.get("scopes"), name=str(b.get("name") or "leadbridge"))
        return json_response(asdict(app), 201)
    if head != "portals":
        return unknown_endpoint(method, request.path, HELP)
    if len(parts) == 1:
        if method == "POST":
            portal = sb.add_portal(str(b.get("name") or "Sandbox Portal"), hub_id=b.get("hub_id"),
                                   time_zone=str(b.get("time_zone") or "Europe/Copenhagen"), domain=b.get("domain"))
            return json_response({"hub_id": portal.hub_id, "name": portal.name, "time_zone": portal.time_zone}, 201)
        with sb.lock:
            return json_response([{"hub_id": p.hub_id, "name": p.name, "time_zone": p.time_zone,
                                   "owners": [o.body() for o in p.owners.values()],
                                   "counts": {k: len(v) for k, v in p.records.items()}} for p in sb.portals.values()])
    hub = int(parts[1])
    sb.portal(hub)
    sub = parts[2] if len(parts) > 2 else ""
    if sub == "users" and method == "POST":
        owner = sb.add_user(hub, str(b.get("email", "")), str(b.get("first_name", "")), str(b.get("last_name", "")))
        return json_response(owner.body(), 201)
    if sub == "properties" and method == "POST":
        definition = sb.add_property(hub, str(b.get("object", "")), str(b.get("name", "")), str(b.get("label", "")),
                                     str(b.get("type", "string")), str(b.get("field_type", "text")),
                                     options=[(str(v), str(label)) for v, label in b.get("options") or []],
                                     read_only=bool(b.get("read_only")), calculated=bool(b.get("calculated")),
                                     unique=bool(b.get("unique")))
        return json_response(definition, 201)
    user_id = int(request.args["user_id"]) if "user_id" in request.args else None
    if sub == "records" and len(parts) == 5 and method == "PATCH":
        return json_response(_record(sb.update_record(hub, parts[3], parts[4], b, user_id=user_id)))
    if sub == "records" and len(parts) == 5 and method == "DELETE":
        sb.archive_record(hub, parts[3], parts[4], user_id=user_id)
        return Response(status=204)
    if sub == "records" and len(parts) == 4:
        if method == "POST":
            return json_response(_record(sb.add_record(hub, parts[3], b, user_id=user_id)), 201)
        archived = request.args.get("archived", "false").lower() == "true"
        return json_response([_record(r) for r in sb.records(hub, parts[3], archived=archived)])
    if sub == "expire-tokens" and method == "POST":
        sb.expire_tokens(hub)
        return json_response({"expired": True})
    if sub == "calls":
        return answer_call_counts(sb, request, str(hub), render=str)
    return unknown_endpoint(method, request.path, HELP)
