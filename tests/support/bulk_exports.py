"""A bulk export as a lead app runs it through the gateway: `POST /exports`, then `GET /sync-runs/{id}` until the run
ends; and the run's own sync-log entries."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.waiting import wait_until


def run_bulk_export(http: httpx.Client, headers: dict[str, str], leads: list[dict[str, Any]]) -> dict[str, Any]:
    """The run as it ended (`succeeded` or `failed`)."""
    accepted = http.post("/exports", json={"leads": leads}, headers=headers)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["id"]

    def run() -> dict[str, Any]:
        return dict(http.get(f"/sync-runs/{run_id}", headers=headers).json())

    wait_until(lambda: run()["state"] in ("succeeded", "failed"), what="the bulk export to finish")
    return run()


def run_log(http: httpx.Client, headers: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    """The sync-log entries of the run (the newest 200 of the tenant)."""
    response = http.get("/sync-log", params={"limit": "200"}, headers=headers)
    return [e for e in response.json()["items"] if e.get("run_id") == run_id]
