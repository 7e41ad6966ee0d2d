"""What the bulk-export benchmarks (`bulk_export`, `export_hubspot`) share: the measurement, bulk against single
exports of the same number of leads in alternating order (`alternate_sides`), and its tables, medians over the rounds,
per phase (new leads, then the same leads changed).

A side is one measured export of a batch of leads: `how` ("bulk" or "single"), `phase` ("new" or "changed"),
`leads`, `seconds` and `ops` (the CRM requests the sandbox counted, by operation)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks import provenance

Side = dict[str, Any]
Lead = dict[str, Any]
PHASES = {"new": "created", "changed": "updated"}  # the phases, and what each lead of one becomes in the CRM


def alternate_sides(
    rounds: int,
    new_leads: Callable[[], list[Lead]],
    changed: Callable[[Lead], Lead],
    bulk: Callable[[list[Lead], str], tuple[float, Mapping[str, int], dict[str, Any]]],
    single: Callable[[list[Lead], str], tuple[float, Mapping[str, int]]],
) -> list[Side]:
    """Each round exports a fresh batch in bulk and another one by one, the first of the two alternating between
    rounds (this machine is noisy); each batch new, then the same leads changed. `bulk` and `single` export the leads
    and wait until each lead became what the phase expects (`PHASES`)."""
    sides: list[Side] = []
    for r in range(rounds):
        for how in ("bulk", "single") if r % 2 == 0 else ("single", "bulk"):
            leads = new_leads()
            for phase, expect in PHASES.items():
                sent = leads if phase == "new" else [changed(body) for body in leads]
                load_before = provenance.load_average()
                slices = None
                if how == "bulk":
                    seconds, ops, finished = bulk(sent, expect)
                    slices = finished["export"]["slices"]
                else:
                    seconds, ops = single(sent, expect)
                sides.append({"round": r + 1, "how": how, "phase": phase, "leads": len(leads), "seconds": seconds,
                              "ops": dict(ops), "slices": slices, "load_average_before": load_before,
                              "load_average_after": provenance.load_average()})  # fmt: skip
    return sides


def phase_of(side: Side) -> str:
    return str(side.get("phase", "new"))  # runs kept from before the changed phase measured new leads only


def median(sides: list[Side], how: str, value: Callable[[Side], float], phase: str = "new") -> float:
    return statistics.median(value(s) for s in sides if s["how"] == how and phase_of(s) == phase)


def rate(side: Side) -> float:
    return float(side["leads"] / side["seconds"])


def bulk_against_single(
    sides: list[Side], phase: str, *, per_lead: Callable[[Side], float], counted: Callable[[str], bool], apart: str
) -> str:
    """The medians of leads/s and round trips per lead (`per_lead`), bulk against single, then the round trips per
    lead by operation (the operations `counted`; the others, e.g. metadata reads, are `apart`)."""
    ops = sorted({op for s in sides if phase_of(s) == phase for op in s["ops"] if counted(op)})

    def op_per_lead(how: str, op: str) -> float:
        return median(sides, how, lambda s: int(s["ops"].get(op, 0)) / int(s["leads"]), phase)

    op_rows = "\n".join(f"| `{op}` | {op_per_lead('bulk', op):.2f} | {op_per_lead('single', op):.2f} |" for op in ops)
    bulk_rate, single_rate = (median(sides, how, rate, phase) for how in ("bulk", "single"))
    bulk_trips, single_trips = (median(sides, how, per_lead, phase) for how in ("bulk", "single"))
    return f"""| median | bulk | single | bulk / single |
|---|---|---|---|
| leads/s | {bulk_rate:.1f} | {single_rate:.1f} | {bulk_rate / single_rate:.2f} |
| CRM round trips per lead | {bulk_trips:.2f} | {single_trips:.2f} | {bulk_trips / single_trips:.2f} |

CRM round trips per lead by operation (median over the rounds; {apart} apart):

| operation | bulk | single |
|---|---|---|
{op_rows}"""
