"""The webhooks v3 management API of legacy public apps on the API host (§6.1), authenticated with the developer
account's `?hapikey=` (an app's `developer_api_key`), not a portal token:

- `GET|PUT|DELETE /webhooks/v3/{appId}/settings`: `{targetUrl, throttling: {maxConcurrentRequests, period}}`.
- `GET|POST /webhooks/v3/{appId}/subscriptions`: `{eventType, propertyName?, active}`.
- `GET|PATCH|DELETE /webhooks/v3/{appId}/subscriptions/{subscriptionId}` (PATCH: `{active}`).
- `POST /webhooks/v3/{appId}/subscriptions/batch/update`: `{inputs: [{id, active}]}`.

The reference gives the requests; the answers' shapes (`results` lists, `status: COMPLETE`) are the sandbox's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Request, Response

from local.sandbox.common.http import json_response
from local.sandbox.hubspot.model import (
    HubSpotError,
    OAuthApp,
    WebhookSettingsOut,
    WebhookSubscriptionBatch,
    WebhookSubscriptionList,
    WebhookSubscriptionOut,
    checked,
    iso,
    not_found,
    validation_error,
)
from local.sandbox.hubspot.parsing import parse
from local.sandbox.hubspot.state import HubSpotState
from local.sandbox.hubspot.webhooks import Subscription


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Throttling(_In):
    maxConcurrentRequests: int = Field(default=10, ge=1)
    period: Literal["SECONDLY", "ROLLING_MINUTE"] = "SECONDLY"


class SettingsInput(_In):
    targetUrl: str
    throttling: Throttling = Field(default_factory=Throttling)


class SubscriptionInput(_In):
    eventType: str
    propertyName: str | None = None
    active: bool = True


class SubscriptionPatch(_In):
    active: bool


class ActiveInput(_In):
    id: int
    active: bool


class BatchActive(_In):
    inputs: list[ActiveInput] = Field(min_length=1, max_length=100)


def _app(sb: HubSpotState, request: Request, app_id: str) -> OAuthApp:
    """The app of the path, when `hapikey` is its developer key (401 otherwise, 404 for an unknown app)."""
    key = request.args.get("hapikey")
    with sb.lock:
        app = next((a for a in sb.apps.values() if str(a.app_id) == app_id), None)
    if app is None:
        raise not_found(f"App {app_id} not found")
    if key is None or key != app.developer_api_key:
        raise HubSpotError(401, "INVALID_AUTHENTICATION",
                           "The API key provided is invalid. View or manage your API key here: ...")
    return app


def _subscription(sub: Subscription, now: float) -> dict[str, Any]:
    return checked(WebhookSubscriptionOut, {**sub.body(), "createdAt": iso(now), "updatedAt": iso(now)})


def handle(sb: HubSpotState, request: Request) -> Response:
    parts = request.path.strip("/").split("/")[2:]  # after webhooks/v3
    method = request.method
    if not parts:
        raise not_found(f"{method} {request.path} does not exist")
    app = _app(sb, request, parts[0])
    rest = parts[1:]
    if rest == ["settings"]:
        if method == "PUT":
            wanted = parse(SettingsInput, request)
            sb.set_webhook_target(app.client_id, wanted.targetUrl, wanted.throttling.maxConcurrentRequests)
        elif method == "DELETE":
            sb.clear_webhook_settings(app.client_id)
            return Response(status=204)
        with sb.lock:
            settings = sb.webhook_settings.get(app.client_id)
            if settings is None:
                raise not_found(f"No settings for app {app.app_id}")
            return json_response(checked(WebhookSettingsOut, {"targetUrl": settings.target_url, "throttling": {
                "maxConcurrentRequests": settings.max_concurrent_requests, "period": "SECONDLY"}}))
    if rest[:1] != ["subscriptions"]:
        raise not_found(f"{method} {request.path} does not exist")
    now = sb.clock()
    try:
        if len(rest) == 1 and method == "GET":
            with sb.lock:
                settings = sb.webhook_settings.get(app.client_id)
                subs = list(settings.subscriptions) if settings else []
            return json_response(checked(WebhookSubscriptionList, {"results": [_subscription(s, now) for s in subs]}))
        if len(rest) == 1 and method == "POST":
            wanted_sub = parse(SubscriptionInput, request)
            if app.client_id not in sb.webhook_settings:
                raise validation_error("Set the app's webhook settings (targetUrl) before subscribing")
            sub = sb.subscribe(app.client_id, wanted_sub.eventType, wanted_sub.propertyName, active=wanted_sub.active)
            return json_response(_subscription(sub, now), 201)
        if rest[1:] == ["batch", "update"] and method == "POST":
            changes = parse(BatchActive, request).inputs
            results = [_subscription(sb.set_subscription_active(app.client_id, c.id, c.active), now)
                       for c in changes]
            return json_response(checked(WebhookSubscriptionBatch, {
                "status": "COMPLETE", "results": results, "startedAt": iso(now), "completedAt": iso(sb.clock())}))
        if len(rest) == 2 and rest[1].isdigit():
            sub_id = int(rest[1])
            if method == "GET":
                return json_response(_subscription(sb.subscription(app.client_id, sub_id), now))
            if method == "PATCH":
                patch = parse(SubscriptionPatch, request)
                return json_response(_subscription(sb.set_subscription_active(app.client_id, sub_id, patch.active),
                                                   now))
            if method == "DELETE":
                sb.unsubscribe(app.client_id, sub_id)
                return Response(status=204)
    except KeyError as exc:
        raise not_found(str(exc.args[0] if exc.args else exc)) from None
    except ValueError as exc:
        raise validation_error(str(exc)) from None
    raise not_found(f"{method} {request.path} does not exist")
