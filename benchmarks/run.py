"""Run the benchmarks and record their results in docs/benchmarks.md.

    python benchmarks/run.py            # every benchmarks/bench_*.py
    python benchmarks/run.py export     # only bench_export.py (names with or without the bench_ prefix)

Each `bench_<name>.py` defines `run() -> str`, returning the Markdown body of its section. The runner rewrites only
that benchmark's section of docs/benchmarks.md, between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`, and
keeps every other section as it is. Each section states the exact command, the date, the machine, the commit measured
(with any code under test not committed yet: the working tree is shared) and the load average before and after.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
DOC = ROOT / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Written by `make bench` (`benchmarks/run.py`); each section is replaced only when its benchmark runs again.\n"
    "Numbers come from the local stack (moto, the local gateway, in-process functions, CRM sandboxes on loopback), so\n"
    "they measure leadbridge's own work and CRM round trips, not AWS or CRM service times.\n"
)


def discover(names: list[str]) -> list[Path]:
    found = sorted(BENCH_DIR.glob("bench_*.py"))
    if not names:
        return found
    wanted = {n.removesuffix(".py").removeprefix("benchmarks/").removeprefix("bench_") for n in names}
    chosen = [p for p in found if p.stem.removeprefix("bench_") in wanted]
    missing = wanted - {p.stem.removeprefix("bench_") for p in chosen}
    if missing:
        raise SystemExit(f"no benchmark named {', '.join(sorted(missing))} (have: {[p.stem for p in found]})")
    return chosen


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def section(name: str, body: str, command: str, *, commit: str, load: tuple[str, str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!-- bench:{name} -->\n"
        f"## {name}\n\n"
        f"- command: `{command}` (`make bench` runs every benchmark)\n- date: {stamp}\n- machine: {machine()}\n"
        f"- commit: {commit}\n- load average (1, 5, 15 min) before → after: {load[0]} → {load[1]}\n\n"
        f"{body.strip()}\n"
        f"<!-- /bench:{name} -->"
    )


def replace_section(document: str, name: str, text: str) -> str:
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _m: text, document, count=1)
    return document.rstrip("\n") + "\n\n" + text + "\n"


def main(argv: list[str]) -> int:
    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        if path not in sys.path:
            sys.path.insert(0, path)
    from benchmarks import provenance

    for bench in discover(argv):
        name = bench.stem.removeprefix("bench_")
        spec = importlib.util.spec_from_file_location(f"benchmarks.{bench.stem}", bench)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"running {bench.relative_to(ROOT)} ...", flush=True)
        commit, load_before = provenance.describe_commit(), provenance.load_average()
        body = module.run()
        load = (load_before, provenance.load_average())
        settings = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
        command = f"{settings} .venv/bin/python benchmarks/run.py {name}".strip()
        document = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
        text = section(name, body, command, commit=commit, load=load)
        DOC.write_text(replace_section(document, name, text), encoding="utf-8")
        print(body, flush=True)
        print(f"wrote section {name!r} of {DOC.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
