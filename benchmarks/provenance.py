"""Where a benchmark's numbers come from: the commit measured, code under test that was not committed yet (several
engineers share one working tree), and the machine's load (2 cores shared with other work)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the benchmarks measure; uncommitted changes elsewhere (tests, docs, benchmarks/ itself) do not change numbers.
CODE_UNDER_TEST = ("layers", "functions", "local", "template.yaml")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)  # noqa: S603, S607
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout


def commit() -> str:
    return _git("rev-parse", "--short", "HEAD").strip() or "unknown"


def uncommitted_code() -> list[str]:
    """Files of the code under test that differ from HEAD (or are new) in the working tree when the benchmark ran."""
    lines = _git("status", "--porcelain", "--untracked-files=all", "--", *CODE_UNDER_TEST).splitlines()
    return [line[3:] for line in lines if line.strip()]  # porcelain: "XY path"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe_commit() -> str:
    """`abc1234`, or `abc1234 + uncommitted changes to: a.py, b.py` when code under test differed from it."""
    dirty = uncommitted_code()
    return f"`{commit()}`" + (f" + uncommitted changes to: {', '.join(f'`{p}`' for p in dirty)}" if dirty else "")
