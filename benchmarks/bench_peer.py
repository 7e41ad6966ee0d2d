"""Side by side with a peer (issue #19): leadbridge's sync worker and tap-salesforce read the same Salesforce sandbox
records, in interleaved pairs, and the section reports both records/s and their ratio.

What runs:
- The Salesforce sandbox (local/sandbox/salesforce) in this process, seeded with N Accounts (`BENCH_PEER_ACCOUNTS`,
  default 10,000), and for the second case one Contact per Account. Its query pages hold 2,000 rows, so both tools
  make one CRM request per 2,000-row page. At 50 ms, the sandbox's latency fault delays every REST request of the org.
- leadbridge: `process_job` (the real Salesforce connector, inbound kernel, DynamoDB stores and EventBridge publisher
  in moto; the changes' events are the relay's, see below) in a fresh child process per run, over a fresh moto
  (reset, resources recreated from template.yaml): one run reads every record, as the tap's full-table read does.
  Records/s = records read / `process_job` time.
- tap-salesforce (pinned `TAP_VERSION`, its own virtualenv `.venv-bench-tap`, made by `make bench`): `--properties`
  with a catalog from its own `--discover`, the stream(s) and every supported field selected, `FULL_TABLE`, REST API.
  It has no setting for the login host, so a wrapper run with `python -c` patches its request method in-process to
  send `https://login.salesforce.com/...` to the sandbox's login host (the package is not edited); the token answer's
  `instance_url` then points it at the sandbox. Its Singer stdout goes to a file and its RECORD messages are counted.
  Records/s = RECORD messages / time from its `main()` to its return (interpreter start and imports excluded, as for
  leadbridge).
- Cases: (Accounts; Accounts + their Contacts) x (0 ms; 50 ms), `BENCH_PEER_PAIRS` pairs each (default 3),
  alternating which tool goes first. `BENCH_PEER_CASES` (`accounts,contacts`) and `BENCH_PEER_LATENCIES` (ms,
  `0,50`) choose fewer. Each pair is kept in `results/peer.json` when measured; a case measured again replaces its
  pairs. `BENCH_PEER_PROFILE=0` skips the profile (one more leadbridge run, profiled: every thread under cProfile,
  wall time of CRM requests and AWS calls by kind, and the same AWS requests replayed alone against a fresh moto).
- `BENCH_PEER_AWS_LATENCY_MS` (default 0) adds that much to every AWS call of leadbridge's run (a wait in botocore's
  `before-send`, in the worker process): moto answers on loopback, while DynamoDB and EventBridge answer in a few
  milliseconds over the network, which the worker's overlapped calls hide. Its pairs are a case of their own.
- `BENCH_PEER_AWS=instant` answers the run's PutEvents, BatchWriteItem and BatchGetItem in the worker process (a
  botocore `before-send` hook returning a well-formed answer, which botocore parses as AWS's) instead of sending them
  to moto: leadbridge's own work and botocore's, with no AWS service time at all. What it leaves out is measured by
  the profile's replay; what is left is what leadbridge could improve. Its pairs are a case of their own.
- `BENCH_PEER_EVENTS=summary` runs leadbridge as a deployment with `ChangeEvents=summary` (docs/events.md): one
  `ChangesReported` event per feed chunk instead of one event per changed record. The relay makes those events, not
  the worker, so only the relay's cost (measured with `BENCH_PEER_AWS=instant`) differs. Its pairs are a case of
  their own.
- With `BENCH_PEER_AWS=instant` the feed chunks the run wrote are then relayed in the worker process, after the run
  and outside its time, through `relay_chunk` and the EventBridge publisher (PutEvents answered in-process): the CPU
  ChangeEventsRelayFunction would spend on the run's changes, kept per pair (`relay_cpu_seconds`, `relay_changes`).
"""

from __future__ import annotations

import cProfile
import hashlib
import importlib
import json
import multiprocessing
import os
import pickle
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "peer.json"
PROFILE_RESULT = ROOT / "benchmarks" / "results" / "peer-profile.json"
TAP_VERSION = "2.8.1"
TAP_VENV = ROOT / ".venv-bench-tap"
TAP_STAMP = TAP_VENV / ".installed-stamp"
TENANT = "bench-peer"
ADMIN = "admin@bench-peer.test"
CASES = {"accounts": ("Account",), "contacts": ("Account", "Contact")}
CASE_LABELS = {"accounts": "Accounts", "contacts": "Accounts + their Contacts"}
HEADER = (
    "| records | read | added latency | pairs | leadbridge records/s | tap records/s | ratio "
    "| query requests (leadbridge / tap) | measured |\n|---|---|---|---|---|---|---|---|---|"
)
VARIABLES = (
    "BENCH_PEER_ACCOUNTS", "BENCH_PEER_PAIRS", "BENCH_PEER_CASES", "BENCH_PEER_LATENCIES", "BENCH_PEER_PROFILE",
    "BENCH_PEER_AWS_LATENCY_MS", "BENCH_PEER_AWS", "BENCH_PEER_EVENTS",
)

# Runs the installed tap with its login host redirected: the tap hard-codes https://login.salesforce.com (or
# test.salesforce.com) in Salesforce.login(); every request goes through Salesforce._make_request, which is wrapped.
TAP_WRAPPER = """
import sys, time
import tap_salesforce
import tap_salesforce.salesforce as sf_module

LOGIN_BASE = sys.argv[1]
original = sf_module.Salesforce._make_request

def redirected(self, http_method, url, *args, **kwargs):
    for host in ("https://login.salesforce.com", "https://test.salesforce.com"):
        if url.startswith(host):
            url = LOGIN_BASE + url[len(host):]
    return original(self, http_method, url, *args, **kwargs)

sf_module.Salesforce._make_request = redirected
sys.argv = ["tap-salesforce"] + sys.argv[2:]
started = time.perf_counter()
try:
    tap_salesforce.main()
finally:
    sys.stderr.write("PEER_TAP_SECONDS=%.6f\\n" % (time.perf_counter() - started))
"""


# --- leadbridge's run (a child process) ---------------------------------------------------------------------------


def _leadbridge(args: dict[str, Any], results: Any) -> None:
    """Child process: one run of the sync worker over every record of the chosen objects, measured."""
    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        sys.path.insert(0, path)
    os.environ.update(args["env"])
    import botocore.client

    from benchmarks.worker_setup import StaticTokens, full_run
    from leadbridge import aws_clients, collector, runtime
    from leadbridge.crm.base import ConnectionContext
    from leadbridge.crm.salesforce import SalesforceProvider
    from leadbridge.crm.salesforce.client import SalesforceClient
    from leadbridge.inbound.worker import WorkerConfig, process_job
    from leadbridge.models.crm import CrmObject
    from leadbridge.models.settings import SettingsDocument

    collector.settle()  # as the worker function's init does in Lambda (leadbridge.collector)

    aws_session = aws_clients.session()  # every client the run makes comes from it
    aws_wait = float(args.get("aws_latency_ms") or 0) / 1000
    if aws_wait:

        def network_time(**_: Any) -> None:  # the round trip to an AWS endpoint, which loopback does not have
            time.sleep(aws_wait)

        # Before any client exists: a client copies the session's handlers when it is made.
        aws_session.register("before-send", network_time)
    # AWS answered in-process (BENCH_PEER_AWS=instant): the batch calls of the run get a well-formed answer from a
    # before-send hook instead of moto, so what is left is leadbridge's own work plus botocore's (serialize, sign,
    # parse), with no service time at all. Faithful for this run only: it starts over a fresh table, where a
    # BatchGetItem finds nothing for records never seen (writes are answered, not stored; the run's own reads and
    # writes of job, lease and checkpoint items still go to moto).
    answered: Counter[str] = Counter()
    answering = False
    feed_writes: list[bytes] = []
    if args.get("aws_instant"):
        aws_session.register("before-send", _instant_answer(lambda: answering, answered, feed_writes))
    profiling = bool(args.get("profile"))
    calls: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # kind -> [count, seconds summed over threads]
    sent: list[tuple[str, str, dict[str, str], bytes]] = []
    profiles: list[cProfile.Profile] = []
    recording = False  # only the run itself, not the setup below
    if profiling:
        lock = threading.Lock()
        make_api_call = botocore.client.BaseClient._make_api_call
        crm_request = SalesforceClient.request

        def timed_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
            started = time.perf_counter()
            try:
                return make_api_call(self, operation_name, api_params)
            finally:
                if recording:
                    _add(calls, lock, f"{self.meta.service_model.service_name}.{operation_name}", started)

        def timed_crm_request(self: Any, op: str, *a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return crm_request(self, op, *a, **k)
            finally:
                if recording:
                    _add(calls, lock, f"Salesforce {op}", started)

        def record_request(request: Any, **_: Any) -> None:  # the exact HTTP request, for the replay against moto
            if not recording:
                return
            body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
            headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}
            sent.append((request.method, request.url, headers, body))

        botocore.client.BaseClient._make_api_call = timed_api_call  # type: ignore[method-assign]
        SalesforceClient.request = timed_crm_request  # type: ignore[method-assign]
        # Before any client exists: a client copies the session's handlers when it is made.
        aws_session.register("before-send", record_request)

        def profile_thread(*_: Any) -> None:  # each new thread (read-ahead, overlapped writes) gets its own profiler
            profile = cProfile.Profile()
            with lock:
                profiles.append(profile)
            profile.enable()

    provider = SalesforceProvider(client_id=args["client_id"], client_secret="x", login_base=args["login_base"])
    context = ConnectionContext(tenant_id=TENANT, crm="salesforce", account_id=args["org_id"],
                                api_base=args["instance_url"])  # fmt: skip
    connector = provider.connector(context, StaticTokens(str(args["access_token"])))
    objects = [CrmObject.COMPANY] + ([CrmObject.PERSON] if "Contact" in args["sobjects"] else [])
    data = provider.default_settings().model_dump(mode="json")
    for name in ("company", "person", "deal", "activity"):
        wanted = name in {o.value for o in objects}
        data["objects"][name]["direction"] = "both" if wanted else "off"
    settings = SettingsDocument.model_validate(data)
    svc, job = full_run(
        tenant=TENANT, crm="salesforce", account_id=args["org_id"], api_base=args["instance_url"], objects=objects,
        settings=settings, connector=connector, job_id=f"peer-{args['run']}",
    )  # fmt: skip
    if profiling:
        recording = True
        threading.setprofile(profile_thread)
        main_profile = cProfile.Profile()
        profiles.append(main_profile)
        main_profile.enable()
    answering = True
    started, cpu_started = time.perf_counter(), time.process_time()
    # The per-run request budget would split a large read into continuations; here one run reads everything.
    result = process_job(svc, job, remaining_ms=lambda: 10**9, config=WorkerConfig(request_budget=10**9))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    outcome: dict[str, Any] = {}
    if profiling:
        main_profile.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        outcome["profile"] = _profile_summary(profiles)
        outcome["calls"] = {k: {"count": int(v[0]), "seconds": round(v[1], 3)} for k, v in sorted(calls.items())}
        with open(args["sent_file"], "wb") as handle:
            pickle.dump(sent, handle)
    if feed_writes:
        outcome.update(_relay_cost(feed_writes, args["env"].get("CHANGE_EVENTS", "record")))
    run = runtime.run_store().get(TENANT, job.job_id)
    assert run is not None and result.state is not None and result.state.value == "succeeded", result
    outcome.update(
        records=sum(c.read for c in run.counts.values()),
        by_object={str(k): c.read for k, c in run.counts.items()},
        failed=sum(c.failed for c in run.counts.values()),
        seconds=elapsed,
        cpu_seconds=cpu,  # every thread of the worker process: less at the mercy of scheduling than `seconds`
        crm_calls=run.crm_calls,
        aws_answered_in_process=dict(answered),
    )
    results.put(outcome)


def _instant_answer(answering: Any, answered: Counter[str], feed_writes: list[bytes]) -> Any:
    """A botocore before-send handler answering PutEvents, BatchWriteItem and BatchGetItem itself (see `_leadbridge`):
    a handler that returns a response stands in for the HTTP round trip; botocore parses it as it would AWS's. The
    BatchWriteItem requests that hold change feed chunks are kept in `feed_writes` (for the relay's cost)."""
    from botocore.awsrequest import AWSResponse

    class Body:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def stream(self, **_: Any) -> Any:
            yield self.data

    # The answers need only the number of entries and the table name, found without decoding the request: its
    # decoding is the service's work, not the worker's (it was 7 % of the worker's threads' CPU).
    table_name = re.compile(rb'"RequestItems":\s*\{\s*"([^"]+)"')

    def answer(request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        if not answering() or operation not in {"PutEvents", "BatchWriteItem", "BatchGetItem"}:
            return None
        sent = request.body or b""
        if operation == "PutEvents":  # an entry's own `"DetailType"` key: inside a Detail string its quotes are escaped
            entries = sent.count(b'"DetailType"')
            body: dict[str, Any] = {
                "FailedEntryCount": 0,
                "Entries": [{"EventId": f"bench-{i}"} for i in range(entries)],
            }
        elif operation == "BatchWriteItem":
            body = {"UnprocessedItems": {}}
            if b'"CHG#' in sent:
                feed_writes.append(sent)
        else:
            found = table_name.search(sent)
            assert found is not None, sent[:200]
            body = {"Responses": {found.group(1).decode(): []}, "UnprocessedKeys": {}}
        answered[operation] += 1
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"},
                           Body(json.dumps(body).encode()))

    return answer


def _relay_cost(feed_writes: list[bytes], mode: str) -> dict[str, Any]:
    """The CPU ChangeEventsRelayFunction spends on this run's changes (it runs in its own Lambda, after the worker's
    writes, so it is not in the run's time): every chunk the run appended, through `relay_chunk` and the real
    EventBridge publisher, whose PutEvents are answered in-process as the run's were."""
    from boto3.dynamodb.types import TypeDeserializer

    from leadbridge import runtime
    from leadbridge.inbound.change_relay import ChangeRelayServices, relay_chunk
    from leadbridge.inbound.ports import ChangeEvents
    from leadbridge.store.changes import appended_chunk

    deserializer = TypeDeserializer()
    images = [
        {k: deserializer.deserialize(v) for k, v in put["PutRequest"]["Item"].items()}
        for sent in feed_writes
        for requests in json.loads(sent)["RequestItems"].values()
        for put in requests
        if "PutRequest" in put
    ]
    chunks = [chunk for chunk in map(appended_chunk, images) if chunk is not None]
    services = ChangeRelayServices(publisher=runtime.event_publisher(), log=runtime.sync_log(), mode=ChangeEvents(mode))
    started = time.process_time()
    for chunk in chunks:
        relay_chunk(services, chunk)
    return {"relay_cpu_seconds": time.process_time() - started, "relay_changes": sum(len(c.events) for c in chunks)}


def _add(calls: dict[str, list[float]], lock: threading.Lock, kind: str, started: float) -> None:
    spent = time.perf_counter() - started
    with lock:
        entry = calls[kind]
        entry[0] += 1
        entry[1] += spent


class _Snapshot:
    """A profiler's stats without disabling it from another thread (pstats would call `create_stats`)."""

    def __init__(self, profile: cProfile.Profile) -> None:
        profile.snapshot_stats()
        self.stats = profile.stats

    def create_stats(self) -> None:
        pass


AREAS = (  # (label, path fragments of the function's file), first match wins
    ("leadbridge: inbound kernel, worker, pull", ("leadbridge/inbound/",)),
    ("leadbridge: mapping (engine, hashing, rules)", ("leadbridge/mapping/",)),
    ("leadbridge: store adapters (DynamoDB items, EventBridge entries)", ("leadbridge/store/",)),
    ("leadbridge: Salesforce connector (decode, records)", ("leadbridge/crm/",)),
    ("leadbridge: models, other", ("leadbridge/",)),
    ("pydantic (validation, model_copy, dump)", ("pydantic",)),
    ("boto3/botocore client side (serialize, sign, parse)", ("botocore/", "boto3/", "dateutil/", "jmespath/")),
    ("HTTP clients (httpx for the CRM, urllib3 for AWS)", ("httpx/", "httpcore/", "h11/", "urllib3/", "http/client",
                                                            "ssl.py", "socket.py")),
    ("json encode/decode", ("json/",)),
)


def _area(filename: str, name: str) -> str:
    if filename == "~":  # built-ins: say what they wait for
        if "acquire" in name or "wait" in name or "_queue" in name:
            return "waiting (locks, queues: an idle thread, e.g. the read-ahead reader between pages)"
        if "recv" in name or "send" in name or "select" in name or "poll" in name or "connect" in name:
            return "network I/O (CRM sandbox and moto on loopback)"
        if "json" in name or "scanner" in name or "encode" in name:
            return "json encode/decode"
        return "other built-ins"
    path = filename.replace("\\", "/")
    for label, fragments in AREAS:
        if any(f in path for f in fragments):
            return label
    return "other Python"


def _profile_summary(profiles: list[cProfile.Profile]) -> dict[str, Any]:
    stats = pstats.Stats(*[_Snapshot(p) for p in profiles])  # type: ignore[arg-type]
    by_area: dict[str, float] = defaultdict(float)
    top: list[tuple[float, float, int, str, str]] = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        area = _area(filename, name)
        by_area[area] += tottime
        where = name if filename == "~" else f"{_short(filename)}:{line} {name}"
        top.append((tottime, cumtime, calls, where, area))
    top.sort(reverse=True)
    return {
        "threads": len(profiles),
        "by_area": dict(sorted(by_area.items(), key=lambda kv: -kv[1])),
        "top": [{"self_s": round(t, 3), "cum_s": round(c, 3), "calls": n, "function": w, "area": a}
                for t, c, n, w, a in top[:20]],
    }


def _short(filename: str) -> str:
    path = filename.replace("\\", "/")
    for marker in ("site-packages/", "layers/common/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# --- the parent: sandbox, moto, pairs -----------------------------------------------------------------------------


class Bench:
    def __init__(self, accounts: int, sobjects: tuple[str, ...]) -> None:
        from local.aws import MotoServer, configure_process_env
        from local.sandbox.salesforce import SalesforceSandbox

        self.accounts = accounts
        self.sobjects = sobjects
        self.moto = MotoServer()
        self.endpoint = self.moto.start()
        configure_process_env(self.endpoint)
        self.sb = SalesforceSandbox(outbound_background=False).start()
        self.org = self.sb.add_org("Peer Bench Org", api_limit=10**9).org_id
        self.sb.add_user(self.org, ADMIN, is_admin=True)
        self.sb.add_custom_field(self.org, "Account", "Lead_Score__c", "double", label="Lead Score")
        self.app = self.sb.register_app(["https://bench.example/callback"], client_secret="peer-s3cret")
        for i in range(accounts):
            account = self.sb.create(self.org, "Account", {
                "Name": f"Peer Firma {i:06d} ApS", "Website": f"https://firma{i}.peer.dk", "Phone": "+45 33 12 34 56",
                "AccountNumber": str(30000000 + i), "BillingStreet": f"Vestergade {i % 200 + 1}",
                "BillingPostalCode": "1050", "BillingCity": "København K", "BillingCountry": "Denmark",
                "NumberOfEmployees": 10 + i % 500, "AnnualRevenue": 1_000_000 + i, "Lead_Score__c": i % 100,
                "Description": "Growing fast.",
            })  # fmt: skip
            if "Contact" in sobjects:
                self.sb.create(self.org, "Contact", {
                    "FirstName": "Per", "LastName": f"Son {i}", "Title": "CEO", "Email": f"per{i}@firma{i}.peer.dk",
                    "Phone": "+45 22 30 40 50", "MobilePhone": "+45 22 30 40 51", "AccountId": account,
                })  # fmt: skip
        self.tokens = self.sb.issue_tokens(self.org, ADMIN, self.app.client_id)
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-peer-"))
        self.catalog = self._catalog()
        self.latency_fault: Any = None

    def close(self) -> None:
        self.sb.stop()
        self.moto.stop()

    def set_latency(self, ms: int) -> None:
        if self.latency_fault is not None:
            self.sb.faults.clear(self.latency_fault.id)
            self.latency_fault = None
        if ms:  # every REST request of the org (both tools' logins go to the token endpoint, not delayed)
            self.latency_fault = self.sb.inject_fault("latency", seconds=ms / 1000, count=None, org_id=self.org)

    def _config(self) -> Path:
        path = self.workdir / "tap-config.json"
        path.write_text(json.dumps({
            "refresh_token": self.tokens["refresh_token"], "client_id": self.app.client_id,
            "client_secret": self.app.client_secret, "start_date": "2000-01-01T00:00:00Z", "api_type": "REST",
            "select_fields_by_default": True,
        }), encoding="utf-8")  # fmt: skip
        return path

    def _tap(self, *arguments: str, stdout: Any) -> subprocess.CompletedProcess[str]:
        command = [str(TAP_VENV / "bin" / "python"), "-c", TAP_WRAPPER, self.sb.login_base,
                   "--config", str(self._config()), *arguments]  # fmt: skip
        return subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)  # noqa: S603

    def _catalog(self) -> Path:
        """The tap's own discovery, with the case's streams and all their supported fields selected, full table."""
        found = self._tap("--discover", stdout=subprocess.PIPE)
        if found.returncode:
            raise RuntimeError(f"tap-salesforce --discover failed: {found.stderr[-2000:]}")
        catalog = json.loads(found.stdout)
        streams = []
        for stream in catalog["streams"]:
            if stream["tap_stream_id"] not in self.sobjects:
                continue
            for entry in stream["metadata"]:
                meta = entry["metadata"]
                if entry["breadcrumb"] == []:
                    meta.update({"selected": True, "replication-method": "FULL_TABLE"})
                    meta.pop("replication-key", None)
                elif meta.get("inclusion") != "unsupported":
                    meta["selected"] = True
            streams.append(stream)
        streams.sort(key=lambda s: self.sobjects.index(s["tap_stream_id"]))  # Accounts first, as leadbridge reads
        path = self.workdir / "catalog.json"
        path.write_text(json.dumps({"streams": streams}), encoding="utf-8")
        return path

    def _calls(self) -> int:
        return sum(n for op, n in self.sb.call_counts(self.org).items() if "/query" in op)

    def _forget_locators(self) -> None:
        with self.sb.lock:  # every query keeps its rendered rows for paging; runs here never come back to them
            self.sb.query_locators.clear()

    def run_tap(self) -> dict[str, Any]:
        self._forget_locators()
        before = self._calls()
        out = self.workdir / "tap-stdout.jsonl"
        with out.open("w", encoding="utf-8") as stdout:
            done = self._tap("--properties", str(self.catalog), stdout=stdout)
        if done.returncode:
            raise RuntimeError(f"tap-salesforce failed ({done.returncode}): {done.stderr[-2000:]}")
        counts: dict[str, int] = defaultdict(int)
        with out.open("rb") as lines:
            for line in lines:
                if line.startswith(b'{"type": "RECORD"'):
                    counts[json.loads(line)["stream"]] += 1
        seconds = next(float(line.split("=", 1)[1]) for line in done.stderr.splitlines()
                       if line.startswith("PEER_TAP_SECONDS="))  # fmt: skip
        return {"records": sum(counts.values()), "by_object": dict(counts), "seconds": seconds,
                "crm_calls": self._calls() - before}  # fmt: skip

    def fresh_aws(self) -> dict[str, str]:
        from local.aws import create_resources, reset_moto
        from local.template import SamTemplate

        reset_moto(self.endpoint)
        resources = create_resources(SamTemplate(ROOT / "template.yaml"), self.endpoint)
        env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "BOTO"))}
        env.update(resources.environment)
        env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        return env

    def run_leadbridge(self, run: str, *, profile: bool = False, aws_latency_ms: int = 0,
                       aws_instant: bool = False, change_events: str = "record") -> dict[str, Any]:
        self._forget_locators()
        code = _leadbridge_code()
        args = {
            "env": {**self.fresh_aws(), "CHANGE_EVENTS": change_events},
            "access_token": self.tokens["access_token"],
            "client_id": self.app.client_id,
            "login_base": self.sb.login_base,
            "instance_url": self.sb.instance_url,
            "org_id": self.org,
            "sobjects": list(self.sobjects),
            "run": run,
            "profile": profile,
            "aws_latency_ms": aws_latency_ms,
            "aws_instant": aws_instant,
            "sent_file": str(self.workdir / "aws-requests.pickle"),
        }
        before = self._calls()
        spawn = multiprocessing.get_context("spawn")
        results = spawn.Queue()
        # By its importable name, so the child process can find the function (the runner loads files by path).
        target = importlib.import_module("benchmarks.bench_peer")._leadbridge
        child = spawn.Process(target=target, args=(args, results))
        child.start()
        outcome: dict[str, Any] = results.get(timeout=7200)
        child.join(timeout=60)
        outcome["sandbox_crm_calls"] = self._calls() - before
        outcome["leadbridge_code"] = code
        return outcome

    def replay_aws(self) -> dict[str, Any]:
        """The AWS requests of the profiled run, sent again one after another to a fresh moto: what the stand-in
        itself costs (loopback HTTP and moto's handling), with leadbridge out of the picture."""
        import http.client
        from urllib.parse import urlsplit

        self.fresh_aws()
        with open(self.workdir / "aws-requests.pickle", "rb") as handle:
            sent: list[tuple[str, str, dict[str, str], bytes]] = pickle.load(handle)  # noqa: S301 - our own file
        by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])  # count, seconds, answers >= 400
        target = urlsplit(self.endpoint)
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
        for method, url, headers, body in sent:
            parts = urlsplit(url)
            kind = headers.get("X-Amz-Target", "").split(".")[-1] or parts.netloc.split(".")[0]
            if not headers.get("X-Amz-Target") and b"Action=" in body:
                kind = body.split(b"Action=", 1)[1].split(b"&", 1)[0].decode()
            started = time.perf_counter()
            connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                               headers=headers)  # fmt: skip
            response = connection.getresponse()
            response.read()
            entry = by_kind[kind]
            entry[0] += 1
            entry[1] += time.perf_counter() - started
            entry[2] += response.status >= 400  # e.g. a conditional put refused, as it was in the run
        connection.close()
        return {k: {"count": int(v[0]), "seconds": round(v[1], 3), "errors": int(v[2])}
                for k, v in sorted(by_kind.items())}  # fmt: skip


def run() -> str:
    accounts = int(os.environ.get("BENCH_PEER_ACCOUNTS", "10000"))
    pairs = int(os.environ.get("BENCH_PEER_PAIRS", "3"))
    cases = [c.strip() for c in os.environ.get("BENCH_PEER_CASES", "accounts,contacts").split(",") if c.strip()]
    latencies = [int(v) for v in os.environ.get("BENCH_PEER_LATENCIES", "0,50").split(",") if v.strip()]
    profile = os.environ.get("BENCH_PEER_PROFILE", "1") != "0"
    aws_latency = int(os.environ.get("BENCH_PEER_AWS_LATENCY_MS", "0"))
    aws_instant = os.environ.get("BENCH_PEER_AWS", "moto") == "instant"
    change_events = os.environ.get("BENCH_PEER_EVENTS", "record")
    unknown = set(cases) - set(CASES)
    if unknown:
        raise SystemExit(f"BENCH_PEER_CASES: no case {sorted(unknown)} (have {sorted(CASES)})")
    _ensure_tap()
    for case in cases:
        print(f"  peer: seeding {accounts:,} Accounts{' + Contacts' if case == 'contacts' else ''} ...", flush=True)
        bench = Bench(accounts, CASES[case])
        try:
            for latency in latencies:
                bench.set_latency(latency)
                measured: list[dict[str, Any]] = []
                for pair in range(pairs):
                    order = ("leadbridge", "tap") if pair % 2 == 0 else ("tap", "leadbridge")
                    got: dict[str, dict[str, Any]] = {}
                    for tool in order:
                        run_id = f"{case}-{latency}-{pair}"
                        got[tool] = (bench.run_leadbridge(run_id, aws_latency_ms=aws_latency, aws_instant=aws_instant,
                                                          change_events=change_events)
                                     if tool == "leadbridge" else bench.run_tap())  # fmt: skip
                    measured.append(_pair(case, accounts, latency, pair, order, got["leadbridge"], got["tap"]))
                    measured[-1]["aws_latency_ms"] = aws_latency
                    if change_events != "record":
                        measured[-1]["change_events"] = change_events
                    measured[-1]["change_events_by"] = "relay"  # the worker puts no change on the bus itself
                    if aws_instant:
                        measured[-1]["aws"] = "instant"
                        measured[-1]["aws_answered_in_process"] = got["leadbridge"]["aws_answered_in_process"]
                    print("  " + _pair_line(measured[-1]), flush=True)
                    _keep(measured)
            if profile and case == cases[-1]:
                print("  peer: one profiled leadbridge run (0 ms) ...", flush=True)
                bench.set_latency(0)
                profiled = bench.run_leadbridge(f"{case}-profile", profile=True)
                profiled["replay"] = bench.replay_aws()
                profiled.update(case=case, accounts=accounts, measured_at=_now(), command=_command())
                PROFILE_RESULT.write_text(json.dumps(profiled, indent=1) + "\n", encoding="utf-8")
        finally:
            bench.close()
    return _render(_kept(), _kept_profile())


def _ensure_tap() -> None:
    """`make bench` makes the tap's virtualenv first; a direct run (`benchmarks/run.py peer`) makes it the same way."""
    if not TAP_STAMP.exists():
        subprocess.run(["make", "-s", str(TAP_STAMP.relative_to(ROOT))], cwd=ROOT, check=True)  # noqa: S603, S607


def _leadbridge_code() -> str:
    """Which leadbridge ran: the commit, plus a digest of uncommitted changes to the shared layer (the working tree
    may hold work in progress, e.g. on the inbound kernel, when a pair is measured)."""

    def git(*arguments: str) -> bytes:
        return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, check=False).stdout  # noqa: S603, S607

    commit = git("rev-parse", "--short=10", "HEAD").decode().strip() or "unknown"
    diff = git("diff", "HEAD", "--", "layers/common/leadbridge")
    return f"{commit}+uncommitted:{hashlib.sha256(diff).hexdigest()[:8]}" if diff.strip() else commit


def _pair(case: str, accounts: int, latency: int, pair: int, order: tuple[str, ...], lb: dict[str, Any],
          tap: dict[str, Any]) -> dict[str, Any]:
    if lb["records"] != tap["records"]:
        raise RuntimeError(f"the tools read different record counts: leadbridge {lb['by_object']}, tap "
                           f"{tap['by_object']}")  # fmt: skip
    leadbridge_rps = lb["records"] / lb["seconds"]
    tap_rps = tap["records"] / tap["seconds"]
    return {
        "case": case,
        "objects": list(CASES[case]),
        "accounts": accounts,
        "records": lb["records"],
        "latency_ms": latency,
        "pair": pair + 1,
        "first": order[0],
        "leadbridge_seconds": round(lb["seconds"], 3),
        "leadbridge_cpu_seconds": round(lb["cpu_seconds"], 3),
        "tap_seconds": round(tap["seconds"], 3),
        "leadbridge_rps": round(leadbridge_rps, 1),
        "tap_rps": round(tap_rps, 1),
        "ratio": round(leadbridge_rps / tap_rps, 4),
        **({"relay_cpu_seconds": round(lb["relay_cpu_seconds"], 3), "relay_changes": lb["relay_changes"]}
           if "relay_cpu_seconds" in lb else {}),
        "leadbridge_crm_calls": lb["sandbox_crm_calls"],
        "tap_crm_calls": tap["crm_calls"],
        "leadbridge_failed": lb["failed"],
        "leadbridge_code": lb["leadbridge_code"],
        "measured_at": _now(),
        "command": _command(),
    }


def _pair_line(p: dict[str, Any]) -> str:
    return (f"{p['case']} {p['records']:,} records, {p['latency_ms']} ms, pair {p['pair']} ({p['first']} first): "
            f"leadbridge {p['leadbridge_rps']:.0f}/s, tap {p['tap_rps']:.0f}/s, ratio {p['ratio']:.3f}")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _command() -> str:
    settings = " ".join(f"{name}={os.environ[name]}" for name in VARIABLES if name in os.environ)
    return f"{settings} .venv/bin/python benchmarks/run.py peer".strip()


def _kept() -> list[dict[str, Any]]:
    return json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else []


def _kept_profile() -> dict[str, Any] | None:
    return json.loads(PROFILE_RESULT.read_text(encoding="utf-8")) if PROFILE_RESULT.exists() else None


def _keep(measured: list[dict[str, Any]]) -> None:
    """Keep this series' pairs (so far) in place of what an earlier measurement kept for the same case, size and
    latency."""
    kept = [p for p in _kept() if _series(p) != _series(measured[0])]
    kept.extend(measured)
    kept.sort(key=lambda p: (*_series(p), p["pair"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    temporary = RESULTS.with_suffix(".tmp")
    temporary.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
    temporary.replace(RESULTS)


def _series(p: dict[str, Any]) -> tuple[int, int, int, int, str, str, str]:
    """The case a pair belongs to: objects, size, CRM latency, AWS latency (0 for pairs kept before it existed), who
    answers AWS calls (moto, or `instant`: the run's batch calls answered in-process), the bus events of changes
    (`record`, or `summary`: one per page), and who puts them on the bus (`worker` before the change feed became the
    bus's outbox; `relay`: ChangeEventsRelayFunction, outside the run)."""
    return (list(CASES).index(p["case"]), p["accounts"], p["latency_ms"], p.get("aws_latency_ms", 0),
            p.get("aws", "moto"), p.get("change_events", "record"), p.get("change_events_by", "worker"))


def _relay_note(series: list[dict[str, Any]]) -> str:
    """The relay's CPU per change, measured after each run in-process (`_relay_cost`), where it was."""
    costs = [p["relay_cpu_seconds"] / p["relay_changes"] * 1e6 for p in series if p.get("relay_changes")]
    return f" (relay: {statistics.median(costs):,.0f} µs CPU per change, outside the run)" if costs else ""


def _spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):,.{digits}f} to {max(values):,.{digits}f}" if len(values) > 1 else "-"


def _render(kept: list[dict[str, Any]], profile: dict[str, Any] | None) -> str:
    groups: dict[tuple[int, int, int, int, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in kept:
        groups[_series(p)].append(p)
    rows = []
    for (case_index, accounts, latency, aws_latency, aws, change_events, events_by), series in groups.items():
        case = list(CASES)[case_index]
        lb = [p["leadbridge_rps"] for p in series]
        tap = [p["tap_rps"] for p in series]
        ratio = [p["ratio"] for p in series]
        first = series[0]
        rows.append(
            f"| {CASE_LABELS[case]} ({accounts:,} Accounts) | {first['records']:,} | {latency} ms"
            f"{f' (AWS +{aws_latency} ms)' if aws_latency else ''}"
            f"{' (AWS batch calls answered in-process)' if aws == 'instant' else ''}"
            f"{f' (ChangeEvents={change_events})' if change_events != 'record' else ''}"
            f"{' (change events put on the bus by the worker)' if events_by == 'worker' else ''}"
            f"{_relay_note(series)} | {len(series)} "
            f"| {statistics.median(lb):,.0f} ({_spread(lb)}) | {statistics.median(tap):,.0f} ({_spread(tap)}) "
            f"| **{statistics.median(ratio):.3f}** ({_spread(ratio, 3)}) "
            f"| {first['leadbridge_crm_calls']} / {first['tap_crm_calls']} | {series[-1]['measured_at']} |"
        )
    table = "\n".join(rows) or "| - | - | - | - | - | - | - | - | - |"
    commands = "; ".join(dict.fromkeys(f"`{p['command']}`" for p in kept)) or "-"
    codes = ", ".join(dict.fromkeys(f"`{p['leadbridge_code']}`" for p in kept if p.get("leadbridge_code"))) or "-"
    return f"""
leadbridge's sync worker and [tap-salesforce](https://pypi.org/project/tap-salesforce/) {TAP_VERSION} (REST API,
full table, every field selected) read the same records from the Salesforce sandbox, one tool after the other in
pairs (the first tool alternates), at 0 ms and with 50 ms added to every Salesforce REST request ("AWS +N ms": N ms
added to each of leadbridge's AWS calls as well, `BENCH_PEER_AWS_LATENCY_MS`). Both make one query
request per 2,000-row page. records/s: leadbridge = records read / `process_job` time in a fresh worker process over a
fresh moto; tap = RECORD messages / time in its `main()` (its stdout to a file). ratio = leadbridge / tap per pair
(≥ 1.0: leadbridge is at least as fast). Every pair is in `benchmarks/results/peer.json`; median (min to max) below.

{HEADER}
{table}

Made by: {commands}; leadbridge code measured: {codes} (the commit, `+uncommitted:<digest>` when the shared layer
had uncommitted changes). `BENCH_PEER_ACCOUNTS` (default 10,000), `BENCH_PEER_PAIRS` (3), `BENCH_PEER_CASES`
(`accounts,contacts`), `BENCH_PEER_LATENCIES` (ms, `0,50`); `make bench` installs the tap (pinned, `.venv-bench-tap`).

What the two runs do with a record (the ratio compares unequal work):
- **tap-salesforce** decodes the page, applies its JSON schema transform and writes one Singer RECORD line to stdout.
  Nothing else: no state per record, no change detection (every run re-emits every row), no events; its bookmark is
  the STATE message a downstream target must store, and a full-table read starts over when interrupted. In a
  pipeline a Singer target then loads those lines somewhere; that cost is not in the tap's number.
- **leadbridge** decodes the page into typed records; looks up each record's stored state and link (batched reads);
  maps the CRM fields to app fields and hashes each field (no-op and echo suppression, conflict policy, direction);
  writes a change-feed item and a sync-log entry for each new or changed record (batched), then the record's state,
  guarded so that an older change never overwrites a newer one; and saves a checkpoint per page so a run interrupted
  at any point resumes at the page it was on. A second run over unchanged records reports nothing. All of that goes
  to DynamoDB (here moto on loopback, sharing the 2 cores). The changes' EventBridge events are put on the bus by
  ChangeEventsRelayFunction from the table's stream (the feed is the bus's outbox), in its own Lambda after the
  writes: not in the run's time. Rows marked "put on the bus by the worker" were measured before that, when the
  worker made those PutEvents calls itself; with AWS answered in-process, a row says the relay's own CPU per change
  (its PutEvents answered in-process too).
{_render_profile(profile)}
"""


def _render_profile(profile: dict[str, Any] | None) -> str:
    if not profile:
        return ""
    records, seconds = profile["records"], profile["seconds"]
    areas = "\n".join(f"| {area} | {s:.1f} s |" for area, s in profile["profile"]["by_area"].items() if s >= 0.05)
    top = "\n".join(f"| `{t['function']}` | {t['self_s']:.2f} s | {t['calls']:,} | {t['area']} |"
                    for t in profile["profile"]["top"][:12])  # fmt: skip
    calls = profile["calls"]
    crm = {k: v for k, v in calls.items() if k.startswith("Salesforce")}
    aws = {k: v for k, v in calls.items() if not k.startswith("Salesforce")}
    call_rows = "\n".join(f"| {k} | {v['count']:,} | {v['seconds']:.1f} s | {1000 * v['seconds'] / v['count']:.1f} ms |"
                          for k, v in sorted({**crm, **aws}.items(), key=lambda kv: -kv[1]["seconds"]))  # fmt: skip
    replay = profile["replay"]
    replay_total = sum(v["seconds"] for v in replay.values())
    replay_rows = "\n".join(f"| {k} | {v['count']:,} | {v['seconds']:.1f} s | {v.get('errors', 0)} |"
                            for k, v in sorted(replay.items(), key=lambda kv: -kv[1]["seconds"]))  # fmt: skip
    aws_total = sum(v["seconds"] for v in aws.values())
    case = (profile["case"], profile["accounts"], 0)
    same = [p for p in _kept() if _series(p) == (list(CASES).index(case[0]), case[1], 0, 0, "moto", "record")]
    floor = ""
    if same:
        lb_ms = 1000 / statistics.median(p["leadbridge_rps"] for p in same)
        tap_ms = 1000 / statistics.median(p["tap_rps"] for p in same)
        moto_ms = 1000 * replay_total / records
        floor = (
            f"Per record, at 0 ms: leadbridge's run {lb_ms:.2f} ms (median of its pairs); moto alone, the same "
            f"requests one at a time, {moto_ms:.2f} ms (the run overlaps some of them); the whole tap run "
            f"{tap_ms:.2f} ms. moto "
            "answers from one process on the 2 cores the worker also uses, so while leadbridge sends these requests "
            f"to moto its records/s cannot pass about {1000 / moto_ms:,.0f} here (a ratio of {tap_ms / moto_ms:.2f} "
            "against the tap's median) even if its own work cost nothing; in AWS that time is DynamoDB's and "
            "EventBridge's, spread over their fleet."
        )
    crm_total = sum(v["seconds"] for v in crm.values())
    return f"""
### Where leadbridge's time goes

One more leadbridge run of the last case ({CASE_LABELS[profile['case']]}, {records:,} records, 0 ms), with every
thread under cProfile (so it is slower: {seconds:.1f} s, {records / seconds:.0f} records/s) and the wall time of each
CRM request and AWS call counted in whichever thread made it (the read-ahead thread reads the next page while the
main thread applies one, and some writes overlap, so these can add up to more than the run).
Measured {profile['measured_at']} (`{profile['command']}`, leadbridge `{profile.get('leadbridge_code', '?')}`).

Calls (wall time summed over threads): CRM requests {crm_total:.1f} s, AWS calls {aws_total:.1f} s.

| call | count | wall time | per call |
|---|---|---|---|
{call_rows}

The same {sum(v['count'] for v in replay.values()):,} AWS requests (byte for byte) sent again one after another to a
fresh moto, nothing else running: **{replay_total:.1f} s**, the stand-in's own cost (loopback HTTP and moto's
handling; AWS's own service time would replace it in a deployment).

| AWS request | count | moto alone | answers ≥ 400 |
|---|---|---|---|
{replay_rows}

{floor}

CPU and waits by area (self time in every profiled thread, {profile['profile']['threads']} threads):

| area | self time |
|---|---|
{areas}

Top functions by self time:

| function | self time | calls | area |
|---|---|---|---|
{top}
"""


if __name__ == "__main__":
    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        sys.path.insert(0, path)
    print(run())
