"""WebhookIntakeFunction: `POST /webhooks/{crm}/{connection_key}`, the public CRM webhook endpoint.

Public on purpose (no JWT): the proof is the CRM's signature over the raw body. The handler only hands the raw
request to `leadbridge.inbound.webhook_intake.accept_webhook` and turns its result into the HTTP answer; a queue or
store failure becomes 503 through the shared error mapping, so the CRM retries.
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
from leadbridge.crm.base import WebhookVerifier, provider
from leadbridge.errors import StoreUnavailable
from leadbridge.inbound.webhook_intake import IntakeOutcome, IntakeResult, accept_webhook, key_ref
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
    event = app.current_event
    raw_body = _raw_body(event.body, event.is_base64_encoded)
    if raw_body is None:
        metrics.add_metric(name="WebhookRejected", unit=MetricUnit.Count, value=1)
        logger.warning("webhook rejected", extra={"crm": crm[:32], "reason": "malformed_body", "detail": "base64"})
        return error_response(400, "webhook_malformed", "Malformed webhook body: not valid base64.")
    try:
        result = accept_webhook(
            crm,
            connection_key,
            event.headers or {},
            raw_body,
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


lambda_handler = http_lambda_handler(app)


def _verifier(crm: str) -> WebhookVerifier:
    return provider(crm).webhooks()


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


def _observe(result: IntakeResult, crm: str, connection_key: str) -> None:
    metrics.add_metric(name=f"Webhook{result.outcome.value.capitalize()}", unit=MetricUnit.Count, value=1)
    if result.enqueued:
        metrics.add_metric(name="WebhookEventsQueued", unit=MetricUnit.Count, value=result.enqueued)
    facts = {
        "crm": crm[:32],
        "connection": key_ref(connection_key),
        "tenant_id": result.tenant_id,
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
