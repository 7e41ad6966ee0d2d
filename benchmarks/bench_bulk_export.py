"""Bulk export (`POST /exports`) against the same leads exported one by one (`POST /leads/{id}/export`), Salesforce.

Both go through the local stack (moto, the gateway with JWTs, ExportFunction; for the bulk export ExportQueue pumped
to BulkExportFunction in-process) to an org of the Salesforce sandbox. Each round exports `BENCH_BULK_LEADS` new
leads in bulk and as many other new leads singly, interleaved (the order alternates per round), so both see the same
machine. Leads/s is wall time from the first request to the last lead done (bulk: from `POST /exports` until
`GET /sync-runs/{id}` says `succeeded`, polled every 0.2 s); CRM round trips are counted by the sandbox.

    BENCH_BULK_LEADS=200 BENCH_BULK_ROUNDS=2 python benchmarks/run.py bulk_export    # defaults: 1000 leads, 2 rounds
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from benchmarks.salesforce_stack import ConnectedSalesforce

ADMIN = "admin@bulk-bench.test"
TENANT = "bench-bulk"


def lead(n: int) -> dict[str, Any]:
    """A new company with standard fields, the custom score and 1 contact person (no match in the org)."""
    return {
        "id": f"BB-{n}",
        "stage": "Lead",
        "companyName": f"Bulk Bench {n} ApS",
        "website": f"https://bulk{n}.bench.dk",
        "cvr": str(40000000 + n),
        "phone": "33 12 34 56",
        "city": "København K",
        "score": 80,
        "reasonForFit": "Growing fast.",
        "contacts": [{"id": "c0", "name": f"Person {n} Benchmark", "title": "CEO", "email": f"p@bulk{n}.bench.dk"}],
    }


class Bench(ConnectedSalesforce):
    def __init__(self) -> None:
        # The pump runs ExportQueue to BulkExportFunction in-process.
        super().__init__(tenant=TENANT, admin=ADMIN, org_name="Bulk Bench Org", run_pump=True, timeout=120)

    def calls(self) -> int:
        return sum(self.sb.call_counts(self.org).values())

    def single(self, leads: list[dict[str, Any]]) -> tuple[float, int]:
        before, start = self.calls(), time.perf_counter()
        for body in leads:
            response = self.http.post(f"/leads/{body['id']}/export", json={"lead": body}, headers=self.auth())
            assert response.status_code == 200 and response.json()["company"]["action"] == "created", response.text
        return time.perf_counter() - start, self.calls() - before

    def bulk(self, leads: list[dict[str, Any]]) -> tuple[float, int, dict[str, Any]]:
        before, start = self.calls(), time.perf_counter()
        accepted = self.http.post("/exports", json={"leads": leads}, headers=self.auth())
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["id"]
        while True:
            run = self.http.get(f"/sync-runs/{run_id}", headers=self.auth()).json()
            if run["state"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)  # a benchmark's poll; the 0.2 s granularity is in the bulk time
        elapsed = time.perf_counter() - start
        assert run["state"] == "succeeded" and run["export"]["totals"]["created"] == len(leads), run
        return elapsed, self.calls() - before, run



def run() -> str:
    size = int(os.environ.get("BENCH_BULK_LEADS", "1000"))
    rounds = int(os.environ.get("BENCH_BULK_ROUNDS", "2"))
    bench = Bench()
    try:
        return _measure(bench, size, rounds)
    finally:
        bench.close()


def _measure(bench: Bench, size: int, rounds: int) -> str:
    counter = iter(range(1, 10**9))

    def batch(n: int) -> list[dict[str, Any]]:
        return [lead(next(counter)) for _ in range(n)]

    bench.single(batch(3))  # warm: imports, the grant, the describes in the container's metadata cache
    bench.bulk(batch(3))
    rows: list[str] = []
    bulk_rates: list[float] = []
    single_rates: list[float] = []
    bulk_trips: list[float] = []
    single_trips: list[float] = []
    slices: list[int] = []
    for r in range(rounds):
        order = ("bulk", "single") if r % 2 == 0 else ("single", "bulk")
        for kind in order:
            leads = batch(size)
            if kind == "bulk":
                seconds, trips, finished = bench.bulk(leads)
                bulk_rates.append(size / seconds)
                bulk_trips.append(trips / size)
                slices.append(finished["export"]["slices"])
            else:
                seconds, trips = bench.single(leads)
                single_rates.append(size / seconds)
                single_trips.append(trips / size)
            rows.append(f"| {r + 1} | {kind} | {size} | {seconds:.1f} s | {size / seconds:.1f} | {trips / size:.2f} |")
    ratio = statistics.median(bulk_rates) / statistics.median(single_rates)
    trips_ratio = statistics.median(bulk_trips) / statistics.median(single_trips)
    table = "\n".join(rows)
    return f"""
{size} new leads (standard fields, the custom `Lead_Score__c`, 1 contact person each, no match in the org) exported to
the Salesforce sandbox in bulk (`POST /exports`, one run, slices of 200 leads per BulkExportFunction invocation:
{statistics.median(slices):g} slices) and, interleaved, {size} other new leads one by one (`POST /leads/{{id}}/export`,
sequential requests through the gateway), {rounds} rounds, order alternating. Set the size with `BENCH_BULK_LEADS`
and the rounds with `BENCH_BULK_ROUNDS`. No added CRM latency: the sandbox answers on loopback.

| round | how | leads | wall time | leads/s | CRM round trips per lead |
|---|---|---|---|---|---|
{table}

| median | bulk | single | bulk / single |
|---|---|---|---|
| leads/s | {statistics.median(bulk_rates):.1f} | {statistics.median(single_rates):.1f} | {ratio:.2f} |
| CRM round trips per lead | {statistics.median(bulk_trips):.2f} | {statistics.median(single_trips):.2f} | \
{trips_ratio:.2f} |

Each lead in a bulk export is the single export (match query, Account create, Contact create), so the round trips per
lead are the same; the bulk export saves the HTTP request, the JWT check and the handler per lead, and runs in the
background (the app gets its 202 at once). Batching the Account creates of a slice into sObject Collections
(`composite/sobjects`, 200 records) would take a slice's creates from 200 requests to 1 (about 1 round trip per lead
less): not built yet, the named next step (docs/export.md, "Bulk export").
"""
