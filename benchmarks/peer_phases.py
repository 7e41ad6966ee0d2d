"""Where the sync worker's CPU goes, per record: one run of the peer benchmark's leadbridge side (Accounts + their
Contacts, AWS batch calls answered in-process, as `BENCH_PEER_AWS=instant`), in this process, with the CPU time of
each thread (`time.thread_time`, so waiting, and time the OS gives to moto or the sandbox, is not counted) summed by
phase: the main thread's kernel steps, and each piece of work the worker's thread pools ran.

    .venv/bin/python benchmarks/peer_phases.py            # BENCH_PEER_ACCOUNTS (10,000)

Not part of `make bench` (one run, no tap): docs/benchmarks.md quotes what it printed and says when. The sandbox
serves its pages from a thread of this process, so the process's total CPU includes it; the phases do not.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(ROOT / "layers" / "common")):
    sys.path.insert(0, path)

_spent: defaultdict[str, float] = defaultdict(float)
_calls: Counter[str] = Counter()
_lock = threading.Lock()


def _add(label: str, started: float) -> None:
    spent = time.thread_time() - started
    with _lock:
        _spent[label] += spent
        _calls[label] += 1


def _timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(label, started)

    return timed


def _time_pool_work() -> None:
    """Every piece of work a thread pool runs, by the name of what it runs (for `each`/`together`, the call inside)."""
    import concurrent.futures.thread as pool_threads

    run = pool_threads._WorkItem.run

    def timed_run(self: Any) -> None:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        if "lambda" in name and self.args:
            name = getattr(self.args[0], "__qualname__", name)
        started = time.thread_time()
        try:
            run(self)
        finally:
            _add(f"pool: {name}", started)

    pool_threads._WorkItem.run = timed_run  # type: ignore[method-assign]


def _time_kernel() -> None:
    from leadbridge.crm.salesforce import connector
    from leadbridge.inbound import kernel, run_scope
    from leadbridge.store import log, records

    kernel._decide = _timed("main: kernel._decide (per record: map, hash, change, log entry, state)", kernel._decide)
    kernel._report = _timed("main: kernel._report (hand the page's changes to the feed and bus)", kernel._report)
    run_scope.apply_records = _timed("main: apply_records (a slice, all of it)", kernel.apply_records)
    log.DynamoSyncLog.write_many = _timed("main: sync log write_many", log.DynamoSyncLog.write_many)
    records.DynamoRecordStates.save_many = _timed("main: record states save_many", records.DynamoRecordStates.save_many)
    connector.SalesforceConnector.changes_since = _timed(
        "any: Salesforce changes_since (read and decode a page)", connector.SalesforceConnector.changes_since
    )


def main() -> None:
    from benchmarks import bench_peer

    accounts = int(os.environ.get("BENCH_PEER_ACCOUNTS", "10000"))
    bench = bench_peer.Bench(accounts, bench_peer.CASES["contacts"])
    try:
        bench.set_latency(0)
        bench._forget_locators()
        args = {
            "env": bench.fresh_aws(),  # the worker puts no change on the bus (the relay does): no events setting
            "access_token": bench.tokens["access_token"],
            "client_id": bench.app.client_id,
            "login_base": bench.sb.login_base,
            "instance_url": bench.sb.instance_url,
            "org_id": bench.org,
            "sobjects": list(bench.sobjects),
            "run": "phases",
            "profile": False,
            "aws_latency_ms": 0,
            "aws_instant": True,
            "sent_file": str(bench.workdir / "unused.pickle"),
        }
        os.environ.update(args["env"])
        from leadbridge import collector

        collector.settle()  # as the worker function's init does in Lambda
        _time_pool_work()
        _time_kernel()
        results: queue.Queue[dict[str, Any]] = queue.Queue()
        bench_peer._leadbridge(args, results)
        outcome = results.get()
    finally:
        bench.close()
    records = outcome["records"]
    print(f"{records:,} records in {outcome['seconds']:.2f} s; process CPU {outcome['cpu_seconds']:.2f} s "
          f"({1e6 * outcome['cpu_seconds'] / records:.0f} us per record, the sandbox's thread included)")  # fmt: skip
    for label, spent in sorted(_spent.items(), key=lambda kv: -kv[1]):
        print(f"{spent:7.2f} s  {1e6 * spent / records:6.1f} us/record  {_calls[label]:6d} calls  {label}")


if __name__ == "__main__":
    main()
