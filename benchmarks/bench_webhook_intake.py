"""Webhook intake (issue #19, target 7): 1,000 signed SuperOffice webhook events through the local gateway.

The local stack (moto, the gateway running template.yaml's WebhookIntakeFunction in-process) holds one SuperOffice
connection with its webhook signing secret, stored through leadbridge's own connection store and vault as the
connect flow leaves them (as tests/e2e/test_webhook_intake_e2e.py does). A separate client process sends
`BENCH_WEBHOOK_EVENTS` deliveries (default 1,000; one event each, a distinct `EventId`, signed with
`X-SuperOffice-Signature` as SuperOffice does) to `POST /webhooks/superoffice/{key}` from each number of concurrent
clients in `BENCH_WEBHOOK_CLIENTS` (default `1,4`), and times each request (client side: from sending to the whole
answer read).
The queue pump is stopped, so nothing consumes WebhookQueue; afterwards the benchmark reads the queue dry and checks
that every accepted event is in it exactly as sent (0 lost; a duplicate would be counted too).

The machine's load average is taken before and after: on 2 cores shared with other work the latencies move a lot,
so the section says how busy the machine was. Function logs are at WARNING (an INFO line per delivery otherwise).
`BENCH_WEBHOOK_PROFILE=1` profiles every function invocation (serialised meanwhile, so only the profile counts).

    BENCH_WEBHOOK_EVENTS=1000 BENCH_WEBHOOK_CLIENTS=1,4 .venv/bin/python benchmarks/run.py webhook_intake
"""

from __future__ import annotations

import base64
import cProfile
import hashlib
import hmac
import io
import json
import logging
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "webhook_intake.json"
VARIABLES = ("BENCH_WEBHOOK_EVENTS", "BENCH_WEBHOOK_CLIENTS", "BENCH_WEBHOOK_PROFILE")
CTX = "Cust54321"
TENANT = "bench-webhooks"
GRANT_SECRET = f"leadbridge/local/tenants/{TENANT}/superoffice"
TARGET_P95_MS = 50.0
SERVICE_LOGGER = "leadbridge"  # the Powertools logger of leadbridge.observability (POWERTOOLS_SERVICE_NAME)

# The client process: reads {"url", "clients", "deliveries": [[body, signature], ...]} on stdin, sends them from
# `clients` threads (one httpx client each, keep-alive), prints per-request [status, seconds, event id] and the wall.
CLIENT = r'''
import json, sys, threading, time
import httpx
job = json.load(sys.stdin)
deliveries, url, clients = job["deliveries"], job["url"], job["clients"]
results = [None] * len(deliveries)
def work(offset):
    with httpx.Client(timeout=60) as http:
        for i in range(offset, len(deliveries), clients):
            body, signature = deliveries[i]
            started = time.perf_counter()
            try:
                r = http.post(url, content=body.encode(), headers={
                    "Content-Type": "application/json", "X-SuperOffice-Signature": signature})
                status = r.status_code
            except httpx.HTTPError as exc:
                status = f"{type(exc).__name__}"
            results[i] = [status, time.perf_counter() - started]
threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"wall_s": time.perf_counter() - start, "results": results}))
'''

# The same number of SQS sends straight to moto from as many threads (one boto3 client each): what the queue send
# alone costs on this machine, the floor under the intake's latency.
MOTO_CLIENT = r'''
import json, sys, threading, time
import boto3
job = json.load(sys.stdin)
bodies, url, clients = job["bodies"], job["queue_url"], job["clients"]
results = [None] * len(bodies)
def work(offset):
    sqs = boto3.client("sqs", endpoint_url=job["endpoint"], region_name=job["region"])
    for i in range(offset, len(bodies), clients):
        started = time.perf_counter()
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": bodies[i]}])
        results[i] = [200, time.perf_counter() - started]
threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"wall_s": time.perf_counter() - start, "results": results}))
'''


def _signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def _delivery(n: int, secret: str) -> tuple[str, str, str]:
    event_id = str(uuid.uuid4())
    body = json.dumps({
        "EventId": event_id,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "Changes": ["name", "updated"],
        "Event": "contact.changed",
        "PrimaryKey": 1000 + n,
        "Entity": "contact",
        "ContextIdentifier": CTX,
        "ChangedByAssociateId": 7,
    })
    return event_id, body, _signature(secret, body.encode())


class Bench:
    def __init__(self) -> None:
        from leadbridge import runtime
        from leadbridge.crm.base import reset_providers
        from local.stack import LocalStack

        self.stack = LocalStack(port=0, run_schedules=False, run_pump=False, start_sandboxes=False,
                                persist_issuer_key=False).start()
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # after start: the stack sets the template's INFO
        logging.getLogger(SERVICE_LOGGER).setLevel(logging.WARNING)
        runtime.reset()
        reset_providers()
        self.key, self.secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        self._connect()

    def _connect(self) -> None:
        """What the connect flow leaves behind: the connection record and the webhook signing secret."""
        from leadbridge import runtime
        from leadbridge.models.connection import Connection, ConnectionStatus
        from leadbridge.store.secret_names import webhook_secret_name

        runtime.connection_store().save(Connection(
            tenant_id=TENANT, crm="superoffice", status=ConnectionStatus.CONNECTED, account_id=CTX,
            api_base="http://sandbox/api/", secret_name=GRANT_SECRET, connected_by="admin@bench",
            connected_at=datetime.now(UTC), connection_key=self.key,
            webhook_secret_name=webhook_secret_name(GRANT_SECRET),
        ))
        runtime.token_vault().store_webhook_secret(webhook_secret_name(GRANT_SECRET), self.secret)

    @property
    def url(self) -> str:
        return f"{self.stack.gateway_url}/webhooks/superoffice/{self.key}"

    def send(self, deliveries: list[tuple[str, str, str]], clients: int) -> dict[str, Any]:
        job = json.dumps({"url": self.url, "clients": clients, "deliveries": [[b, s] for _, b, s in deliveries]})
        done = subprocess.run([sys.executable, "-c", CLIENT], input=job, capture_output=True, text=True,  # noqa: S603
                              check=True, cwd=ROOT)
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def send_to_moto(self, bodies: list[str], clients: int) -> dict[str, Any]:
        job = json.dumps({"bodies": bodies, "clients": clients, "endpoint": self.stack.moto_endpoint,
                          "region": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
                          "queue_url": self.stack.resources.webhook_queue_url})
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        done = subprocess.run([sys.executable, "-c", MOTO_CLIENT], input=job, capture_output=True, text=True,  # noqa: S603
                              check=True, cwd=ROOT, env=env)
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def drain(self) -> list[tuple[str, str]]:
        """Every message in WebhookQueue as (event id, body), read dry and deleted."""
        import boto3

        from leadbridge.inbound.webhook_intake import QueuedWebhook

        sqs = boto3.client("sqs")
        url = self.stack.resources.webhook_queue_url
        found: list[tuple[str, str]] = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                      VisibilityTimeout=300)
            if not got.get("Messages"):
                return found
            for message in got["Messages"]:
                found.append((QueuedWebhook.model_validate_json(message["Body"]).event.event_id, message["Body"]))
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got["Messages"])])

    def close(self) -> None:
        self.stack.stop()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _latencies(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p95": _percentile(values, 95), "p99": _percentile(values, 99),
            "max": max(values), "mean": statistics.fmean(values)}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _profiled_handlers() -> tuple[cProfile.Profile, Any]:
    """Profile every function invocation of the local runtime (serialised while profiling: a diagnostic only)."""
    import threading

    from local.lambda_runtime import FunctionRuntime

    profiler, lock = cProfile.Profile(), threading.Lock()
    original = FunctionRuntime._run_handler

    def run_handler(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            profiler.enable()
            try:
                return original(self, *args, **kwargs)
            finally:
                profiler.disable()

    FunctionRuntime._run_handler = run_handler  # type: ignore[method-assign]
    return profiler, lambda: setattr(FunctionRuntime, "_run_handler", original)


def _case(bench: Bench, events: int, clients: int) -> dict[str, Any]:
    # A few deliveries first: the container's cold start and first reads are not what this measures.
    bench.send([_delivery(n, bench.secret) for n in range(clients)], clients)
    bench.drain()
    deliveries = [_delivery(n, bench.secret) for n in range(events)]
    load_before = _load()
    sent = bench.send(deliveries, clients)
    load_after = _load()
    queued = bench.drain()
    # The intake's own messages, sent again straight to moto (the same sizes) from as many clients, then read dry.
    moto = bench.send_to_moto([body for _, body in queued], clients)
    bench.drain()
    statuses = [r[0] for r in sent["results"]]
    accepted_ids = {d[0] for d, s in zip(deliveries, statuses, strict=True) if s == 200}
    queued_ids = {event_id for event_id, _ in queued}
    return {
        "events": events,
        "clients": clients,
        "accepted": len(accepted_ids),
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses), key=str)},
        "queued": len(queued),
        "queued_distinct": len(queued_ids),
        "lost": len(accepted_ids - queued_ids),
        "unexpected_in_queue": len(queued_ids - accepted_ids),
        "duplicates_in_queue": len(queued) - len(queued_ids),
        "wall_s": sent["wall_s"],
        "events_per_s": events / sent["wall_s"],
        "latency_ms": _latencies([r[1] * 1000 for r in sent["results"]]),
        "moto_send_ms": _latencies([r[1] * 1000 for r in moto["results"]]),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def run() -> str:
    events = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "1000"))
    client_counts = [int(c) for c in os.environ.get("BENCH_WEBHOOK_CLIENTS", "1,4").split(",") if c.strip()]
    profile = os.environ.get("BENCH_WEBHOOK_PROFILE") == "1"
    profiler, restore = _profiled_handlers() if profile else (None, None)
    bench = Bench()
    try:
        cases = [_case(bench, events, clients) for clients in client_counts]
    finally:
        bench.close()
        if restore:
            restore()
    result: dict[str, Any] = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": _command(),
        "cores": os.cpu_count(),
        "profiled": profile,
        "cases": cases,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        result["profile"] = out.getvalue()
    return render(result)


def _command() -> str:
    settings = " ".join(f"{name}={os.environ[name]}" for name in VARIABLES if name in os.environ)
    return f"{settings} .venv/bin/python benchmarks/run.py webhook_intake".strip()


def render(result: dict[str, Any]) -> str:
    lines = [
        "Signed SuperOffice webhook deliveries (one event each, a distinct `EventId`) to `POST /webhooks/superoffice/"
        "{key}` through the local gateway (WebhookIntakeFunction in-process, moto in its own process), from N "
        "concurrent clients in a separate process, after a few warm-up deliveries; then every accepted event is "
        "looked for in WebhookQueue. \"moto alone\": the same messages sent straight to moto's SQS from as many "
        "clients, the floor under the intake's latency on this machine."
        + (" **Profiled: handler invocations serialised, latencies not comparable.**" if result["profiled"] else ""),
        "",
        "| clients | events | accepted (200) | in WebhookQueue | lost | duplicates | total | events/s | p50 ms | "
        "p95 ms | p99 ms | max ms | moto alone p50 / p95 ms | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in result["cases"]:
        lat, moto = case["latency_ms"], case["moto_send_ms"]
        lines.append(
            f"| {case['clients']} | {case['events']} | {case['accepted']} | {case['queued_distinct']} | "
            f"**{case['lost']}** | {case['duplicates_in_queue']} | {case['wall_s']:.1f} s | "
            f"{case['events_per_s']:.0f} | {lat['p50']:.1f} | **{lat['p95']:.1f}** | {lat['p99']:.1f} | "
            f"{lat['max']:.1f} | {moto['p50']:.1f} / {moto['p95']:.1f} | {case['load_average_before'].split()[0]} → "
            f"{case['load_average_after'].split()[0]} |"
        )
    def meets(case: dict[str, Any]) -> bool:
        return bool(case["lost"] == 0 and case["wall_s"] <= 60 and case["latency_ms"]["p95"] < TARGET_P95_MS)

    verdicts = "; ".join(
        f"{'met' if meets(c) else 'not met'} with {c['clients']} client{'s' if c['clients'] > 1 else ''} "
        f"(p95 {c['latency_ms']['p95']:.0f} ms; moto's own SQS send alone {c['moto_send_ms']['p95']:.0f} ms)"
        for c in result["cases"]
    )
    lines += [
        "",
        f"Target (1,000 within a minute, 0 lost, p95 < {TARGET_P95_MS:.0f} ms): {verdicts}. The 1-minute load "
        f"average before and after each case is in the table ({result['cores']} cores; a case starts with what the "
        "one before it left). With several clients, the clients, the gateway, the intake and moto share the 2 cores, "
        "and moto's own send time grows with them. Per delivery the intake makes one consistent DynamoDB read (the "
        "connection; the key's owner is remembered per container), uses the cached signing secret and sends once "
        "to SQS; profiled (`BENCH_WEBHOOK_PROFILE=1`), nearly all of a handler's time is waiting for moto on those "
        "two calls. Numbers in `benchmarks/results/webhook_intake.json`.",
    ]
    if "profile" in result:
        lines += ["", "```", result["profile"].strip()[:6000], "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
    print(run())
