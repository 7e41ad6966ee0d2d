"""SuperOffice webhook verification and parsing (SOD `en/automation/webhook/dev/*`).

Signature: `X-SuperOffice-Signature` = base64(HMAC-SHA256(key = UTF-8 secret, message = the raw body bytes)).
Nothing time-based is signed, so receivers de-duplicate on `EventId`. Header names are matched case-insensitively
(the docs and the examples disagree on casing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from leadbridge.crm.base import WebhookRequest
from leadbridge.crm.superoffice.fields import entity_datetime
from leadbridge.crm.superoffice.mapping import BY_EVENT_ENTITY
from leadbridge.errors import WebhookRejected
from leadbridge.json_body import parse_json_body
from leadbridge.models.crm import WebhookEvent

SIGNATURE_HEADER = "x-superoffice-signature"
ACTIONS = {"sold": "won", "lost": "lost"}


def signature(secret: str, raw_body: bytes) -> str:
    """The value SuperOffice puts in `X-SuperOffice-Signature` for this body."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class SuperOfficeWebhooks:
    """`WebhookVerifier` for SuperOffice."""

    def verify(self, request: WebhookRequest, secret: str) -> bool:
        received = header(request.headers, SIGNATURE_HEADER)
        if not received or not secret:
            return False
        expected = signature(secret, request.raw_body).encode("ascii")
        return hmac.compare_digest(expected, received.strip().encode("utf-8"))

    def parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        headers = request.headers
        try:
            body = parse_json_body(request.raw_body)  # bounded: depth, size, digits (a MalformedBody is a ValueError)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("SuperOffice webhook body is not JSON") from exc
        if body is None:
            raise WebhookRejected("SuperOffice webhook body is not JSON")
        items = body if isinstance(body, list) else [body]
        return [self._event(item, headers, index) for index, item in enumerate(items)]

    def test_response(self, events: list[WebhookEvent]) -> tuple[int, str, str] | None:
        return None  # SuperOffice wants a plain 200 for test POSTs too

    @staticmethod
    def _event(item: Any, headers: Mapping[str, str], index: int) -> WebhookEvent:
        where = f"event {index}" if index else "body"
        if not isinstance(item, Mapping):
            raise WebhookRejected(f"SuperOffice webhook {where} is not a JSON object")
        event_name = item.get("Event") or header(headers, "x-superoffice-event")
        if not isinstance(event_name, str) or not event_name:
            raise WebhookRejected(f"SuperOffice webhook {where} has no Event")
        event_id = item.get("EventId") or header(headers, "x-superoffice-eventid")
        if not isinstance(event_id, str) or not event_id:
            raise WebhookRejected(f"SuperOffice webhook {where} has no EventId")
        is_test = event_name == "test" or (header(headers, "x-hook-test") or "").lower() == "true"
        entity_word, _, action_word = event_name.partition(".")
        entity = str(item.get("Entity") or entity_word).lower()
        spec = BY_EVENT_ENTITY.get(entity) if not is_test else None
        primary_key = item.get("PrimaryKey")
        if primary_key is not None and not isinstance(primary_key, (int, str)):
            raise WebhookRejected(f"SuperOffice webhook {where} has an invalid PrimaryKey")
        changes = item.get("Changes") or []
        if not isinstance(changes, list):
            raise WebhookRejected(f"SuperOffice webhook {where} has Changes that are not a list")
        payload = item.get("FieldValues") or item.get("Values") or {}
        if not isinstance(payload, Mapping):
            raise WebhookRejected(f"SuperOffice webhook {where} has FieldValues that are not an object")
        changed_by = item.get("ChangedByAssociateId")
        timestamp = item.get("Timestamp")
        return WebhookEvent(
            event_id=event_id,
            event=event_name,
            object=spec.obj if spec else None,
            record_id=str(primary_key) if primary_key not in (None, 0, "0", "") else None,
            account_id=str(item["ContextIdentifier"]) if item.get("ContextIdentifier") else None,
            action="test" if is_test else ACTIONS.get(action_word, action_word or "unknown"),
            occurred_at=entity_datetime(timestamp, utc=True) if isinstance(timestamp, str) else None,
            changed_fields=[str(c) for c in changes],
            changed_by=str(changed_by) if changed_by not in (None, 0, "") else None,
            payload=dict(payload),
            is_test=is_test,
        )
