"""One-off A/B of handler import cost (outside `make bench`): the CPU time of importing each function's handler module
in a fresh process, for another checkout of leadbridge (`before`, e.g. a `git worktree` of an earlier commit) and
this one (`after`), interleaved (the order alternates per round), tracing on, in `.venv-bench-layer` as
bench_cold_start does. Prints medians and best per handler and writes every sample to the given JSON file.

    git worktree add /tmp/wt-before <commit>
    .venv/bin/python benchmarks/ab_cold_imports.py /tmp/wt-before 15 benchmarks/results/<name>.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv-bench-layer" / "bin" / "python"
HANDLERS = ["export/app", "export/bulk_export", "export/lead_events", "settings/app", "oauth/app", "webhook/intake",
            "webhook/processor", "scheduled_sync/dispatcher", "scheduled_sync/worker", "scheduled_sync/api"]
CHILD = ("import time, importlib; t = time.process_time(); importlib.import_module({module!r}); "
         "print(time.process_time() - t)")


def import_ms(root: str, handler: str) -> float:
    code_dir = f"{root}/functions/{os.path.dirname(handler)}"
    env = {**os.environ, "PYTHONPATH": f"{code_dir}:{root}/layers/common", "LAMBDA_TASK_ROOT": code_dir,
           "AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_SERVICE_NAME": "leadbridge"}
    command = [str(PYTHON), "-c", CHILD.format(module=os.path.basename(handler))]
    done = subprocess.run(command, cwd=code_dir, env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return float(done.stdout.strip().splitlines()[-1]) * 1000


def main(before_root: str, rounds: int, out: str) -> None:
    roots = {"before": before_root, "after": str(ROOT)}
    samples: dict[str, list[float]] = {f"{h}|{side}": [] for h in HANDLERS for side in roots}
    for r in range(rounds):
        for handler in HANDLERS:
            for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
                samples[f"{handler}|{side}"].append(import_ms(roots[side], handler))
    rows = []
    for handler in HANDLERS:
        before, after = samples[f"{handler}|before"], samples[f"{handler}|after"]
        row = {"handler": handler, "before_ms": statistics.median(before), "after_ms": statistics.median(after),
               "best_before_ms": min(before), "best_after_ms": min(after)}
        row["after_over_before"] = row["after_ms"] / row["before_ms"]
        rows.append(row)
        print(f"{handler:28s} {row['before_ms']:5.0f} -> {row['after_ms']:5.0f} ms ({row['after_over_before']:.2f}); "
              f"best {row['best_before_ms']:.0f} -> {row['best_after_ms']:.0f}")
    command = f".venv/bin/python benchmarks/ab_cold_imports.py {before_root} {rounds} {out}"
    Path(out).write_text(json.dumps({"measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                                     "command": command, "rounds": rounds, "rows": rows, "samples": samples},
                                    indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
