"""The tables the bulk-export benchmarks (`bulk_export`, `export_hubspot`) share: bulk against single exports of the
same number of leads, medians over the rounds, per phase (new leads, then the same leads changed).

A side is one measured export of a batch of leads: `how` ("bulk" or "single"), `phase` ("new" or "changed"),
`leads`, `seconds` and `ops` (the CRM requests the sandbox counted, by operation)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

Side = dict[str, Any]


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
