"""Single-lead export through the local gateway against the Salesforce sandbox: CRM round trips, writes, latency,
beside SuperOffice's numbers from the `export` section.

A lead with the default Account mapping filled (standard fields, the custom `Lead_Score__c`) and 3 contact persons is
exported through `POST /leads/{id}/export` (LocalStack from `local/stack.py`: moto, the gateway with JWTs,
ExportFunction in-process) to an org of the Salesforce sandbox. Round trips and writes are counted by the sandbox
(every REST request it received), not by leadbridge. Latency is measured by the HTTP client around the whole request,
with 0 ms and 50 ms added to every Salesforce API request (the sandbox's `latency` fault).
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.salesforce_stack import ConnectedSalesforce

ADMIN = "admin@sf-bench.test"
TENANT = "bench-sf"
WRITES = ("POST", "PATCH", "DELETE")
RUNS = {0.0: 15, 0.05: 8}  # added latency (s) → measured exports (each: a first export and its unchanged re-export)
WARMUP = 2
# A new lead with 3 persons: 1 SOQL match query, 1 Account POST, 1 sObject Collections POST with the 3 Contacts.
MINIMUM_FIRST = 3
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def lead(n: int) -> dict[str, Any]:
    return {
        "id": f"SFB-{n}",
        "stage": "Lead",
        "companyName": f"Benchmark Bolt {n} ApS",
        "website": f"https://bolt{n}.bench.dk",
        "cvr": str(30000000 + n),
        "phone": "33 12 34 56",
        "street": "Vestergade 1",
        "postalCode": "1050",
        "city": "København K",
        "location": "København, Danmark",
        "score": 80,
        "employees": 42,
        "revenue": "12345678.5",
        "description": "Lorem ipsum dolor sit amet. " * 5,
        "reasonForFit": "Growing fast.",
        "contacts": [
            {"id": f"c{i}", "name": f"Person {i} Benchmark", "title": "CEO", "email": f"p{i}@bolt{n}.bench.dk",
             "phone": "22 30 40 5" + str(i)}
            for i in range(3)
        ],
    }  # fmt: skip


class Bench(ConnectedSalesforce):
    def __init__(self) -> None:
        super().__init__(tenant=TENANT, admin=ADMIN, org_name="Bench Org", run_pump=False, timeout=60)

    def export(self, body: dict[str, Any]) -> tuple[float, dict[str, Any], dict[str, int]]:
        """(seconds, response body, requests by operation) of one export, as the sandbox counted them."""
        before = dict(self.sb.call_counts(self.org))
        headers = self.auth()
        start = time.perf_counter()
        response = self.http.post(f"/leads/{body['id']}/export", json={"lead": body}, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.text
        after = self.sb.call_counts(self.org)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        return elapsed, response.json(), delta



def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _writes(ops: dict[str, int]) -> int:
    return sum(n for k, n in ops.items() if k.split(" ", 1)[0] in WRITES)


def superoffice_first_export() -> str:
    """SuperOffice's first-export round trips as the `export` section last recorded them (not re-measured here)."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    section = re.search(r"<!-- bench:export -->(.*?)<!-- /bench:export -->", text, re.DOTALL)
    row = re.search(r"^\| first export \| (\d+)[^|]*\| (\d+) \|", section.group(1), re.MULTILINE) if section else None
    return f"{row.group(1)} (minimum {row.group(2)})" if row else "not recorded (run `benchmarks/run.py export`)"


def run() -> str:
    bench = Bench()
    try:
        return _measure(bench)
    finally:
        bench.close()


def _measure(bench: Bench) -> str:
    n = 0

    def next_lead() -> dict[str, Any]:
        nonlocal n
        n += 1
        return lead(n)

    for _ in range(WARMUP):  # imports, the first token read, the describes into the container's metadata cache
        body = next_lead()
        bench.export(body)
        bench.export(body)

    rows: list[str] = []
    first_trips: list[int] = []
    first_writes: list[int] = []
    again_trips: list[int] = []
    last_ops: dict[str, int] = {}
    for latency, runs in RUNS.items():
        if latency:
            bench.sb.inject_fault("latency", seconds=latency, count=None, org_id=bench.org)
        first_times: list[float] = []
        again_times: list[float] = []
        for _ in range(runs):
            body = next_lead()
            elapsed, result, ops = bench.export(body)
            assert result["company"]["action"] == "created" and len(result["persons"]) == 3, result
            first_times.append(elapsed)
            first_trips.append(sum(ops.values()))
            first_writes.append(_writes(ops))
            last_ops = ops
            elapsed, result, ops = bench.export(body)
            assert result["status"] == "unchanged", result
            again_times.append(elapsed)
            again_trips.append(sum(ops.values()))
        bench.sb.clear_faults()
        trips = statistics.median(first_trips[-runs:])
        measured = (("first export", first_times, trips), ("unchanged re-export", again_times, 0))
        for label, times, round_trips in measured:
            p50, p95 = _pct(times, 0.5) * 1000, _pct(times, 0.95) * 1000
            overhead = p50 - round_trips * latency * 1000
            rows.append(f"| {label} | {latency * 1000:.0f} ms | {len(times)} | {round_trips:g} | {p50:.1f} ms "
                        f"| {p95:.1f} ms | {overhead:.1f} ms |")  # fmt: skip

    trips_first = statistics.median(first_trips)
    ops_table = "\n".join(f"| `{op}` | {count} |" for op, count in sorted(last_ops.items()))
    table = "\n".join(rows)
    return f"""
A lead with the default Salesforce Account mapping filled (standard fields and the custom `Lead_Score__c`) and 3
contact persons, exported through the local gateway (`POST /leads/{{id}}/export`, JWT, ExportFunction) to the
Salesforce sandbox; a new lead each run (no match in the org), then the same lead again unchanged. The container is
warm ({WARMUP} exports before the measured ones): the grant and the Account/Contact describes are cached in it.

### CRM round trips and writes (counted by the sandbox), beside SuperOffice

| export | Salesforce round trips (median) | Salesforce minimum | Salesforce writes | SuperOffice round trips \
(`export` section) |
|---|---|---|---|---|
| first export | {trips_first:g} {"✅" if trips_first <= MINIMUM_FIRST else "❌"} | {MINIMUM_FIRST} | \
{statistics.median(first_writes):g} (1 Account POST, 1 Collections POST of 3 Contacts) | {superoffice_first_export()} |
| unchanged re-export | {max(again_trips)} (max of {len(again_trips)}) | 0 | 0 | 0 |

Requests of the last first export, by operation:

| operation | requests |
|---|---|
{ops_table}

Why {MINIMUM_FIRST}: the lead is looked for before anything is created (1 SOQL query ORing `AccountNumber`, `Name
LIKE` and `Website LIKE`), then the Account is created (1 `POST sobjects/Account`: its id is needed by the persons)
and the persons under it in one sObject Collections request (1 `POST composite/sobjects`, up to 200 records: the
export uses `create_many` for the persons of a company it just created wherever the connector offers it). Field
metadata costs nothing on a warm container (describes cached for 5 minutes, dropped when Salesforce refuses a
write). SuperOffice has no batch create, so there each person is one `POST /Person`.

### Latency (client-measured, whole request)

| export | added latency per CRM request | runs | round trips | p50 | p95 | overhead (p50 - round trips x latency) |
|---|---|---|---|---|---|---|
{table}
"""
