"""The lead app driving leadbridge end to end for one tenant, and the fixtures of the modules that drive it so.

- `stack` (module): the local stack with the queue pump stepped by the test (`stepped_stack`), overriding the
  conftest `stack` in the modules that import it.
- `feed_shows_changes_at_once` (autouse): the change feed's settle window off (`change_feed.without_settle_window`).
- `AppDriver(stack, http, tenant, crm, auth, queue_name=None)`: what the app does and sees for one tenant: settings
  (`settings`, `patch`, `configure`), exports and lead events, sync runs started over HTTP and worked by stepping the
  pump, the change feed and the sync log read page by page, and the bus through an app queue (`subscribe_app_queue`).
  Test modules subclass it for what only they need.
- `CHANGES`: the bus's change event types; `SO_STAGES`: seed 000's pipeline on the SuperOffice sandbox's sale stages.

A module takes the fixtures by importing them: `from tests.support.app_driver import feed_shows_changes_at_once,
stack  # noqa: F401`. The Salesforce sandbox without background Outbound Messages is the `sf_sandbox` fixture that
tests/conftest.py registers from `salesforce_connect`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.app_bus import drain, subscribe_app_queue
from tests.support.change_feed import without_settle_window
from tests.support.local_stack import stepped_stack

if TYPE_CHECKING:
    from local.pump import BatchOutcome
    from local.stack import LocalStack

WORKER = "SyncWorkerFunction"
CHANGES = ("CompanyChanged", "PersonChanged", "DealChanged", "ActivityChanged", "RecordDeleted", "LeadWon", "LeadLost")

# Seed 000's pipeline on the SuperOffice sandbox's sale stages (1 Lead 10 %, 2 Qualified 25 %, 3 Proposal 50 %,
# 4 Negotiation 75 %, 5 Verbal yes 90 %: not mapped), won/lost on the sale status.
SO_STAGES: dict[str, Any] = {
    "app_stages": ["New", "Lead", "Qualified", "Proposal", "Negotiation", "Won", "Lost"],
    "stages": [
        {"app_stage": "Lead", "crm_stage": "1"},
        {"app_stage": "Qualified", "crm_stage": "2"},
        {"app_stage": "Proposal", "crm_stage": "3"},
        {"app_stage": "Negotiation", "crm_stage": "4"},
        {"app_stage": "Won", "crm_status": "Sold"},
        {"app_stage": "Lost", "crm_status": "Lost"},
    ],
    "create_at_stage": "Lead",
}


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the pump stepped by the test (no background consumers) and immediate redelivery."""
    yield from stepped_stack(moto_server)


@pytest.fixture(autouse=True)
def feed_shows_changes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    without_settle_window(monkeypatch)


class AppDriver:
    """What the app does and sees for one tenant: the HTTP API, the bus and the change feed."""

    queue_prefix = "app-capture"  # the app queue is `{queue_prefix}-{8 random hex digits}` unless named
    feed_page_size = 50
    sync_log_page_size = 100

    def __init__(self, stack: LocalStack, http: httpx.Client, tenant: str, crm: str,
                 auth: Callable[[str], dict[str, str]], queue_name: str | None = None) -> None:  # fmt: skip
        self.stack, self.http, self.tenant, self.crm, self.auth = stack, http, tenant, crm, auth
        name = queue_name or f"{self.queue_prefix}-{uuid.uuid4().hex[:8]}"
        self.app_queue = subscribe_app_queue(stack.resources.event_bus_name, name)

    # --- settings ---------------------------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        response = self.http.get(f"/settings/{self.crm}", headers=self.auth("admin"))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def patch(self, **sections: Any) -> httpx.Response:
        return self.http.patch(f"/settings/{self.crm}", json=sections, headers={**self.auth("admin"), "If-Match": "*"})

    def configure(self, **sections: Any) -> None:
        saved = self.patch(**sections)
        assert saved.status_code == 200, saved.text

    # --- leads ------------------------------------------------------------------------------------------------------

    def export(self, document: dict[str, Any], **choice: Any) -> dict[str, Any]:
        body = {"lead": document, **({"choice": choice} if choice else {})}
        response = self.http.post(f"/leads/{document['id']}/export", json=body, headers=self.auth("member"),
                                  timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        return dict(response.json())

    def send_event(self, kind: str, document: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A lead event, whatever its outcome."""
        response = self.http.post(f"/leads/{document['id']}/events", json={"type": kind, "lead": document, **extra},
                                  headers=self.auth("member"), timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        return dict(response.json())

    def event(self, kind: str, document: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A lead event that leadbridge applied."""
        answer = self.send_event(kind, document, **extra)
        assert answer["outcome"] == "applied", answer
        return answer

    # --- sync runs --------------------------------------------------------------------------------------------------

    def start_run(self) -> str:
        started = self.http.post("/sync-runs", json={}, headers=self.auth("admin"))
        assert started.status_code == 202, started.text
        return str(started.json()["id"])

    def work(self) -> BatchOutcome:
        return self.stack.pump.poll_once(WORKER)

    def sync_run(self, run_id: str) -> dict[str, Any]:
        shown = self.http.get(f"/sync-runs/{run_id}", headers=self.auth("member"))
        assert shown.status_code == 200, shown.text
        assert shown.json()["state"] == "succeeded", shown.json()
        return dict(shown.json())

    def run(self) -> dict[str, Any]:
        """A scheduled-sync run to its end; the run as `GET /sync-runs/{id}` shows it."""
        run_id = self.start_run()
        outcome = self.work()
        assert outcome.deleted and not outcome.failed, outcome
        return self.sync_run(run_id)

    # --- what the app reads -----------------------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params, headers=self.auth("member"))
        assert response.status_code == 200, response.text
        return response.json()

    def pages(self, path: str, limit: int) -> list[dict[str, Any]]:
        """Every item of a paged list, following `next_cursor` to the end."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.get(path, limit=limit, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor or page.get("has_more") is False:
                return items

    def feed(self) -> list[dict[str, Any]]:
        """The whole change feed, read in pages of `feed_page_size`."""
        return self.pages("/changes", self.feed_page_size)

    def sync_log(self) -> list[dict[str, Any]]:
        """The sync log's newest `sync_log_page_size` entries."""
        return list(self.get("/sync-log", limit=self.sync_log_page_size)["items"])

    def bus(self) -> list[dict[str, Any]]:
        """The events published since the last call."""
        return drain(self.app_queue)

    def bus_changes(self) -> list[dict[str, Any]]:
        """The change events published since the last call (run events left out)."""
        return [e["detail"] for e in self.bus() if e["detail-type"] in CHANGES]
