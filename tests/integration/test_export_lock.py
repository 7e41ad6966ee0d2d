"""The per-lead lease that keeps two simultaneous exports of one lead from both creating the company.

Domain level: `DynamoLeadLeases` against moto (real conditional writes), raced from threads. End to end: two exports
of the same lead without an Idempotency-Key sent at once through the local gateway to the SuperOffice sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leadbridge.export import ExportInProgress, ExportServices, lead_lease
from leadbridge.store.leases import DynamoLeadLeases, lead_lease_key
from leadbridge.store.table import Table
from local.aws import LocalResources
from tests.support.superoffice_connect import CTX, Env
from tests.support.waiting import wait_until

# --- domain: the lease on DynamoDB ------------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def leases(aws: LocalResources) -> Iterator[tuple[DynamoLeadLeases, Clock]]:
    clock = Clock()
    yield DynamoLeadLeases(Table(aws.table_name), clock=clock), clock


def test_of_many_threads_taking_one_lead_lease_at_once_exactly_one_gets_it(
    leases: tuple[DynamoLeadLeases, Clock],
) -> None:
    store, _ = leases
    start = threading.Barrier(8)
    results: dict[str, float | None] = {}

    def take(owner: str) -> None:
        start.wait()
        results[owner] = store.acquire("t1", "superoffice", "L-1", owner, 35)

    threads = [threading.Thread(target=take, args=(f"owner-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [owner for owner, left in results.items() if left is None]
    assert len(winners) == 1
    assert all(0 < left <= 35 for owner, left in results.items() if owner not in winners)  # type: ignore[operator]
    # Other leads and other tenants are independent.
    assert store.acquire("t1", "superoffice", "L-2", "x", 35) is None
    assert store.acquire("t2", "superoffice", "L-1", "x", 35) is None


def test_only_the_holder_releases_and_a_run_out_lease_can_be_taken(leases: tuple[DynamoLeadLeases, Clock]) -> None:
    store, clock = leases
    assert store.acquire("t1", "superoffice", "L-1", "a", 35) is None

    store.release("t1", "superoffice", "L-1", "b")  # not b's: nothing happens
    assert store.acquire("t1", "superoffice", "L-1", "b", 35) == pytest.approx(35)

    clock.now += 36  # a crashed holder's lease runs out
    assert store.acquire("t1", "superoffice", "L-1", "b", 35) is None
    store.release("t1", "superoffice", "L-1", "a")  # a's late release must not free b's lease
    assert store.acquire("t1", "superoffice", "L-1", "c", 35) is not None
    store.release("t1", "superoffice", "L-1", "b")
    assert store.acquire("t1", "superoffice", "L-1", "c", 35) is None


def test_the_loser_gets_export_in_progress_with_a_short_retry_hint(leases: tuple[DynamoLeadLeases, Clock]) -> None:
    store, _ = leases
    svc = ExportServices(
        links=None,  # type: ignore[arg-type]  # the lease is all these tests use
        sync_log=None,  # type: ignore[arg-type]
        settings=lambda t, c: None,  # type: ignore[arg-type,return-value]
        connector=lambda t, c: None,  # type: ignore[arg-type,return-value]
        active_crm=lambda t: "superoffice",
        leases=store,
    )
    with lead_lease(svc, "t1", "superoffice", "L-1"):
        with pytest.raises(ExportInProgress) as exc, lead_lease(svc, "t1", "superoffice", "L-1"):
            pass
        assert exc.value.code == "export_in_progress" and 1 <= exc.value.retry_after <= 5
    with lead_lease(svc, "t1", "superoffice", "L-1"):  # released on leaving the block
        pass


# --- end to end: two simultaneous exports through the gateway ---------------------------------------------------------

TENANT = "acme-lock"


def test_two_simultaneous_exports_of_one_lead_create_one_company_and_the_loser_is_told_to_retry(
    env: Env,
) -> None:
    env.connect(TENANT)
    with env.sandbox.lock:
        env.sandbox.customers[CTX].webhooks.clear()
    lead = {
        "id": "L-LOCK",
        "stage": "Lead",
        "companyName": "Samtidig Smed ApS",
        "cvr": "12121212",
        "contacts": [{"id": "c1", "name": "Sif Smed", "email": "sif@samtidig-smed.dk"}],
    }
    responses: dict[str, httpx.Response] = {}

    def export(name: str) -> None:
        with httpx.Client(base_url=env.stack.gateway_url, timeout=60) as http:
            responses[name] = http.post(
                f"/leads/{lead['id']}/export", json={"lead": lead}, headers=env.auth(TENANT, "member")
            )

    # The CRM answers nothing while the test holds the sandbox's lock: the first export, holding the lead's lease,
    # stays in flight until the second has its answer, however busy the machine.
    lease = lead_lease_key(TENANT, "superoffice", lead["id"])
    table = Table(env.stack.resources.table_name)
    first = threading.Thread(target=export, args=("first",))
    with env.sandbox.lock:
        first.start()
        wait_until(lambda: table.get(lease, consistent=True) is not None, what="the first export to take the lease")
        export("second")
    first.join()

    assert responses["first"].status_code == 200, responses["first"].text
    assert responses["first"].json()["company"]["action"] == "created"
    second = responses["second"]
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "export_in_progress"
    assert 1 <= int(second.headers["retry-after"]) <= 5
    assert "Retry" in second.json()["error"]["details"]["hint"]
    assert len(_companies_named(env, "Samtidig Smed ApS")) == 1
    # Retrying as told finds the company the first export created.
    again = env.http.post(f"/leads/{lead['id']}/export", json={"lead": lead}, headers=env.auth(TENANT, "member"))
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    assert len(_companies_named(env, "Samtidig Smed ApS")) == 1


def _companies_named(connected: Env, name: str) -> list[dict[str, Any]]:
    with connected.sandbox.lock:
        return [c for c in connected.sandbox.customers[CTX].records["contact"].values() if c.get("Name") == name]
