"""HubSpot webhooks from a portal user's edit to the app: a tenant connected through the gateway (the real connect
flow and connector), the sandbox delivering signed batches to `POST /webhooks/hubspot`, the queue pump stepped by
the test into WebhookProcessorFunction, the app's bus read back. Asserted: the app hears of a user's changes, each
record of a batch is read from HubSpot once (one batch read for the batch, not one read per event), and the app's
own export is never reported back, whether the intake recognises it (`sourceId` = our app id) or not (then the
inbound kernel's record-state comparison must catch the echo)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from leadbridge import runtime
from leadbridge.crm.base import reset_providers
from local.stack import LocalStack
from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.change_feed import without_settle_window
from tests.support.hubspot_connect import TENANT, HsConnect, hs_sandbox, hsc
from tests.support.local_stack import stepped_stack

__all__ = ["hs_sandbox", "hsc"]  # the fixtures this module uses, imported for pytest

PROCESSOR = "WebhookProcessorFunction"
LEAD: dict[str, Any] = {
    "id": "lead-hs-webhook",
    "stage": "Lead",
    "company_name": "Webhook Echo ApS",
    "website": "https://www.webhook-echo.dk",
    "contacts": [{"id": "c1", "first_name": "Ea", "last_name": "Ekko", "email": "ea@webhook-echo.dk"}],
}


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    yield from stepped_stack(moto_server)


@pytest.fixture(autouse=True)
def feed_shows_changes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    without_settle_window(monkeypatch)


class Hooked:
    """A connected tenant syncing companies both ways, the app subscribed to company events, the bus captured."""

    def __init__(self, hsc: HsConnect) -> None:
        hsc.connect()
        self.c = hsc
        self.sb = hsc.sandbox
        self.hub = hsc.hub_id
        self.client_id = next(cid for cid, app in self.sb.apps.items() if app.app_id == hsc.app_id)
        for event_type, prop in [("company.creation", None), ("company.propertyChange", "name"),
                                 ("company.propertyChange", "domain"), ("company.deletion", None)]:
            self.sb.subscribe(self.client_id, event_type, prop)
        self._sync_companies_both_ways()
        self.bus = subscribe_app_queue(os.environ["EVENT_BUS_NAME"], "bus-capture-hs-webhooks")
        drain(self.bus)

    def _sync_companies_both_ways(self) -> None:
        auth = self.c.auth(TENANT, "admin")
        document = self.c.http.get("/settings/hubspot", headers=auth).json()
        document["objects"]["company"]["direction"] = "both"
        for mapping in document["field_mappings"]["company"]:
            if len(mapping["app_fields"]) == 1 and not mapping["transforms"] and not mapping["custom"]:
                mapping["direction"] = "both"
        saved = self.c.http.patch("/settings/hubspot", headers={**auth, "If-Match": "*"},
                                  json={"objects": document["objects"], "field_mappings": document["field_mappings"]})
        assert saved.status_code == 200, saved.text

    def deliver_and_process(self) -> int:
        """Deliver what HubSpot has to send, then run the processor over the queue; the events processed."""
        attempts = self.sb.tick_webhooks()
        assert attempts and all(a.ok for a in attempts), [(a.status, a.error) for a in attempts]
        processed = 0
        while True:
            outcome = self.c.stack.pump.poll_once(PROCESSOR)
            if not outcome.received:
                return processed
            assert not outcome.failed, outcome.error
            processed += len(outcome.received)

    def company_events(self) -> list[dict[str, Any]]:
        return [e["detail"] for e in drain(self.bus) if e["detail-type"] == "CompanyChanged"]

    def reads(self) -> dict[str, int]:
        return {op: n for op, n in self.c.calls("GET", "POST").items()
                if "/crm/v3/objects/companies" in op and not op.endswith("/search")}


@pytest.fixture
def hooked(hsc: HsConnect) -> Iterator[Hooked]:
    yield Hooked(hsc)


def test_a_users_new_and_renamed_companies_reach_the_app_with_one_read_per_record(hooked: Hooked) -> None:
    [existing] = hooked.sb.add_records(hooked.hub, "companies", [{"name": "Gammel Firma A/S"}])
    hooked.deliver_and_process()
    hooked.company_events()
    before = hooked.reads()

    [created] = hooked.sb.add_records(hooked.hub, "companies", [{"name": "Ny Kunde ApS", "domain": "nykunde.dk"}])
    hooked.sb.update_record(hooked.hub, "companies", existing.id, {"name": "Gammel Firma Holding A/S"})
    processed = hooked.deliver_and_process()

    # creation + name + domain of the new company, the rename of the other: four events ...
    assert processed == 4
    events = {e["crm_id"]: e for e in hooked.company_events()}
    assert set(events) == {created.id, existing.id}
    assert events[existing.id]["changed_fields"] == ["company_name"]
    # ... and HubSpot was asked once, for both companies together.
    after = hooked.reads()
    spent = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    assert spent == {"POST /crm/v3/objects/companies/batch/read": 1}, spent


def export(hooked: Hooked) -> str:
    exported = hooked.c.http.post(f"/leads/{LEAD['id']}/export", json={"lead": LEAD, "choice": {"mode": "auto"}},
                                  headers=hooked.c.auth(TENANT, "member"), timeout=30)
    assert exported.status_code == 200, exported.text
    return str(exported.json()["company"]["crm_id"])


def test_the_apps_own_export_is_dropped_at_the_intake(hooked: Hooked) -> None:
    export(hooked)
    # HubSpot names our app as the writer (INTEGRATION, sourceId = our app id): nothing reaches the processor.
    assert hooked.deliver_and_process() == 0
    assert hooked.company_events() == []


def test_an_echo_the_intake_cannot_recognise_is_caught_by_the_record_state(
    hooked: Hooked, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The intake does not know our app id (as for an event without sourceId): the export's events are queued ...
    monkeypatch.setenv("HUBSPOT_APP_ID", "another-app")
    runtime.reset()
    reset_providers()
    company_id = export(hooked)
    assert hooked.deliver_and_process() >= 2  # creation and name at least

    # ... and the processor, reading the company, finds what the export wrote: no news for the app.
    assert hooked.company_events() == []
    log = hooked.c.http.get("/sync-log", headers=hooked.c.auth(TENANT, "admin"))
    assert log.status_code == 200, log.text
    inbound = [e for e in log.json()["items"] if e.get("crm_id") == company_id and e["direction"] == "from_crm"]
    assert inbound and all((e["outcome"], e["error"]["code"]) == ("skipped", "unchanged") for e in inbound), inbound


def test_a_batch_is_ordered_per_record_by_time_with_creations_first() -> None:
    from datetime import UTC, datetime

    from leadbridge.inbound.webhook_intake import QueuedWebhook
    from leadbridge.inbound.webhook_processing import order_batch
    from leadbridge.models.crm import CrmObject, WebhookEvent

    def queued(record: str, action: str, second: int) -> QueuedWebhook:
        at = datetime(2026, 3, 1, 9, 0, second, tzinfo=UTC)
        event = WebhookEvent(event_id=f"{record}-{action}-{second}", event=f"company.{action}",
                             object=CrmObject.COMPANY, record_id=record, account_id="1", action=action, occurred_at=at)
        return QueuedWebhook(tenant_id="t", crm="hubspot", connection_key="k" * 20, account_id="1", event=event,
                             received_at=at)

    batch = [queued("a", "changed", 5), queued("b", "changed", 9), queued("a", "created", 6),
             queued("a", "changed", 2), queued("b", "deleted", 1)]
    ordered = [batch[i].event.event_id for i in order_batch(batch)]
    # a's creation first although HubSpot stamped it later, then a's changes by time; b's events in their time
    # order, each record keeping the batch positions its events had.
    assert ordered == ["a-created-6", "b-deleted-1", "a-changed-2", "a-changed-5", "b-changed-9"]
