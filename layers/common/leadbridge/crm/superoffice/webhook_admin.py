"""The SuperOffice connector's webhook administration: register, list, reactivate, unregister (the REST `Webhook`
agent). Verifying and parsing deliveries is `webhooks.py`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadbridge.crm.superoffice.core import SuperOfficeCore, int_id
from leadbridge.errors import CrmUnavailable
from leadbridge.models.crm import (
    WebhookRegistration,
)

DEFAULT_WEBHOOK_EVENTS = [
    f"{entity}.{action}"
    for entity in ("contact", "person", "sale", "appointment")
    for action in ("created", "changed", "deleted")
] + ["sale.sold", "sale.lost"]


def _webhook(data: Any) -> WebhookRegistration:
    if not isinstance(data, Mapping) or data.get("WebhookId") in (None, 0):
        raise CrmUnavailable("SuperOffice returned no webhook")
    state = str(data.get("State") or "Unknown")
    return WebhookRegistration(
        id=str(data["WebhookId"]),
        url=str(data.get("TargetUrl") or ""),
        events=[str(e) for e in data.get("Events") or []],
        active=state == "Active",
        state=state,
    )


class WebhookAdmin(SuperOfficeCore):
    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> WebhookRegistration:
        body = {
            "Name": f"leadbridge {self.context.tenant_id}"[:100],
            "Events": events or DEFAULT_WEBHOOK_EVENTS,
            "TargetUrl": url,
            "Secret": secret,
            "State": "Active",
            "Type": "webhook",
        }
        return _webhook(self.client.request("webhook.create", "POST", "Webhook", json_body=body))

    def list_webhooks(self) -> list[WebhookRegistration]:
        return [_webhook(w) for w in self.client.request("webhook.list", "GET", "Webhook") or []]

    def reactivate_webhook(self, webhook_id: str) -> WebhookRegistration:
        patch = [{"op": "replace", "path": "/State", "value": "Active"}]
        return _webhook(
            self.client.request(
                "webhook.patch",
                "PATCH",
                f"Webhook/{int_id(webhook_id)}",
                json_body=patch,
                content_type="application/json-patch+json",
            )
        )

    def unregister_webhook(self, webhook_id: str) -> None:
        self.client.request("webhook.delete", "DELETE", f"Webhook/{int_id(webhook_id)}")
