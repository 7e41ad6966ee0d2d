"""The scaling simulation's arithmetic on scenarios small enough to work out by hand (docs/scaling.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("simulate_scaling", ROOT / "benchmarks" / "simulate_scaling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


sim = _load()

# 2 tenants x 3 CRMs, one period, everything due at 0, queued at once, room for all: 6 runs of 3 s from t=0.
TINY = sim.Scenario(
    name="tiny",
    tenants=2,
    period_s=900,
    horizon_s=900,
    changes_per_run=10,
    fixed_run_s=2.0,
    records_per_s=10.0,  # 2 s + 10 / 10 = 3 s
    dispatch_ms_per_connection=0.0,
    esm_initial=10,
    token_lifetimes_s=(0,),
)


def test_a_tiny_aligned_scenario_adds_up() -> None:
    r = sim.simulate(TINY)

    assert r.runs_started == 6 and r.runs_skipped_lease_held == 0
    assert r.peak_concurrent_workers == 6 and r.max_start_delay_s == 0
    # Each run: ceil(10 / 10) + 1 = 2 PutEvents and 11 entries over 3 s; 6 runs side by side.
    assert r.peak_putevents_requests_per_s == 4.0
    assert r.peak_putevents_entries_per_s == 22.0
    # T#{tenant}: 3 runs x (3 + 10 x 3) WCU / 3 s = 33, plus 3 claims x 2 WCU in the first second.
    assert r.peak_tenant_partition_wcu_per_s == 39.0
    # T#{tenant}#{crm}: (40 + 10 x 1) / 3 s.
    assert r.peak_connection_partition_wcu_per_s == round(50 / 3, 1)
    # GSI1 "DUE": 6 claims x 4 WCU, plus 6 runs x 2 WCU / 3 s, in the first second.
    assert r.peak_due_index_wcu_per_s == 28.0
    assert r.peak_secret_writes_per_s == 0 and r.peak_secret_reads_per_s == 6


def test_the_queue_consumer_ramps_up_and_the_dispatcher_claims_at_its_rate() -> None:
    # Room for 5 at first, +5 a second while jobs wait: the sixth run starts a second later.
    ramped = sim.simulate(sim.Scenario(**{**TINY.__dict__, "esm_initial": 5}))
    assert ramped.peak_concurrent_workers == 6 and ramped.max_start_delay_s == 1

    # 1 s per claim and 3 s of dispatcher time per minute: claims at 0, 1, 2 s, then at 60, 61, 62 s.
    slow = sim.simulate(
        sim.Scenario(**{**TINY.__dict__, "dispatch_ms_per_connection": 1000.0, "dispatch_budget_s": 3.0})
    )
    assert slow.max_claims_per_dispatch == 3 and slow.max_start_delay_s == 62
    assert slow.peak_concurrent_workers == 3


def test_a_job_for_a_connection_whose_run_is_still_going_is_skipped() -> None:
    # Runs of 10 min + due every 5 min: the second job of each connection finds the lease held.
    r = sim.simulate(sim.Scenario(**{**TINY.__dict__, "period_s": 300, "horizon_s": 599, "fixed_run_s": 599.0}))
    assert r.runs_started == 6 and r.runs_skipped_lease_held == 6


def test_token_refreshes_follow_each_crms_lifetime() -> None:
    # Lifetime 600 s, margin 300 s, runs every 300 s: the first run reads the connect-time token, every later one
    # finds it ending within the margin and refreshes it.
    r = sim.simulate(sim.Scenario(**{**TINY.__dict__, "period_s": 300, "horizon_s": 899, "token_lifetimes_s": (600,)}))
    assert r.runs_started == 18 and r.peak_secret_writes_per_s == 6 and r.peak_secret_reads_per_s == 12
