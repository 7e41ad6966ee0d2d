"""Cold start: importing each function's handler module against a bare Powertools handler (issue #19, target 6).

For every function in template.yaml (handler path from its `CodeUri` and `Handler`), a fresh Python process imports
the handler module the way Lambda does (its code directory and the layer on `sys.path`) and reports the CPU time of
that import alone (`time.process_time()`: an import is CPU work, and CPU time does not grow when other processes
share the cores the way wall time does; wall time is kept too; interpreter start-up is the same for both and left
out). Interleaved with it, round by round, the same
measure of a bare handler importing only Powertools' `Logger`, `Tracer` and `APIGatewayHttpResolver` (and creating
one of each, as any handler does). A function's ratio is its import time over the bare one's of the same round;
the table gives the median and the spread (min to max) over `BENCH_COLD_ROUNDS` rounds (default 7). For HTTP
functions the process then answers one request without a token (401 from the resolver, no AWS call): "first call"
is import + that request, against the bare handler's import + its first request.

Both run in the Lambda environment the template gives them (Globals and the function's own variables, resolved to
placeholders; nothing is read from AWS at import) with `LAMBDA_TASK_ROOT` set, so Powertools' Tracer is on and
patches at import as it does in a deployed function (`Tracing: Active`: the bare handler every library X-Ray knows
that is installed, leadbridge only botocore); `BENCH_COLD_TRACING=0`
measures with tracing off (the local stack's case). The processes run `.venv-bench-layer`'s interpreter (made by
`make bench`): only the layer's requirements and boto3, what a deployed function has on its path; the dev virtualenv
holds more that Powertools' Tracer and httpx import when present. The heaviest imports per handler come from one extra
`python -X importtime` process per handler: the modules the bare handler does not load, summed by package.

    BENCH_COLD_ROUNDS=7 .venv/bin/python benchmarks/run.py cold_start

Results: docs/benchmarks.md (section cold_start) and benchmarks/results/cold_start.json (with the command).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.json"
VARIABLES = ("BENCH_COLD_ROUNDS", "BENCH_COLD_TRACING")
# What a deployed function has on its path: the layer's requirements and the runtime's boto3 (`make bench` builds
# it). The dev virtualenv holds more that a deployed function never loads (requests, which X-Ray patches when present;
# rich, which httpx imports when present); without it the benchmark falls back to the current interpreter and says so.
LAYER_PYTHON = ROOT / ".venv-bench-layer" / "bin" / "python"
TARGET = 1.3

BARE_HANDLER = '''
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

logger = Logger()
tracer = Tracer()
app = APIGatewayHttpResolver()


@app.get("/ping")
def ping() -> dict:
    return {"ok": True}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    return app.resolve(event, context)
'''

# Not the target's reference, but what any handler pays that validates requests with Powertools (pydantic) and
# talks to AWS (a botocore session: boto3 would add s3transfer and multiprocessing, and leadbridge imports none of it),
# with metrics as every leadbridge function has: the floor under leadbridge's own imports.
FLOOR_HANDLER = '''
import botocore.session
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="bench")
app = APIGatewayHttpResolver(enable_validation=True)


class Pong(BaseModel):
    ok: bool


@app.get("/ping")
def ping() -> Pong:
    return Pong(ok=True)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    return app.resolve(event, context)
'''

# Runs in the fresh process: import the module from its file as Lambda does, then (HTTP only) one request.
DRIVER = r'''
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import importlib.util
module_file, code_dir, layer, event_json = sys.argv[1:5]
sys.path[:0] = [code_dir, layer]
spec = importlib.util.spec_from_file_location("handler_under_test", module_file)
module = importlib.util.module_from_spec(spec)
sys.modules["handler_under_test"] = module
spec.loader.exec_module(module)
t1, c1 = time.perf_counter(), time.process_time()
out = {"import_wall_s": t1 - t0, "import_s": c1 - c0, "modules": len(sys.modules)}
if event_json:
    class Context:
        function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench-1"
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"
        def get_remaining_time_in_millis(self): return 30000
    answer = module.lambda_handler(json.loads(event_json), Context())
    out["first_call_s"] = time.process_time() - c0
    out["status"] = answer.get("statusCode")
print(json.dumps(out))
'''


def _http_event(method: str, path: str) -> dict[str, Any]:
    raw_path = re.sub(r"\{[^}]+\}", "x", path)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {"host": "bench.local", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench.local", "requestId": "bench-1",
            "routeKey": f"{method} {path}", "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "bench"},
        },
        "body": "{}" if method in {"POST", "PUT", "PATCH"} else None,
        "isBase64Encoded": False,
    }


def functions() -> list[dict[str, Any]]:
    """Each function of template.yaml: its module file, code directory, environment and a JWT route (if any)."""
    from local.template import expand_globals, load_template

    template = expand_globals(load_template(ROOT / "template.yaml"))
    found = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        module, _, _ = str(props["Handler"]).rpartition(".")
        code_dir = (ROOT / str(props["CodeUri"])).resolve()
        variables = ((props.get("Environment") or {}).get("Variables")) or {}
        environment = {k: _value(k, v, template.get("Parameters") or {}) for k, v in variables.items()}
        route = None
        for event in (props.get("Events") or {}).values():
            ev = event.get("Properties") or {}
            auth = ((ev.get("Auth") or {}).get("Authorizer"))
            if event.get("Type") == "HttpApi" and auth != "NONE" and route is None:
                route = (str(ev["Method"]).upper(), str(ev["Path"]))
        found.append({
            "function": logical_id,
            "handler": f"{props['CodeUri'].rstrip('/')}/{module}.py",
            "module_file": str(code_dir / f"{module}.py"),
            "code_dir": str(code_dir),
            "environment": environment,
            "route": route,
        })
    return found


def _value(name: str, value: Any, parameters: dict[str, Any]) -> str:
    """A variable's value: a parameter's default, or a placeholder for other intrinsics (queue URLs, the table
    name), which nothing reads before its first AWS call."""
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and "Ref" in value and "Default" in (parameters.get(value["Ref"]) or {}):
        return str(parameters[value["Ref"]]["Default"])
    return f"bench-{name.lower().replace('_', '-')}"


def _environment(extra: dict[str, str], tracing: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_"))}
    env.update(
        AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1", AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
        PYTHONDONTWRITEBYTECODE="0",
    )
    if tracing:
        env["LAMBDA_TASK_ROOT"] = "/var/task"
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    env.update(extra)
    env.pop("PYTHONPATH", None)
    return env


def _python() -> str:
    return str(LAYER_PYTHON) if LAYER_PYTHON.exists() else sys.executable


def _interpreter() -> str:
    if LAYER_PYTHON.exists():
        return ("a virtualenv holding only the layer's requirements and boto3, as deployed "
                "(`.venv-bench-layer`, made by `make bench`)")
    return ("the dev virtualenv (`.venv-bench-layer` missing: run `make bench`), which holds more than a deployed "
            "function")


def _measure(module_file: str, code_dir: str, env: dict[str, str], event: dict[str, Any] | None) -> dict[str, Any]:
    command = [_python(), "-c", DRIVER, module_file, code_dir, str(LAYER), json.dumps(event) if event else ""]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{module_file}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _importtime(module_file: str, code_dir: str, env: dict[str, str]) -> dict[str, int]:
    """Self time (µs) of each module imported, from `python -X importtime`."""
    command = [_python(), "-X", "importtime", "-c", DRIVER, module_file, code_dir, str(LAYER), ""]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)  # noqa: S603
    times: dict[str, int] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            times[m[2]] = int(m[1])
    return times


def _group(module: str) -> str:
    parts = module.split(".")
    if parts[0] in {"leadbridge", "aws_lambda_powertools"}:
        return ".".join(parts[: 3 if parts[0] == "aws_lambda_powertools" and len(parts) > 3 else 2])
    return parts[0]


def heaviest(bare: dict[str, int], handler: dict[str, int], top: int = 6) -> list[tuple[str, float]]:
    by_group: Counter[str] = Counter()
    for module, micros in handler.items():
        if module not in bare:
            by_group[_group(module)] += micros
    return [(name, micros / 1000) for name, micros in by_group.most_common(top)]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run() -> str:
    rounds = int(os.environ.get("BENCH_COLD_ROUNDS", "7"))
    tracing = os.environ.get("BENCH_COLD_TRACING", "1") != "0"
    specs = functions()
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        bare_file = Path(tmp) / "bare_handler.py"
        bare_file.write_text(BARE_HANDLER, encoding="utf-8")
        floor_file = Path(tmp) / "floor_handler.py"
        floor_file.write_text(FLOOR_HANDLER, encoding="utf-8")
        floors: list[dict[str, Any]] = []
        bare_env = _environment({"POWERTOOLS_SERVICE_NAME": "bare"}, tracing)
        bare_event = _http_event("GET", "/ping")
        samples: dict[str, list[dict[str, Any]]] = {s["function"]: [] for s in specs}
        bares: list[dict[str, Any]] = []
        for number in range(rounds):
            order = specs if number % 2 == 0 else list(reversed(specs))
            floors.append(_measure(str(floor_file), tmp, bare_env, bare_event))
            for spec in order:
                # The bare handler right before each function: a ratio compares two processes seconds apart.
                bare = _measure(str(bare_file), tmp, bare_env, bare_event)
                event = _http_event(*spec["route"]) if spec["route"] else None
                got = _measure(spec["module_file"], spec["code_dir"], _environment(spec["environment"], tracing), event)
                got["ratio"] = got["import_s"] / bare["import_s"]
                if "first_call_s" in got:
                    got["first_call_ratio"] = got["first_call_s"] / bare["first_call_s"]
                got["bare_import_s"] = bare["import_s"]
                samples[spec["function"]].append(got)
                bares.append(bare)
            print(f"  round {number + 1}/{rounds} done (load {_load()})", flush=True)
        bare_times = _importtime(str(bare_file), tmp, bare_env)
        profiles = {s["function"]: heaviest(bare_times, _importtime(s["module_file"], s["code_dir"],
                                                                  _environment(s["environment"], tracing)))
                    for s in specs}
    load_after = _load()
    rows = []
    for spec in specs:
        got = samples[spec["function"]]
        row: dict[str, Any] = {
            "function": spec["function"],
            "handler": spec["handler"],
            "import_ms": _spread([g["import_s"] * 1000 for g in got]),
            "import_wall_ms": _spread([g["import_wall_s"] * 1000 for g in got]),
            "ratio": _spread([g["ratio"] for g in got]),
            "ratio_to_floor": statistics.median(g["import_s"] for g in got) / statistics.median(
                f["import_s"] for f in floors),
            # Noise on a shared machine only ever adds time: the fastest import of each is its least disturbed one.
            "best_ratio": min(g["import_s"] for g in got) / min(b["import_s"] for b in bares),
            "best_ratio_to_floor": min(g["import_s"] for g in got) / min(f["import_s"] for f in floors),
            "modules": got[-1]["modules"],
            "heaviest_ms": profiles[spec["function"]],
        }
        if spec["route"]:
            row["first_call"] = {"route": " ".join(spec["route"]), "status": got[-1]["status"],
                                 "ratio": _spread([g["first_call_ratio"] for g in got])}
        rows.append(row)
    result = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": _command(),
        "rounds": rounds,
        "tracing": tracing,
        "interpreter": _interpreter(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "bare": {"import_ms": _spread([b["import_s"] * 1000 for b in bares]),
                 "import_wall_ms": _spread([b["import_wall_s"] * 1000 for b in bares]),
                 "modules": bares[-1]["modules"]},
        "floor": {"import_ms": _spread([f["import_s"] * 1000 for f in floors]), "modules": floors[-1]["modules"],
                  "ratio_to_bare": statistics.median(f["import_s"] for f in floors) / statistics.median(
                      b["import_s"] for b in bares),
                  "best_ratio_to_bare": min(f["import_s"] for f in floors) / min(b["import_s"] for b in bares)},
        "target_ratio": TARGET,
        "functions": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return render(result)


def _command() -> str:
    settings = " ".join(f"{name}={os.environ[name]}" for name in VARIABLES if name in os.environ)
    return f"{settings} .venv/bin/python benchmarks/run.py cold_start".strip()


def render(result: dict[str, Any]) -> str:
    bare, floor = result["bare"], result["floor"]
    lines = [
        f"CPU time of importing each handler module in a fresh process over a bare handler's (Powertools Logger, "
        f"Tracer, APIGatewayHttpResolver), interleaved, {result['rounds']} rounds; tracing "
        f"{'on (LAMBDA_TASK_ROOT set, as deployed)' if result['tracing'] else 'off'}; the processes run "
        f"{result.get('interpreter', 'the dev virtualenv')}. Target: ratio ≤ "
        f"{result['target_ratio']}. Bare handler: median {bare['import_ms']['median']:.0f} ms CPU "
        f"({bare['import_ms']['min']:.0f} to {bare['import_ms']['max']:.0f}), {bare['modules']} modules. "
        f"Load average (1, 5, 15 min) before: {result['load_average_before']}, after: "
        f"{result['load_average_after']} (2 cores).",
        "",
        f"Floor (not the target's reference): a handler that also validates with Powertools (pydantic), imports "
        f"botocore's session (an AWS client; leadbridge imports no boto3) and flushes metrics, as every leadbridge "
        f"function must: median {floor['import_ms']['median']:.0f} ms, "
        f"{floor['modules']} modules, **{floor['ratio_to_bare']:.2f}x** the bare handler (best of each: "
        f"{floor['best_ratio_to_bare']:.2f}x). A function's \"to floor\" is its median import over the floor's: what "
        "leadbridge's own code adds. \"Best\": the fastest import of each over the fastest of the reference (noise on "
        "a shared machine only adds time).",
        "",
        "| function | handler | import CPU ms (median) | ratio median (min to max) | best | to floor (best) | "
        "first call ratio (401) | modules | heaviest beyond the bare handler (ms of own import time) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["functions"]:
        ratio = row["ratio"]
        first = row.get("first_call")
        first_text = (f"{first['ratio']['median']:.2f} ({first['ratio']['min']:.2f} to {first['ratio']['max']:.2f})"
                      if first else "-")
        heavy = ", ".join(f"{name} {ms:.0f}" for name, ms in row["heaviest_ms"])
        met = "" if ratio["median"] <= result["target_ratio"] else " ✗"
        lines.append(
            f"| {row['function']} | `{row['handler']}` | {row['import_ms']['median']:.0f} | "
            f"**{ratio['median']:.2f}**{met} ({ratio['min']:.2f} to {ratio['max']:.2f}) | "
            f"{row['best_ratio']:.2f} | {row['ratio_to_floor']:.2f} ({row['best_ratio_to_floor']:.2f}) | "
            f"{first_text} | "
            f"{row['modules']} | {heavy} |"
        )
    lines += [
        "",
        "Every number is in `benchmarks/results/cold_start.json` (wall times too). First call: the process answers "
        "one request without a token on the function's first JWT route (a 401 before any AWS call; the bare handler "
        "answers its one route), CPU time from the start of the import. Heaviest: `python -X importtime` self times "
        "(wall, one run), summed by package. Deferred to first use, and guarded by "
        "`tests/unit/test_cold_imports.py`: `phonenumbers`, the CRM connector packages, the idempotency utility, "
        "Powertools' OpenAPI models, the adapters a function does not use (see the section's notes in "
        "docs/operations.md).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(LAYER)]
    print(run())
