"""Lead events from the app's EventBridge bus, end to end through moto and the local stack: PutEvents on the bus →
the template's LeadEventsRule → LeadEventsQueue → the queue pump (`local/pump.py`) → LeadEventsFunction → the
SuperOffice sandbox. Nothing is called directly: the test only publishes, then looks at the CRM and the sync log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from tests.support.queues import messages_in
from tests.support.superoffice_connect import CTX, Env
from tests.support.waiting import wait_until

TENANT = "acme-bus"


@pytest.fixture
def bus(env: Env) -> Iterator[Bus]:
    env.connect(TENANT)
    with env.sandbox.lock:  # webhook intake has its own tests; here the CRM's change notifications stay off
        env.sandbox.customers[CTX].webhooks.clear()
    yield Bus(env)


class Bus:
    def __init__(self, connected: Env) -> None:
        self.env = connected
        self.events = boto3.client("events")
        self.name = connected.stack.resources.event_bus_name

    def publish(self, detail: dict[str, Any], *, source: str = "app.leads", detail_type: str = "LeadEvent") -> None:
        result = self.events.put_events(
            Entries=[
                {"EventBusName": self.name, "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}
            ]
        )
        assert result["FailedEntryCount"] == 0, result

    def sales_of(self, company_name: str) -> list[dict[str, Any]]:
        with self.env.sandbox.lock:
            customer = self.env.sandbox.customers[CTX]
            companies = {i for i, c in customer.records["contact"].items() if c.get("Name") == company_name}
            return [s for s in customer.records["sale"].values() if s.get("Contact") in companies]

    def log(self, lead_id: str) -> list[dict[str, Any]]:
        response = self.env.http.get("/sync-log", params={"lead_id": lead_id}, headers=self.env.auth(TENANT, "member"))
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        wait_until(condition, what=what)


def detail(lead_id: str, kind: str = "created", **event: Any) -> dict[str, Any]:
    lead = {
        "id": lead_id,
        "stage": "Lead",
        "companyName": f"Bølge {lead_id} ApS",
        "cvr": str(51000000 + sum(map(ord, lead_id))),
        "dealTitle": f"Bølge {lead_id}",
        "contacts": [{"id": "c1", "name": "Ole Bølge", "email": f"ole@bolge-{lead_id.lower()}.dk"}],
    }
    return {"tenant_id": TENANT, "lead_id": lead_id, "event": {"type": kind, "lead": lead, **event}}


def test_a_lead_event_on_the_bus_creates_the_company_and_sale_in_the_crm(bus: Bus) -> None:
    bus.publish(detail("B-1", event_id="app-evt-1", occurred_at="2026-03-01T09:00:00Z"))

    bus.wait_for(lambda: len(bus.sales_of("Bølge B-1 ApS")) == 1, "the sale of B-1")

    sale = bus.sales_of("Bølge B-1 ApS")[0]
    assert sale["Heading"] == "Bølge B-1"
    bus.wait_for(lambda: any(e["object"] == "deal" for e in bus.log("B-1")), "the deal's log entry")
    entries = bus.log("B-1")
    assert {e["trigger"] for e in entries} == {"lead_event"}
    assert {(e["object"], e["action"]) for e in entries} >= {("company", "create"), ("deal", "create")}


def test_a_redelivered_event_is_applied_once_and_leadbridges_own_events_are_not_lead_events(bus: Bus) -> None:
    # leadbridge's own events on the same bus never reach the lead-events queue, whatever their detail-type.
    bus.publish(detail("B-OWN"), source="leadbridge")
    bus.publish(detail("B-OTHER"), detail_type="LeadScored")
    twice = detail("B-2", event_id="app-evt-2", occurred_at="2026-03-01T09:00:00Z")
    bus.publish(twice)
    bus.publish(twice)

    bus.wait_for(lambda: len(bus.sales_of("Bølge B-2 ApS")) == 1, "the sale of B-2")
    bus.wait_for(lambda: len([e for e in bus.log("B-2") if e["object"] == "deal"]) >= 1, "B-2's deal entry")
    # Let the pump drain the queue (the second delivery must not create a second sale), then check.
    bus.wait_for(lambda: messages_in(bus.env.stack, "LeadEventsQueue") == 0, "the lead-events queue to drain")
    assert len(bus.sales_of("Bølge B-2 ApS")) == 1
    assert [e["action"] for e in bus.log("B-2") if e["object"] == "deal"] == ["create"]
    assert bus.log("B-OWN") == [] and bus.log("B-OTHER") == []
    assert bus.sales_of("Bølge B-OWN ApS") == [] and bus.sales_of("Bølge B-OTHER ApS") == []
