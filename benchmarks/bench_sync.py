"""Inbound scheduled sync of changed companies with persons from the SuperOffice sandbox: throughput, CRM calls and
DynamoDB writes per record, and the worker's peak memory.

Setup: moto (DynamoDB, SQS, EventBridge from template.yaml) and the SuperOffice sandbox run in this process; the
worker runs in a fresh child process per case (`process_job` with the real connector, inbound kernel, DynamoDB stores
and EventBridge publisher), so its peak RSS is the worker's alone. The sandbox holds N companies with one person each,
all changed since the checkpoint: one incremental run reads 2N records. CRM calls are the connector's own count,
DynamoDB writes are counted on the worker's botocore client (PutItem, UpdateItem, DeleteItem, batch/transact writes).

Sizes: `BENCH_SYNC_SIZES` (companies, default "250,1000") at 0 ms, and `BENCH_SYNC_LATENT_SIZES` (default "250") with
50 ms added to every SuperOffice request. Larger sizes are extrapolated in the output, and marked as such.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CTX = "Cust48001"
ADMIN = "admin@bench-sync.test"
TENANT = "bench-sync"
LATENCY = 0.05
TABLE_HEADER = (
    "| changed companies | added latency per CRM request | records read | records/s | CRM calls / record "
    "| DynamoDB writes / record | worker memory growth during the run | failed |\n|---|---|---|---|---|---|---|---|"
)


def _sizes(name: str, default: str) -> list[int]:
    return [int(v) for v in (os.environ.get(name) or default).split(",") if v.strip()]


def _worker(args: dict[str, Any], results: Any) -> None:
    """Child process: one incremental run over everything, measured."""
    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        sys.path.insert(0, path)
    os.environ.update(args["env"])
    import boto3

    from leadbridge import runtime
    from leadbridge.crm.base import ConnectionContext
    from leadbridge.crm.defaults import default_settings
    from leadbridge.crm.superoffice import SuperOfficeProvider
    from leadbridge.models.connection import Connection, ConnectionStatus
    from leadbridge.models.crm import CrmObject
    from leadbridge.models.settings import SettingsDocument
    from leadbridge.store.checkpoints import Checkpoint, SyncMarks
    from leadbridge.sync.worker import EPOCH, RunJob, WorkerServices, process_job

    writes = {"count": 0}
    write_ops = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
    boto3.setup_default_session()

    def count(event_name: str, **_: Any) -> None:
        if event_name.rsplit(".", 1)[-1] in write_ops:
            writes["count"] += 1

    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", count)  # type: ignore[attr-defined]

    class StaticTokens:
        def access_token(self) -> str:
            return str(args["access_token"])

        def refresh_after_unauthorized(self, rejected_token: str) -> str:
            raise RuntimeError("the benchmark token expired")

    provider = SuperOfficeProvider(client_id=args["client_id"], client_secret="x", login_base=args["login_base"])
    context = ConnectionContext(tenant_id=TENANT, crm="superoffice", account_id=CTX, api_base=args["api_base"])
    connector = provider.connector(context, StaticTokens())
    data = default_settings("superoffice").model_dump(mode="json")
    for obj in ("company", "person"):
        data["objects"][obj]["direction"] = "both"
        for mapping in data["field_mappings"][obj]:
            if len(mapping["app_fields"]) == 1 and not mapping["transforms"]:
                mapping["direction"] = "both"
    settings = SettingsDocument.model_validate(data)
    connection = Connection(
        tenant_id=TENANT, crm="superoffice", status=ConnectionStatus.CONNECTED, account_id=CTX,
        api_base=args["api_base"], secret_name="bench", connected_by="bench", connected_at=datetime.now(UTC),
        connection_key="b" * 32,
    )  # fmt: skip
    runtime.connection_store().save(connection)
    checkpoints = runtime.checkpoint_store()
    now = datetime.now(UTC)
    # An established connection: housekeeping done, every record changed since the checkpoint.
    checkpoints.save_marks(SyncMarks(tenant=TENANT, crm="superoffice", first_run_at=now, housekeeping_at=now))
    for obj in (CrmObject.COMPANY, CrmObject.PERSON):
        checkpoints.save(Checkpoint(tenant=TENANT, crm="superoffice", object=obj, since=EPOCH + timedelta(hours=1)))
    svc = WorkerServices(
        runs=runtime.run_store(),
        checkpoints=checkpoints,
        inbound=runtime.inbound_services(),
        connections=runtime.connection_store(),
        settings=lambda tenant, crm: settings,
        connector=lambda c: connector,
        publisher=runtime.event_publisher(),
        queue=runtime.sync_job_queue(),
    )
    job = RunJob(
        job_id=f"bench-{args['companies']}-{args['latency']}", tenant_id=TENANT, crm="superoffice",
        trigger="manual", scheduled_for=now, enqueued_at=now, objects=[CrmObject.COMPANY, CrmObject.PERSON],
    )  # fmt: skip
    writes["count"] = 0
    rss_before = _rss_kb()
    started = time.perf_counter()
    result = process_job(svc, job, remaining_ms=lambda: 10**9)
    elapsed = time.perf_counter() - started
    run = runtime.run_store().get(TENANT, job.job_id)
    assert run is not None and result.state is not None and result.state.value == "succeeded", result
    records = sum(c.read for c in run.counts.values())
    import resource

    results.put(
        {
            "records": records,
            "seconds": elapsed,
            "crm_calls": run.crm_calls,
            "writes": writes["count"],
            "rss_before_mb": rss_before / 1024,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "failed": sum(c.failed for c in run.counts.values()),
        }
    )


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _case(companies: int, latency: float) -> dict[str, Any]:
    from local.aws import MotoServer, configure_process_env, create_resources, reset_moto
    from local.sandbox.superoffice import SuperOfficeSandbox
    from local.template import SamTemplate

    moto = MotoServer()
    endpoint = moto.start()
    reset_moto(endpoint)  # moto's backends are per process, not per server
    configure_process_env(endpoint)
    resources = create_resources(SamTemplate(ROOT / "template.yaml"), endpoint)
    sandbox = SuperOfficeSandbox(spec_check=False, webhooks_enabled=False).start()
    try:
        app = sandbox.register_app(["https://bench.example/callback"])
        sandbox.add_customer(CTX, "Bench Sync AS", api_host=0)
        sandbox.add_user(CTX, ADMIN, associate_id=5, full_name="Bench Admin", is_admin=True)
        for i in range(companies):
            company = sandbox.create(CTX, "contact", {"Name": f"Bench Firma {i:06d}", "OrgNr": f"{30000000 + i}"})
            sandbox.create(
                CTX, "person",
                {"Firstname": "Per", "Lastname": f"Son {i}", "Contact": {"ContactId": company["ContactId"]},
                 "Emails": [{"Value": f"per{i}@bench.dk"}]},
            )  # fmt: skip
        tokens = sandbox.issue_tokens(CTX, ADMIN, app.client_id)
        if latency:
            sandbox.inject_fault("latency", seconds=latency, count=None, path_prefix="/api/v1/", ctx=CTX)
        env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "BOTO"))}
        env.update(resources.environment)
        env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        args = {
            "env": env,
            "access_token": tokens["access_token"],
            "client_id": app.client_id,
            "login_base": sandbox.login_base,
            "api_base": sandbox.webapi_url(CTX),
            "companies": companies,
            "latency": latency,
        }
        spawn = multiprocessing.get_context("spawn")
        results = spawn.Queue()
        # By its importable name, so the child process can find the function (the runner loads files by path).
        target = importlib.import_module("benchmarks.bench_sync")._worker
        child = spawn.Process(target=target, args=(args, results))
        child.start()
        outcome: dict[str, Any] = results.get(timeout=3600)
        child.join(timeout=60)
        return outcome
    finally:
        sandbox.stop()
        moto.stop()


def run() -> str:
    cases = [(n, 0.0) for n in _sizes("BENCH_SYNC_SIZES", "250,1000")]
    cases += [(n, LATENCY) for n in _sizes("BENCH_SYNC_LATENT_SIZES", "250")]
    rows = []
    measured: dict[float, list[dict[str, Any]]] = {}
    for companies, latency in cases:
        print(f"  sync: {companies} companies + persons, {latency * 1000:.0f} ms ...", flush=True)
        r = _case(companies, latency)
        r["companies"], r["latency"] = companies, latency
        measured.setdefault(latency, []).append(r)
        rows.append(
            f"| {companies:,} (+{companies:,} persons) | {latency * 1000:.0f} ms | {r['records']:,} "
            f"| {r['records'] / r['seconds']:.0f} | {r['crm_calls'] / r['records']:.3f} "
            f"| {r['writes'] / r['records']:.2f} | {r['peak_mb'] - r['rss_before_mb']:.1f} MB "
            f"(peak RSS {r['peak_mb']:.0f} MB) | {r['failed']} |"
        )
    extrapolated = []
    for latency, results in measured.items():
        largest = max(results, key=lambda x: x["records"])
        per_record = largest["seconds"] / largest["records"]
        for companies in (10_000, 100_000):
            if any(x["companies"] >= companies for x in results):
                continue
            extrapolated.append(
                f"| {companies:,} (+{companies:,} persons) | {latency * 1000:.0f} ms | "
                f"~{2 * companies * per_record / 60:.0f} min | from {largest['companies']:,} companies: "
                f"{per_record * 1000:.1f} ms per record, linear (paging is keyset, memory is per page) |"
            )
    sizes = sorted({r["companies"] for rs in measured.values() for r in rs})
    memory = ", ".join(
        f"{r['companies']:,}: +{r['peak_mb'] - r['rss_before_mb']:.1f} MB" for r in measured.get(0.0, [])
    )
    return f"""
One incremental run (`process_job`, real SuperOffice connector with page size 1,000, inbound kernel, DynamoDB in moto,
EventBridge in moto) over N changed companies with one person each (2N records), in a fresh worker process per case.
moto and the sandbox share the other process; 2 cores in all.

{TABLE_HEADER}
{chr(10).join(rows)}

Measured sizes: {', '.join(f'{s:,}' for s in sizes)} companies. Larger runs were **not measured** on this 2-core
machine: moto answers each DynamoDB call in milliseconds and its queries walk the whole table, so its cost per record
grows with the table (a 4,000-company run did not finish in 20 minutes). Extrapolated linearly from the largest
measured run: optimistic for moto; on AWS, DynamoDB calls do not slow down as the table grows:

| changed companies | added latency | estimated run time | basis |
|---|---|---|---|
{chr(10).join(extrapolated) or '| - | - | - | all sizes measured |'}

Reading the numbers:
- **CRM calls per record ≈ 1**: one archive query per 1,000 ids plus one `GET /{{Entity}}/{{id}}` per record. The
  SuperOffice REST API has no bulk entity read, so this is the floor for full records (custom fields included); the
  connector overlaps 4 GETs at a time, so at 50 ms a page costs ~1,000 x 50 ms / 4 of CRM time.
- **DynamoDB writes per record ≈ 3**: record state (the ordering gate), change-feed item, sync-log entry; plus one
  checkpoint and one run item per page of 1,000 (0.002 per record).
- **Memory** grows with the page, not the record count ({memory}): the run holds one page of records, the
  checkpoint and the counts. A run longer than the Lambda time continues itself from the checkpoint.
- At 0 ms the time goes to DynamoDB round trips in moto (~6 calls per record, sequential per record); at 50 ms to
  the CRM. Throughput in AWS is bound by the CRM's latency and the request budget (20,000 calls per run by default).
"""


if __name__ == "__main__":
    for path in (str(ROOT), str(ROOT / "layers" / "common")):
        sys.path.insert(0, path)
    print(run())
