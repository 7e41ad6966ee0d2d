"""SuperOffice webhooks seen from both ends: the CRM user changing records in the sandbox (which delivers signed
webhooks to the local gateway) and the app (an SQS queue behind a bus rule, the sync log over HTTP).

- `wh` (function): `TENANT` connected through `env`, CRM → app turned on for the `INBOUND` fields, the app
  subscribed to the bus; a `Hooks`. Registered for every test by tests/conftest.py.
- `final(entry)`: a sync-log entry that ends an event's processing; `resend(delivery)`: POST a delivery again;
  `poll(hooks)`: one batch of WebhookQueue through the processor, for a stack whose pump the test steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from local.pump import BatchOutcome
from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from local.sandbox.superoffice.webhooks import Delivery
from local.stack import LocalStack
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.queues import messages_in
from tests.support.superoffice_connect import Env
from tests.support.waiting import GENEROUS_TIMEOUT, wait_until

TENANT = "acme-webhooks"
PROCESSOR = "WebhookProcessorFunction"
APP_EVENTS = "app-events-webhooks"  # the app's queue, and the bus rule that feeds it
# Inbound mappings for the tests: the company name, org number and website; the deal heading and amount.
INBOUND = {"company": {"Name", "OrgNr", "Url"}, "person": {"Firstname", "Lastname"}, "deal": {"Heading", "Amount"}}


@pytest.fixture
def wh(env: Env) -> Iterator[Hooks]:
    env.connect(TENANT)
    hooks = Hooks(env)
    hooks.sync_from_crm()
    hooks.subscribe_app()
    yield hooks
    env.sandbox.clear_faults()


class Hooks:
    """The CRM user (sandbox), the app (bus subscription, sync log API) and the plumbing between them."""

    def __init__(self, connected: Env) -> None:
        self.env = connected
        self.stack: LocalStack = connected.stack
        self.sb: SuperOfficeSandbox = connected.sandbox
        self.sqs = boto3.client("sqs")
        self.app_queue = ""
        self.seen: list[dict[str, Any]] = []

    # --- setup --------------------------------------------------------------------------------------------------

    def sync_from_crm(self, objects: tuple[str, ...] = ("company", "person", "deal")) -> None:
        """The admin turns on CRM → app for some objects and fields (PUT /settings with If-Match)."""
        admin = self.env.auth(TENANT, "admin")
        current = self.env.http.get("/settings/superoffice", headers=admin)
        assert current.status_code == 200, current.text
        document = current.json()
        for obj in objects:
            document["objects"][obj]["direction"] = "both"
            for mapping in document["field_mappings"][obj]:
                if mapping["crm_field"] in INBOUND.get(obj, set()) and len(mapping["app_fields"]) == 1:
                    mapping["direction"] = "both"
        saved = self.env.http.put(
            "/settings/superoffice", json=document, headers={**admin, "If-Match": current.headers["etag"]}
        )
        assert saved.status_code == 200, saved.text

    def subscribe_app(self) -> None:
        """An SQS queue behind a rule for every leadbridge event on the bus: what the lead app receives."""
        self.app_queue = subscribe_app_queue(self.stack.resources.event_bus_name, APP_EVENTS)

    # --- the CRM user -------------------------------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        return [d for d in self.sb.deliveries if not d.test]

    def answered_deliveries(self) -> int:
        """Event deliveries (not registration tests) answered so far, or failed to reach leadbridge."""
        return len([d for d in self.deliveries() if d.status is not None or d.error])

    def wait_for_deliveries(self, count: int, timeout: float = GENEROUS_TIMEOUT) -> list[Delivery]:
        """Until `count` event deliveries (not registration tests) were answered."""
        self.sb.wait_for_deliveries(
            lambda ds: len([d for d in ds if not d.test and (d.status is not None or d.error)]) >= count,
            timeout=timeout,
        )
        found = self.deliveries()
        assert len(found) >= count, [(d.event, d.status) for d in found]
        return found

    # --- the app ------------------------------------------------------------------------------------------------

    def app_events(self) -> list[dict[str, Any]]:
        """Every event the app received so far (drained from its queue and remembered)."""
        self.seen += drain(self.app_queue)
        return list(self.seen)

    def sync_log(self) -> list[dict[str, Any]]:
        """The whole sync log of the tenant through GET /sync-log (newest first)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = self.env.http.get("/sync-log", params=params, headers=self.env.auth(TENANT, "member"))
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return items

    def entries_of(self, event_id: str) -> list[dict[str, Any]]:
        return [e for e in self.sync_log() if e.get("correlation_id") == event_id]

    def queue_depth(self, queue: str = "WebhookQueue") -> int:
        return messages_in(self.stack, queue)

    def settled(self, event_ids: list[str], timeout: float = GENEROUS_TIMEOUT) -> None:
        """Until the webhook queue is empty and every event id has a final sync-log entry."""

        def done() -> bool:
            if self.queue_depth() != 0:
                return False
            finished = {e["correlation_id"] for e in self.sync_log() if final(e)}
            return set(event_ids) <= finished

        wait_until(done, timeout=timeout, what=f"events {event_ids} to be processed")

    def changed(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        return [e["detail"] for e in self.app_events() if detail_type in (None, e["detail-type"])]


def final(entry: dict[str, Any]) -> bool:
    """An entry that ends an event's processing (not a failed attempt that will be retried)."""
    details = entry.get("details") or {}
    return entry["outcome"] != "failed" or bool(details.get("dead_lettered")) or "attempt" not in details


def resend(delivery: Delivery, *, body: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST a delivery again to leadbridge, as the CRM (or someone who captured it) would."""
    return httpx.post(delivery.url, content=body if body is not None else delivery.body,
                      headers=headers if headers is not None else delivery.headers, timeout=10)


def poll(hooks: Hooks) -> BatchOutcome:
    return hooks.stack.pump.poll_once(PROCESSOR)
