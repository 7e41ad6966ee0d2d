"""Starting and reading sync runs (`POST /sync-runs`, `GET /sync-runs`, `GET /sync-runs/{id}`).

A manual run takes the connection's run lease when it is accepted, so a second `POST` while one is queued or running
gets 409 naming it; the worker keeps the lease until the run ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from leadbridge.errors import Conflict, ConnectionMissing, NeedsReauth, NotFound, StoreUnavailable
from leadbridge.inbound.jobs import RunJob
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.runs import RunState, StartRunRequest, SyncRun, SyncRunPage
from leadbridge.store.ports import DelayedQueue, RunStore

QUEUED_LEASE_SECONDS = 960  # a queued run keeps the connection until the worker picks it up and extends the lease


class Connections(Protocol):
    def get(self, tenant_id: str, crm: str) -> Connection | None: ...

    def list(self, tenant_id: str) -> list[Connection]: ...


@dataclass(frozen=True)
class RunServices:
    runs: RunStore
    connections: Connections
    queue: DelayedQueue
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def resolve_crm(svc: RunServices, tenant: str, crm: str | None) -> str:
    # Imported here: the export package (its models, mapping) is ~0.05 s of the runs API's and worker's cold start.
    from leadbridge.export import only_connected_crm

    return crm or only_connected_crm(svc.connections.list(tenant), tenant, needed_for="its data can be synced")


def start_run(svc: RunServices, tenant: str, request: StartRunRequest, *, requested_by: str | None) -> SyncRun:
    """Queue a manual run now. Raises Conflict (409) while another run of the connection is queued or running."""
    crm = resolve_crm(svc, tenant, request.crm)
    connection = svc.connections.get(tenant, crm)
    if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
        raise ConnectionMissing(f"No {crm} account is connected; an admin must connect one.", details={"crm": crm})
    if connection.status is ConnectionStatus.NEEDS_REAUTH:
        raise NeedsReauth(f"The {crm} connection must be re-authorised by an admin before it can sync.")
    now = svc.clock()
    run_id = str(uuid.uuid4())
    holder = svc.runs.acquire(tenant, crm, run_id, seconds=QUEUED_LEASE_SECONDS)
    if holder is not None:
        raise Conflict(
            f"A sync run of this {crm} connection is already queued or running.",
            details={"run_id": holder, "hint": f"Follow it with GET /sync-runs/{holder}; start another when it ends."},
        )
    objects = list(dict.fromkeys(request.objects)) if request.objects else None
    run = SyncRun(
        id=run_id,
        tenant=tenant,
        crm=crm,
        trigger="manual",
        objects=objects,
        full=request.full,
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
    )
    svc.runs.create(run)
    job = RunJob(
        job_id=run_id,
        tenant_id=tenant,
        crm=crm,
        trigger="manual",
        scheduled_for=now,
        enqueued_at=now,
        run_id=run_id,
        objects=objects,
        full=request.full,
    )
    try:
        svc.queue.send(job.model_dump_json(), attributes={"tenant": tenant, "crm": crm, "trigger": "manual"})
    except StoreUnavailable:
        run.state = RunState.FAILED
        run.finished_at = svc.clock()
        svc.runs.save(run)
        svc.runs.release(tenant, crm, run_id)
        raise
    return run


def get_run(svc: RunServices, tenant: str, run_id: str) -> SyncRun:
    run = svc.runs.get(tenant, run_id)
    if run is None:
        raise NotFound(f"No sync run {run_id!r} for this tenant.", details={"run_id": run_id})
    return run


def list_runs(
    svc: RunServices, tenant: str, *, crm: str | None, limit: int = 20, cursor: str | None = None
) -> SyncRunPage:
    return svc.runs.list(tenant, resolve_crm(svc, tenant, crm), limit=limit, cursor=cursor)
