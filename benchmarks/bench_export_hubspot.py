"""Single-lead and bulk export through the local gateway against the HubSpot sandbox: CRM round trips by operation,
writes, latency and leads/s, beside Salesforce's and SuperOffice's numbers from the `export_salesforce`, `export` and
`bulk_export` sections (cited from docs/benchmarks.md, not re-measured here).

Single exports: a lead with the default HubSpot company mapping filled (name, domain, phone, address, city, country,
employees) and 2 contact persons is exported through `POST /leads/{id}/export` (LocalStack from `local/stack.py`:
moto, the gateway with JWTs, ExportFunction in-process) to a portal of the HubSpot sandbox, connected through the real
OAuth flow. Each measured lead is exported three times: first (new to the portal), then unchanged, then with its phone
and one person's title changed. Round trips are counted by the sandbox (every CRM request it received, by operation);
leadbridge's own count (`crm_calls` in the export's answer) is shown beside them. The properties and association
labels are read once per container (cached), so they are reported apart. Latency is measured by the HTTP client
around the whole request, with 0 ms and 50 ms added to every HubSpot API request of the portal (the sandbox's
`latency` fault). Sizes: `BENCH_HS_EXPORT_LEADS` (measured leads at 0 ms, default 10; half as many at 50 ms).

Bulk export: `BENCH_HS_BULK_LEADS` new leads (default 100; 0 for none) in one `POST /exports`, followed until the run
succeeds, and as many other new leads exported one by one, `BENCH_HS_BULK_ROUNDS` rounds (default 1, order
alternating); then each side's leads again as they are a week later (phase `changed`: another phone, the first
contact's new title and one more contact). `BENCH_HS_BULK_LATENCY_MS` adds that much latency to every HubSpot request
of the portal during the bulk part (default 0). Every number is also kept in
`benchmarks/results/export_hubspot.json`.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import provenance
from benchmarks.bulk_tables import alternate_sides, bulk_against_single, median, phase_of, rate
from benchmarks.hubspot_stack import ConnectedHubSpot

ADMIN = "admin@hs-bench.test"
TENANT = "bench-hs"
LATENCY = 0.05
WARMUP = 2  # leads (each exported the three ways) before the measured ones; the first one is the cold container's
KINDS = ("first export", "unchanged re-export", "changed re-export")
WRITES = ("POST", "PATCH", "PUT", "DELETE")
# Issue 14: the match search, then the company and its contacts (with their associations inline): 2 writes.
EXPECTED_FIRST = {
    "POST /crm/v3/objects/companies/search": 1,
    "POST /crm/v3/objects/companies": 1,
    "POST /crm/v3/objects/contacts/batch/create": 1,
}
VARIABLES = ("BENCH_HS_EXPORT_LEADS", "BENCH_HS_BULK_LEADS", "BENCH_HS_BULK_ROUNDS", "BENCH_HS_BULK_LATENCY_MS")
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results" / "export_hubspot.json"


def lead(n: int, prefix: str = "HSB") -> dict[str, Any]:
    return {
        "id": f"{prefix}-{n}",
        "stage": "Lead",
        "companyName": f"Benchmark Fjord {prefix} {n:05d} ApS",  # no name a prefix of another (bulk)
        "website": f"https://fjord{n}.{prefix.lower()}.bench.dk",
        "phone": "33 12 34 56",
        "street": "Vestergade 1",
        "postalCode": "1050",
        "city": "København K",
        "location": "København, Danmark",
        "employees": 42,
        "contacts": [
            {"id": f"c{i}", "name": f"Person {i} Benchmark", "title": "CEO",
             "email": f"p{i}@fjord{n}.{prefix.lower()}.bench.dk", "phone": "22 30 40 5" + str(i)}
            for i in range(2)
        ],
    }  # fmt: skip


def changed(body: dict[str, Any]) -> dict[str, Any]:
    """The same lead with the company's phone and the first person's title changed in the app."""
    contacts = [dict(body["contacts"][0], title="CFO"), *body["contacts"][1:]]
    return dict(body, phone="33 99 99 99", contacts=contacts)


def a_week_later(body: dict[str, Any]) -> dict[str, Any]:
    """The bulk part's changed phase: another phone, the first contact's new title, and one more contact."""
    n = body["id"].rsplit("-", 1)[1]
    new = {"id": "c9", "name": f"Third {n} Benchmark", "title": "CTO", "email": f"cto@{body['website'][8:]}"}
    return dict(changed(body), contacts=[*changed(body)["contacts"], new])


def is_metadata(op: str) -> bool:
    """Properties and association labels: read once per container (the metadata cache), like Salesforce's describes."""
    return op.startswith("GET /crm/v3/properties/") or (op.startswith("GET /crm/v4/associations/")
                                                        and op.endswith("/labels"))  # fmt: skip


def is_refusal(op: str) -> bool:
    """`429 SECONDLY` / `429 TEN_SECONDLY_ROLLING`: the sandbox refused a request over HubSpot's rate limit."""
    return op.startswith("429 ")


def _refused(ops: Mapping[str, int]) -> int:
    return sum(n for k, n in ops.items() if is_refusal(k))


def is_write(op: str) -> bool:
    method, path = op.split(" ", 1)
    return method in WRITES and not path.endswith(("/search", "/batch/read"))


def short_name(op: str) -> str:
    """`POST /crm/v3/objects/companies/search` → companies search, `POST /crm/v3/objects/companies` → companies
    create, `PATCH /crm/v3/objects/contacts/{id}` → contacts PATCH, `…/contacts/batch/create` → contacts batch
    create."""
    method, path = op.split(" ", 1)
    parts = path.strip("/").split("/")
    if parts[:3] != ["crm", "v3", "objects"] or len(parts) < 4:
        return f"`{op}`"
    rest = parts[4:]
    if not rest:
        return f"{parts[3]} {'create' if method == 'POST' else method}"
    if rest == ["{id}"]:
        return f"{parts[3]} {method}"
    return f"{parts[3]} {' '.join(rest)}"


def _delta(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


class Bench(ConnectedHubSpot):
    def __init__(self) -> None:
        # The pump runs ExportQueue to BulkExportFunction in-process (the bulk export).
        super().__init__(tenant=TENANT, admin=ADMIN, portal_name="Bench Portal", run_pump=True, timeout=120)

    def export(self, body: dict[str, Any]) -> tuple[float, dict[str, Any], dict[str, int]]:
        """(seconds, response body, requests by operation) of one export, as the sandbox counted them."""
        before, headers = self.calls(), self.auth()
        start = time.perf_counter()
        response = self.http.post(f"/leads/{body['id']}/export", json={"lead": body}, headers=headers)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.text
        return elapsed, response.json(), _delta(self.calls(), before)

    def calls(self) -> dict[str, int]:
        """The portal's requests by operation, and the sandbox's 429s as `429 <policy>` (a refused request is also
        counted under its operation: it was a round trip)."""
        return {**self.sb.call_counts(self.hub), **{f"429 {p}": n for p, n in self.refused.items()}}

    def export_three_ways(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """First export, unchanged re-export, changed re-export of one new lead: seconds, ops, leadbridge's count."""
        measured = []
        for kind, sent, status in zip(KINDS, (body, body, changed(body)), ("exported", "unchanged", "exported"),
                                      strict=True):  # fmt: skip
            elapsed, result, ops = self.export(sent)
            assert result["status"] == status, result  # the benchmark measures what it says, or stops
            if kind == "first export":
                assert result["company"]["action"] == "created" and len(result["persons"]) == 2, result
            measured.append({"kind": kind, "seconds": elapsed, "ops": ops, "leadbridge_crm_calls": result["crm_calls"]})
        return measured

    def single(self, leads: list[dict[str, Any]], expect: str) -> tuple[float, dict[str, int]]:
        before, start = self.calls(), time.perf_counter()
        for body in leads:
            response = self.http.post(f"/leads/{body['id']}/export", json={"lead": body}, headers=self.auth())
            assert response.status_code == 200 and response.json()["company"]["action"] == expect, response.text
        return time.perf_counter() - start, _delta(self.calls(), before)

    def bulk(self, leads: list[dict[str, Any]], expect: str) -> tuple[float, dict[str, int], dict[str, Any]]:
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
        assert run["state"] == "succeeded" and run["export"]["totals"][expect] == len(leads), run
        return elapsed, _delta(self.calls(), before), run


def run() -> str:
    bench = Bench()
    try:
        result = _measure(bench)
    finally:
        bench.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return render(result)


def _command() -> str:
    settings = " ".join(f"{name}={os.environ[name]}" for name in VARIABLES if name in os.environ)
    return f"{settings} .venv/bin/python benchmarks/run.py export_hubspot".strip()


def _measure(bench: Bench) -> dict[str, Any]:
    singles = int(os.environ.get("BENCH_HS_EXPORT_LEADS", "10"))
    runs = {0.0: singles, LATENCY: max(1, singles // 2)}
    bulk_size = int(os.environ.get("BENCH_HS_BULK_LEADS", "100"))
    rounds = int(os.environ.get("BENCH_HS_BULK_ROUNDS", "1"))
    bulk_latency_ms = int(os.environ.get("BENCH_HS_BULK_LATENCY_MS", "0"))
    load_before, commit = provenance.load_average(), provenance.describe_commit()
    at_connect = bench.calls()
    warmup = [bench.export_three_ways(lead(n + 1)) for n in range(WARMUP)]
    measured: list[dict[str, Any]] = []
    n = WARMUP
    for latency, count in runs.items():
        if latency:
            bench.sb.faults.add("latency", seconds=latency, count=None, scope=str(bench.hub))
        for _ in range(count):
            n += 1
            measured += [dict(m, latency=latency) for m in bench.export_three_ways(lead(n))]
        bench.sb.clear_faults()
    metadata_total = {k: v for k, v in bench.calls().items() if is_metadata(k)}
    counter = iter(range(1, 10**9))
    if bulk_size and bulk_latency_ms:
        bench.sb.faults.add("latency", seconds=bulk_latency_ms / 1000, count=None, scope=str(bench.hub))

    def new_leads() -> list[dict[str, Any]]:
        return [lead(next(counter), "HSBULK") for _ in range(bulk_size)]

    sides = alternate_sides(rounds if bulk_size else 0, new_leads, a_week_later, bench.bulk, bench.single)
    bench.sb.clear_faults()
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": _command(),
        "commit": commit,
        "load_average_before": load_before,
        "load_average_after": provenance.load_average(),
        "persons_per_lead": 2,
        "runs": {str(k): v for k, v in runs.items()},
        "at_connect": at_connect,
        "cold_container": warmup[0],  # the container's first lead: its first export reads the metadata
        "warmup_leads": WARMUP,
        "metadata_total": metadata_total,
        "measured": measured,
        "bulk_latency_ms": bulk_latency_ms,
        "bulk": sides,
    }


# --- rendering ---------------------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _trips(ops: dict[str, int]) -> int:
    return sum(n for k, n in ops.items() if not is_metadata(k) and not is_refusal(k))


def _ops_by_kind(measured: list[dict[str, Any]], kind: str) -> tuple[list[str], dict[str, float], list[int]]:
    """The operations seen in `kind`'s exports (metadata apart), the median count of each, the totals."""
    runs = [{k: v for k, v in m["ops"].items() if not is_metadata(k) and not is_refusal(k)}
            for m in measured if m["kind"] == kind]  # fmt: skip
    names = sorted({op for ops in runs for op in ops})
    medians = {op: statistics.median(ops.get(op, 0) for ops in runs) for op in names}
    return names, medians, [sum(ops.values()) for ops in runs]


def _headline(medians: Mapping[str, float]) -> str:
    total = sum(medians.values())
    parts = " + ".join(f"{n:g} {short_name(op)}" for op, n in medians.items() if n)
    return f"{total:g} round trips: {parts}" if parts else "0 round trips"


def _section(name: str) -> str:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    found = re.search(rf"<!-- bench:{name} -->(.*?)<!-- /bench:{name} -->", text, re.DOTALL)
    return found.group(1) if found else ""


def _row(section: str, label: str) -> list[str] | None:
    """The cells after `label` of the first table row starting with it in `section`."""
    found = re.search(rf"^\| {re.escape(label)} \|(.*)\|\s*$", section, re.MULTILINE)
    return [c.strip() for c in found.group(1).split("|")] if found else None


def _cited(name: str, label: str, cell: int) -> str:
    row = _row(_section(name), label)
    return row[cell].replace("**", "") if row and len(row) > cell else f"not recorded (run `benchmarks/run.py {name}`)"


def _date(name: str) -> str:
    found = re.search(r"^- date: (.*)$", _section(name), re.MULTILINE)
    return found.group(1) if found else "?"


def render(result: dict[str, Any]) -> str:
    measured = result["measured"]
    rows = []
    for kind in KINDS:
        names, medians, totals = _ops_by_kind(measured, kind)
        of_kind = [m for m in measured if m["kind"] == kind]
        metadata = sum(n for m in of_kind for k, n in m["ops"].items() if is_metadata(k))
        writes = statistics.median(sum(n for k, n in m["ops"].items() if is_write(k)) for m in of_kind)
        ours = statistics.median(m["leadbridge_crm_calls"] for m in of_kind)
        by_op = ", ".join(f"`{op}` {medians[op]:g}" for op in names) or "none"
        refused = sum(_refused(m["ops"]) for m in of_kind)
        rows.append(f"| {kind} | **{_headline(medians)}** | {min(totals)}-{max(totals)} | {by_op} | {writes:g} | "
                    f"{metadata} | {refused} | {ours:g} |")  # fmt: skip
    _, first_medians, first_totals = _ops_by_kind(measured, "first export")
    as_expected = first_medians == EXPECTED_FIRST and min(first_totals) == max(first_totals)
    verdict = "✅ as issue 14 expects" if as_expected else f"❌ where issue 14 expects {_headline(EXPECTED_FIRST)}"
    cold_rows = "\n".join(
        f"| {m['kind']} | {', '.join(f'`{k}` {v}' for k, v in sorted(m['ops'].items())) or 'none'} |"
        for m in result["cold_container"]
    )
    metadata = ", ".join(f"`{k}` {v}" for k, v in sorted(result["metadata_total"].items())) or "none"
    connect = ", ".join(f"`{k}` {v}" for k, v in sorted(result["at_connect"].items())) or "none"
    latency_rows = []
    for latency in sorted({m["latency"] for m in measured}):
        for kind in KINDS:
            ms = [m for m in measured if m["kind"] == kind and m["latency"] == latency]
            times = [m["seconds"] for m in ms]
            trips = statistics.median(_trips(m["ops"]) for m in ms)
            p50, p95 = _pct(times, 0.5) * 1000, _pct(times, 0.95) * 1000
            latency_rows.append(f"| {kind} | {latency * 1000:.0f} ms | {len(times)} | {trips:g} | {p50:.1f} ms | "
                                f"{p95:.1f} ms | {p50 - trips * latency * 1000:.1f} ms |")  # fmt: skip
    per_latency = ", ".join(f"{n} at {float(lat) * 1000:.0f} ms" for lat, n in result["runs"].items())
    comparison = f"""| CRM | first export (2 or 3 persons) | unchanged re-export | changed re-export | measured |
|---|---|---|---|---|
| HubSpot (this section, 2 persons) | {_headline(first_medians)} | 0 round trips | \
{_headline(_ops_by_kind(measured, "changed re-export")[1])} | {result["measured_at"]} |
| Salesforce (`export_salesforce`, Account mode, 3 persons) | {_cited("export_salesforce", "first export", 0)} | \
{_cited("export_salesforce", "unchanged re-export", 0)} | {_cited("export_salesforce", "changed re-export", 0)} | \
{_date("export_salesforce")} |
| SuperOffice (`export`, 3 persons) | {_cited("export", "first export", 0)} round trips | \
{_cited("export", "unchanged re-export", 0)} round trips | not measured | {_date("export")} |"""
    return f"""
A lead with the default HubSpot company mapping filled (name, domain, phone, address, zip, city, country, employees)
and 2 contact persons, exported through the local gateway (`POST /leads/{{id}}/export`, JWT, ExportFunction
in-process) to a HubSpot sandbox portal connected through the real OAuth flow. Each lead is new to the portal (no
match) and is exported three times: first, then unchanged, then with its phone and its first person's title changed
in the app. Measured: {len(measured) // len(KINDS)} leads ({per_latency} added latency), after
{result["warmup_leads"]} warm-up leads: a short run on purpose (2 cores shared with other engineers' work). Round
trips are the requests the sandbox received (by operation), a request it refused with 429 over HubSpot's rate limit
included (the 429s are also counted apart); "leadbridge's count" is `crm_calls` in the export's answer. Load
average (1, 5, 15 min): {result["load_average_before"]} before, {result["load_average_after"]} after.

### CRM round trips per export, by kind (warm container; properties and association labels apart)

First export: **{_headline(first_medians)}** {verdict}.

| export | round trips (median) | min-max | by operation (median) | writes | metadata reads | 429s (all runs) \
| leadbridge's count |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Why 3 (2 writes): the lead is looked for before anything is created (1 company search, one filter group per
criterion, `IN` over the name and the bare domain; HubSpot has no standard org-number property, so the default
settings match on no CVR), then the company is created (`POST /crm/v3/objects/companies`) and its contacts with their
company associations inline in one `POST /crm/v3/objects/contacts/batch/create` (up to 100 a call). HubSpot has
nothing all-or-none, so the company and its contacts are 2 requests, not 1 as Salesforce's `composite`. A changed
re-export looks nothing up (the records are linked) and `PATCH`es each changed record; an unchanged one calls
nothing. The search has its own budget at HubSpot (5 a second per account), the writes count against the 110 per
10 s: the client paces both itself (`leadbridge/crm/hubspot/pacing.py`).

Beside the other CRMs (their numbers cited from their sections, not re-measured here):

{comparison}

### Metadata and the container's first export (reported apart)

The properties and the association type ids are cached in the container (5 minutes), so only the container's first
export reads them. Over the whole single-export part: {metadata}. At connect (before any export): {connect}. The
container's first lead:

| export | requests by operation (metadata included) |
|---|---|
{cold_rows}

### Latency (client-measured, whole request)

| export | added latency per CRM request | runs | round trips | p50 | p95 | overhead (p50 - round trips x latency) |
|---|---|---|---|---|---|---|
{chr(10).join(latency_rows)}
{_render_bulk(result["bulk"], int(result.get("bulk_latency_ms", 0)))}"""


def _render_bulk(sides: list[dict[str, Any]], latency_ms: int) -> str:
    if not sides:
        return "\nBulk export: not measured in this run (`BENCH_HS_BULK_LEADS=0`).\n"
    size, rounds = sides[0]["leads"], max(s["round"] for s in sides)

    def per_lead(s: dict[str, Any]) -> float:
        return _trips(s["ops"]) / int(s["leads"])

    def tables(phase: str) -> str:
        return bulk_against_single(sides, phase, per_lead=per_lead, apart="metadata",
                                   counted=lambda op: not is_metadata(op) and not is_refusal(op))  # fmt: skip

    rows = "\n".join(
        f"| {s['round']} | {s['how']} | {phase_of(s)} | {s['leads']} | {s['seconds']:.1f} s | {rate(s):.1f} | "
        f"{per_lead(s):.2f} | {_refused(s['ops'])} | {s['load_average_before'].split()[0]} → "
        f"{s['load_average_after'].split()[0]} |"
        for s in sides
    )
    slices = median(sides, "bulk", lambda s: s["slices"])
    latency = (f"Every HubSpot request of the portal answered {latency_ms} ms later (`BENCH_HS_BULK_LATENCY_MS`)."
               if latency_ms else "No added CRM latency (`BENCH_HS_BULK_LATENCY_MS` sets it).")  # fmt: skip
    return f"""
### Bulk export (`POST /exports`) against single exports

{size} new leads (2 contact persons each, no match in the portal) exported in bulk (one run, BulkExportFunction
through the export queue: {slices:g} slice(s) of up to 200 leads) and, interleaved, {size} other new leads one by one
(sequential `POST /leads/{{id}}/export`), {rounds} round(s), order alternating. Then each side exports its leads again
as they are a week later (phase `changed`: another phone, the first contact's new title and one more contact), the
same way. Leads/s is wall time from the first request until the last lead is done (bulk: until
`GET /sync-runs/{{id}}` says `succeeded`, polled every 0.2 s). {latency}

| round | how | phase | leads | wall time | leads/s | CRM round trips per lead | 429s | load (1 min) before → after |
|---|---|---|---|---|---|---|---|---|
{rows}

New leads:

{tables("new")}

Changed leads:

{tables("changed") if any(phase_of(s) == "changed" for s in sides) else "not measured in this run."}

Salesforce's bulk export for comparison (`bulk_export` section, {_date("bulk_export")}, 1 person per lead, not
re-measured here): {_cited("bulk_export", "CRM round trips per lead", 0)} round trips per lead in bulk,
{_cited("bulk_export", "CRM round trips per lead", 1)} singly; {_cited("bulk_export", "leads/s", 0)} leads/s in bulk,
{_cited("bulk_export", "leads/s", 1)} singly.

In bulk each window of 25 leads is searched in one request per criterion (`IN` over all their names and domains),
its matched companies and their contacts are read with a few batch reads, and its writes go in one batch call per
object and kind: every lead's company (`companies/batch/create`, `batch/update`), then every lead's contacts
(`contacts/batch/create` with the associations inline, `batch/update`), each input traced to its lead by
`objectWriteTraceId` (HubSpot has no transactions: a lead refused in part keeps what was written, as its single
export would; docs/export.md). A single export makes the search, then the company and its contacts per lead (2
writes for a new lead; a PATCH per changed record, and for a new contact of a linked company the company's contacts
read first). HubSpot's own limit, 110 requests per 10 s per account outside search, is what paces single exports
once they are fast enough to reach it (about 5.5 new leads a second at 2 writes each; the client waits rather than
draws 429s, `pacing.py`); in bulk a window's few requests serve 25 leads.

The leads' company names are numbered with leading zeros, so none is a prefix of another's: a lead whose company
another lead of its window might create (the same org number or domain, or a name one's prefix search finds from the
other's) waits and is exported on its own after the batch (docs/export.md). Leads/s is the local stack's: moto's
DynamoDB Query reads the whole table for each query, so a side gets slower as the links and log entries of the sides
before it pile up (the second round's bulk `changed` side most).
"""
