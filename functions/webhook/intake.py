"""WebhookIntakeFunction: the public CRM webhook endpoints.

- `POST /webhooks/{crm}/{connection_key}`: per-connection webhooks (SuperOffice, Salesforce), `accept_webhook`.
- `POST /webhooks/{crm}`: webhooks of a CRM *app* (HubSpot: one URL for every installed account),
  `accept_app_webhook`, which routes each event by its account.

Public on purpose (no JWT): the proof is the CRM's signature. The handler only hands the raw request to
`leadbridge.inbound.webhook_intake` and turns its result into the HTTP answer; a queue or store failure becomes 503
through the shared error mapping, so the CRM retries. The request's URL (which HubSpot signs) is rebuilt from the
configured `PUBLIC_API_URL`, the route and the query string, never from the Host headers the gateway forwards.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.metrics import MetricUnit

from leadbridge import runtime
from leadbridge.api import ERROR_CONTENT, error_response, http_lambda_handler, make_resolver
from leadbridge.config import settings
from leadbridge.crm.base import WebhookRequest, WebhookVerifier, provider
from leadbridge.errors import StoreUnavailable
from leadbridge.inbound.webhook_intake import (
    IntakeOutcome,
    IntakeResult,
    accept_app_webhook,
    accept_webhook,
    key_ref,
)
from leadbridge.observability import logger, metrics

app = make_resolver()

_RECEIVED_SCHEMA = {"type": "object", "properties": {"received": {"type": "integer"}}}
_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "Received: verified events are queued; test events and events of a disconnected connection "
        "are acknowledged without being queued.",
        "content": {"application/json": {"schema": _RECEIVED_SCHEMA}},
    },
    400: {"description": "Correctly signed but malformed body.", "content": ERROR_CONTENT},
    401: {
        "description": "Unknown connection, bad signature or foreign account (deliberately indistinguishable).",
        "content": ERROR_CONTENT,
    },
    404: {"description": "leadbridge has no webhook intake for this CRM.", "content": ERROR_CONTENT},
    503: {"description": "The event could not be stored durably; retry later.", "content": ERROR_CONTENT},
}
_APP_RESPONSES: dict[int, OpenAPIResponse] = {
    200: {
        "description": "Received: verified events are queued for every connection of their account; echoes of "
        "leadbridge's own writes, events of unknown or uninstalled accounts and of disconnected connections are "
        "acknowledged without being queued.",
        "content": {"application/json": {"schema": _RECEIVED_SCHEMA}},
    },
    400: {"description": "Correctly signed but malformed body.", "content": ERROR_CONTENT},
    401: {"description": "Bad signature, or a timestamp outside the 5-minute window.", "content": ERROR_CONTENT},
    404: {"description": "leadbridge has no app-level webhook intake for this CRM.", "content": ERROR_CONTENT},
    503: {"description": "The events could not be stored durably; retry later.", "content": ERROR_CONTENT},
}


@app.post(
    "/webhooks/<crm>/<connection_key>",
    summary="Receive a CRM webhook",
    description="Target URL registered at the CRM when a tenant connects. Verifies the CRM's signature over the raw "
    "body (SuperOffice: `X-SuperOffice-Signature`, HMAC-SHA256 with the connection's secret, base64), then queues "
    "each event for processing and answers 200. No bearer token: the signature is the proof.",
    tags=["webhooks"],
    responses=_RESPONSES,
)
def receive_webhook(crm: str, connection_key: str) -> Response[Any]:
    request = _request(f"/webhooks/{crm}/{connection_key}")
    if request is None:
        return _malformed_base64(crm)
    try:
        result = accept_webhook(
            crm,
            connection_key,
            request,
            verifiers=_verifier,
            connections=runtime.webhook_connections(),
            secrets=runtime.webhook_secrets(),
            queue=runtime.webhook_queue(),
            log=runtime.sync_log(),
            correlation_id=logger.get_correlation_id(),
        )
    except StoreUnavailable:
        # Answered 503 by the shared error mapping; the CRM retries the delivery.
        metrics.add_metric(name="WebhookUnavailable", unit=MetricUnit.Count, value=1)
        raise
    _observe(result, crm, connection_key)
    return _response(result)


@app.post(
    "/webhooks/<crm>",
    summary="Receive a CRM app's webhooks",
    description="The one target URL of a CRM app's webhooks, for every account that installed it (HubSpot: "
    "`settings.targetUrl` of the app's `webhooks/webhooks-hsmeta.json`). Verifies the app's signature (HubSpot v3: "
    "HMAC-SHA256 with the client secret over method, URL, body and timestamp, within 5 minutes), drops the echoes "
    "of leadbridge's own writes, and queues each event for every connection of its account (HubSpot `portalId`). "
    "No bearer token: the signature is the proof.",
    tags=["webhooks"],
    responses=_APP_RESPONSES,
)
def receive_app_webhook(crm: str) -> Response[Any]:
    request = _request(f"/webhooks/{crm}")
    if request is None:
        return _malformed_base64(crm)
    try:
        result = accept_app_webhook(
            crm,
            request,
            verifiers=_verifier,
            accounts=runtime.connection_store(),
            queue=runtime.webhook_queue(),
            log=runtime.sync_log(),
            correlation_id=logger.get_correlation_id(),
        )
    except StoreUnavailable:
        metrics.add_metric(name="WebhookUnavailable", unit=MetricUnit.Count, value=1)
        raise
    _observe(result, crm, None)
    return _response(result)


lambda_handler = http_lambda_handler(app)


def _verifier(crm: str) -> WebhookVerifier:
    return provider(crm).webhooks()


def _request(route_path: str) -> WebhookRequest | None:
    """The delivery as the CRM sent it, at its public URL; None when the gateway's base64 body does not decode."""
    event = app.current_event
    raw_body = _raw_body(event.body, event.is_base64_encoded)
    if raw_body is None:
        return None
    query = event.raw_event.get("rawQueryString") or ""
    url = settings().public_api_url.rstrip("/") + route_path + (f"?{query}" if query else "")
    return WebhookRequest(method=event.http_method, url=url, headers=dict(event.headers or {}), raw_body=raw_body)


def _malformed_base64(crm: str) -> Response[Any]:
    metrics.add_metric(name="WebhookRejected", unit=MetricUnit.Count, value=1)
    logger.warning("webhook rejected", extra={"crm": crm[:32], "reason": "malformed_body", "detail": "base64"})
    return error_response(400, "webhook_malformed", "Malformed webhook body: not valid base64.")


def _raw_body(body: str | None, is_base64: bool | None) -> bytes | None:
    if body is None:
        return b""
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def _response(result: IntakeResult) -> Response[Any]:
    if result.reply is not None:
        status, content_type, body = result.reply
        return Response(status_code=status, content_type=content_type, body=body)
    if result.outcome is IntakeOutcome.REJECTED:
        return error_response(
            result.status, result.public_code, result.public_message, details=result.public_details or None
        )
    return Response(
        status_code=result.status, content_type=content_types.APPLICATION_JSON, body={"received": result.received}
    )


def _observe(result: IntakeResult, crm: str, connection_key: str | None) -> None:
    metrics.add_metric(name=f"Webhook{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
    counts = {
        "WebhookEventsQueued": result.enqueued,
        "WebhookOwnWritesDropped": result.own_writes,
        "WebhookDuplicatesDropped": result.duplicates,
        "WebhookUnroutedEvents": result.unrouted,
    }
    for name, value in counts.items():
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    facts = {
        "crm": crm[:32],
        "connection": key_ref(connection_key) if connection_key else None,
        "tenant_id": result.tenant_id,
        "tenants": result.tenants[:10] or None,
        "own_writes": result.own_writes,
        "duplicates": result.duplicates,
        "unrouted": result.unrouted,
        "outcome": result.outcome.value,
        "status": result.status,
        "reason": result.reason,
        "detail": result.detail,
        "events": result.event_ids[:10],
        "queued": result.enqueued,
    }
    if result.outcome is IntakeOutcome.REJECTED:
        logger.warning("webhook rejected", extra=facts)
    else:
        logger.info(f"webhook {result.outcome.value}", extra=facts)
