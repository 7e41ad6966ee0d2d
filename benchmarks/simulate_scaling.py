"""One hour of scheduled sync for many connections, on paper: pure Python, no AWS (docs/scaling.md).

Models what a formula cannot: the dispatcher's due times (all on the quarter hour by default: `start_time` 00:00, no
jitter) and its claim rate, SQS → Lambda scaling (5 concurrent batches, +300 a minute, at most 1,000 or the account's
concurrency), per-run durations, the one-run-per-connection lease, and OAuth refreshes at run start. It reports the
peaks per second: concurrent workers, EventBridge PutEvents, DynamoDB WCU per partition, Secrets Manager writes.

    .venv/bin/python benchmarks/simulate_scaling.py            # the four scenarios of docs/scaling.md
    .venv/bin/python benchmarks/simulate_scaling.py --json     # the same, as JSON

Every input is a field of `Scenario`, with where its default comes from.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
from collections import deque
from dataclasses import asdict, dataclass, field, replace

CRMS = ("superoffice", "salesforce", "hubspot")


@dataclass(frozen=True)
class Scenario:
    name: str = "realistic, aligned"
    tenants: int = 10_000
    crms: int = 3  # connections = tenants x crms; connection i is tenant i // crms, CRM i % crms
    period_s: int = 900  # every_15_minutes
    horizon_s: int = 3600
    aligned: bool = True  # True: every connection due on the quarter hour (the default start_time 00:00)
    changes_per_run: int = 20  # changed records per connection per 15 minutes
    # A run: fixed part (measured 10-11 CRM calls and ~45 DynamoDB calls for an unchanged incremental run) plus the
    # changed records at the worker's measured rate (docs/benchmarks.md, sync: 141-161 records/s).
    fixed_run_s: float = 3.0
    records_per_s: float = 150.0
    # Dispatcher: every 60 s, one invocation (Timeout 60) claiming due connections one after another: a settings
    # GetItem and a conditional UpdateItem each (plus one SendMessageBatch per 10 jobs).
    dispatch_tick_s: int = 60
    dispatch_ms_per_connection: float = 10.0
    dispatch_budget_s: float = 55.0  # what an invocation spends before its 60 s timeout
    # SQS event source mapping (standard queue): starts with 5 concurrent batches, +300 a minute while messages wait.
    esm_initial: int = 5
    esm_ramp_per_s: float = 5.0
    concurrency_limit: int = 1000  # min(ESM maximum 1,000, account concurrency left for the worker)
    # Publishing and writes per run and per changed record (docs/scaling.md, "DynamoDB").
    events_per_put: int = 10
    run_wcu_connection_partition: float = 40.0  # RUN item saved ~15 times (~1.2 KB: 2 WCU), 8 checkpoints, lease
    run_wcu_tenant_partition: float = 3.0  # connection outcome (~1.8 KB) and the RUNID pointer
    run_wcu_due_index: float = 2.0  # the connection item again, in GSI1 (projection ALL)
    claim_wcu_due_index: float = 4.0  # a claim moves GSI1SK: delete + put of a ~1.8 KB item in GSI1
    claim_wcu_tenant_partition: float = 2.0  # the claim's conditional update of the connection item
    change_wcu_connection_partition: float = 1.0  # record state (< 1 KB)
    change_wcu_tenant_partition: float = 3.0  # sync log entry (~1.9 KB: 2 WCU) + its share of a feed chunk (~1 KB)
    # OAuth access-token lifetimes per CRM: SuperOffice 3,600 s, Salesforce none given (0: refreshed only after a
    # 401, not modelled), HubSpot 1,800 s. A run refreshes (PutSecretValue) when its token ends within
    # `refresh_margin_s` (TokenVault.refresh_margin, 300 s).
    token_lifetimes_s: tuple[int, ...] = (3600, 0, 1800)
    refresh_margin_s: int = 300

    @property
    def connections(self) -> int:
        return self.tenants * self.crms

    def run_seconds(self) -> float:
        return self.fixed_run_s + self.changes_per_run / self.records_per_s


@dataclass
class Report:
    scenario: str
    runs_started: int = 0
    runs_skipped_lease_held: int = 0
    peak_concurrent_workers: int = 0
    seconds_at_concurrency_limit: int = 0
    peak_queue_backlog: int = 0
    max_start_delay_s: float = 0.0  # due time to run start
    mean_start_delay_s: float = 0.0
    max_claims_per_dispatch: int = 0
    peak_putevents_requests_per_s: float = 0.0
    peak_putevents_entries_per_s: float = 0.0
    peak_table_wcu_per_s: float = 0.0
    peak_tenant_partition_wcu_per_s: float = 0.0  # one T#{tenant}: feed, log, connections of its 3 CRMs
    peak_connection_partition_wcu_per_s: float = 0.0  # one T#{tenant}#{crm}: states, runs, checkpoints
    peak_due_index_wcu_per_s: float = 0.0  # GSI1 partition "DUE": every connection's due entry
    peak_secret_writes_per_s: int = 0  # PutSecretValue (token refreshes)
    peak_secret_reads_per_s: int = 0  # GetSecretValue, counting every run start as a cache miss
    extra: dict[str, float] = field(default_factory=dict)


class _Rates:
    """Per-second totals; a run's quantity is spread evenly over the seconds it runs."""

    def __init__(self, horizon: int) -> None:
        self.size = horizon + 1
        self.values = [0.0] * self.size

    def spread(self, start: int, seconds: int, total: float) -> None:
        if total == 0:
            return
        per_second = total / seconds
        for t in range(start, min(start + seconds, self.size)):
            self.values[t] += per_second

    def add(self, t: int, amount: float) -> None:
        if t < self.size:
            self.values[t] += amount

    def peak(self) -> float:
        return max(self.values)


def _due_times(s: Scenario) -> list[tuple[float, int]]:
    """(due time, connection) for every run in the horizon, oldest first (the dispatcher's GSI1 order)."""
    out = []
    for c in range(s.connections):
        # Spread: offsets evenly over the period, a tenant's CRMs apart; aligned: all on the quarter hour.
        offset = 0.0 if s.aligned else (c * s.period_s / s.connections)
        due = offset
        while due < s.horizon_s:
            out.append((due, c))
            due += s.period_s
    out.sort()
    return out


def simulate(s: Scenario) -> Report:
    horizon = s.horizon_s
    report = Report(scenario=s.name)
    run_s = max(1, math.ceil(s.run_seconds()))
    puts_per_run = math.ceil(s.changes_per_run / s.events_per_put) + 1  # + SyncRunFinished
    entries_per_run = s.changes_per_run + 1
    table = _Rates(horizon)
    putevents = _Rates(horizon)
    entries = _Rates(horizon)
    due_index = _Rates(horizon)
    tenant_partitions: dict[int, _Rates] = {}
    connection_partitions: dict[int, _Rates] = {}
    secret_writes = [0] * (horizon + 1)
    secret_reads = [0] * (horizon + 1)

    def partition(store: dict[int, _Rates], key: int) -> _Rates:
        if key not in store:
            store[key] = _Rates(horizon)
        return store[key]

    due = deque(_due_times(s))
    queue: deque[tuple[float, float, int]] = deque()  # (enqueued at, due, connection)
    running: list[int] = []  # end times (heap)
    busy_until = [0] * s.connections  # the connection's run lease
    token_until = [0] * s.connections  # a first run reads a fresh token (connect time)
    per_dispatch = (
        max(1, int(s.dispatch_budget_s * 1000 / s.dispatch_ms_per_connection)) if s.dispatch_ms_per_connection else None
    )
    capacity = float(s.esm_initial)
    delays: list[float] = []
    for t in range(horizon + 1):
        if t % s.dispatch_tick_s == 0:
            claimed = 0
            while due and due[0][0] <= t and (per_dispatch is None or claimed < per_dispatch):
                when, c = due.popleft()
                enqueued = t + claimed * s.dispatch_ms_per_connection / 1000
                queue.append((enqueued, when, c))
                claimed += 1
                due_index.add(int(enqueued), s.claim_wcu_due_index)
                partition(tenant_partitions, c // s.crms).add(int(enqueued), s.claim_wcu_tenant_partition)
                table.add(int(enqueued), s.claim_wcu_due_index + s.claim_wcu_tenant_partition)
            report.max_claims_per_dispatch = max(report.max_claims_per_dispatch, claimed)
        while running and running[0] <= t:
            heapq.heappop(running)
        limit = min(s.concurrency_limit, int(capacity))
        while queue and queue[0][0] < t + 1 and len(running) < limit:
            _, when, c = queue.popleft()
            if busy_until[c] > t:  # the previous run still holds the lease: this job ends at once
                report.runs_skipped_lease_held += 1
                continue
            report.runs_started += 1
            delays.append(t - when)
            end = t + run_s
            busy_until[c] = end
            heapq.heappush(running, end)
            secret_reads[t] += 1
            lifetime = s.token_lifetimes_s[c % s.crms % len(s.token_lifetimes_s)]
            if lifetime and token_until[c] - s.refresh_margin_s <= t:
                if token_until[c]:
                    secret_writes[t] += 1
                    secret_reads[t] += 1  # read again under the refresh lease
                token_until[c] = t + lifetime
            conn_wcu = s.run_wcu_connection_partition + s.changes_per_run * s.change_wcu_connection_partition
            tenant_wcu = s.run_wcu_tenant_partition + s.changes_per_run * s.change_wcu_tenant_partition
            partition(connection_partitions, c).spread(t, run_s, conn_wcu)
            partition(tenant_partitions, c // s.crms).spread(t, run_s, tenant_wcu)
            due_index.spread(t, run_s, s.run_wcu_due_index)
            table.spread(t, run_s, conn_wcu + tenant_wcu + s.run_wcu_due_index)
            putevents.spread(t, run_s, puts_per_run)
            entries.spread(t, run_s, entries_per_run)
        backlog = len(queue)
        report.peak_queue_backlog = max(report.peak_queue_backlog, backlog)
        report.peak_concurrent_workers = max(report.peak_concurrent_workers, len(running))
        if len(running) >= s.concurrency_limit:
            report.seconds_at_concurrency_limit += 1
        # The event source mapping adds pollers while messages wait and gives them up as gradually when none do.
        step = s.esm_ramp_per_s if backlog else -s.esm_ramp_per_s
        capacity = min(float(s.concurrency_limit), max(float(s.esm_initial), capacity + step))
    report.max_start_delay_s = max(delays, default=0.0)
    report.mean_start_delay_s = round(sum(delays) / len(delays), 1) if delays else 0.0
    report.peak_putevents_requests_per_s = round(putevents.peak(), 1)
    report.peak_putevents_entries_per_s = round(entries.peak(), 1)
    report.peak_table_wcu_per_s = round(table.peak(), 1)
    report.peak_tenant_partition_wcu_per_s = round(max((p.peak() for p in tenant_partitions.values()), default=0), 1)
    report.peak_connection_partition_wcu_per_s = round(
        max((p.peak() for p in connection_partitions.values()), default=0), 1
    )
    report.peak_due_index_wcu_per_s = round(due_index.peak(), 1)
    report.peak_secret_writes_per_s = max(secret_writes)
    report.peak_secret_reads_per_s = max(secret_reads)
    report.extra = {"run_seconds": round(s.run_seconds(), 2), "connections": s.connections}
    return report


SCENARIOS = (
    Scenario(),
    Scenario(name="realistic, spread", aligned=False),
    Scenario(name="heavy, aligned", changes_per_run=500),
    Scenario(name="heavy, spread", changes_per_run=500, aligned=False),
    Scenario(name="realistic, aligned, dispatcher 10x faster", dispatch_ms_per_connection=1.0),
)

ROWS = (
    ("run time (s)", lambda r: r.extra["run_seconds"]),
    ("runs started / skipped (lease held)", lambda r: f"{r.runs_started:,} / {r.runs_skipped_lease_held:,}"),
    ("most claims by one dispatcher invocation", lambda r: f"{r.max_claims_per_dispatch:,}"),
    ("peak queue backlog", lambda r: f"{r.peak_queue_backlog:,}"),
    ("start delay after due: mean / max (s)", lambda r: f"{r.mean_start_delay_s} / {r.max_start_delay_s:.0f}"),
    ("peak concurrent workers", lambda r: f"{r.peak_concurrent_workers:,}"),
    ("seconds at the concurrency limit", lambda r: f"{r.seconds_at_concurrency_limit:,}"),
    (
        "peak PutEvents requests/s (entries/s)",
        lambda r: f"{r.peak_putevents_requests_per_s:,} ({r.peak_putevents_entries_per_s:,})",
    ),
    ("peak table WCU/s", lambda r: f"{r.peak_table_wcu_per_s:,}"),
    ("peak WCU/s in one T#{tenant}", lambda r: f"{r.peak_tenant_partition_wcu_per_s:,}"),
    ("peak WCU/s in one T#{tenant}#{crm}", lambda r: f"{r.peak_connection_partition_wcu_per_s:,}"),
    ("peak WCU/s in GSI1 partition DUE", lambda r: f"{r.peak_due_index_wcu_per_s:,}"),
    (
        "peak PutSecretValue/s (GetSecretValue/s)",
        lambda r: f"{r.peak_secret_writes_per_s} ({r.peak_secret_reads_per_s})",
    ),
)


def markdown(reports: list[Report]) -> str:
    lines = ["| | " + " | ".join(r.scenario for r in reports) + " |", "|---" * (len(reports) + 1) + "|"]
    for label, value in ROWS:
        lines.append(f"| {label} | " + " | ".join(str(value(r)) for r in reports) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument("--tenants", type=int, help="tenants (default 10,000)")
    parser.add_argument("--limit", type=int, help="worker concurrency limit (default 1,000)")
    args = parser.parse_args(argv)
    changes = {k: v for k, v in (("tenants", args.tenants), ("concurrency_limit", args.limit)) if v is not None}
    reports = [simulate(replace(s, **changes)) for s in SCENARIOS]
    if args.json:
        print(json.dumps([asdict(r) for r in reports], indent=1))
    else:
        print(markdown(reports))


if __name__ == "__main__":
    main()
