"""What the sync benchmarks (`bench_sync`, `bench_peer`) set up before timing the worker: a connected connection
whose checkpoints precede every record, and the worker's services over the local stack, so that one run reads
everything. Imported inside the benchmarks' worker processes, after they put the repository on `sys.path`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leadbridge import runtime
from leadbridge.crm.base import Connector
from leadbridge.inbound.worker import EPOCH, RunJob, WorkerServices
from leadbridge.models.connection import Connection, ConnectionStatus
from leadbridge.models.crm import CrmObject
from leadbridge.models.settings import SettingsDocument
from leadbridge.store.checkpoints import Checkpoint, SyncMarks


class StaticTokens:
    """The token port with one access token the benchmark issued; a refresh would mean the run outlived it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh_after_unauthorized(self, rejected_token: str) -> str:
        raise RuntimeError("the benchmark token expired")


def full_run(
    *,
    tenant: str,
    crm: str,
    account_id: str,
    api_base: str,
    objects: Sequence[CrmObject],
    settings: SettingsDocument,
    connector: Connector,
    job_id: str,
) -> tuple[WorkerServices, RunJob]:
    """An established connection (housekeeping done) with every object's checkpoint before every record, and a
    manual run job over `objects`."""
    connection = Connection(
        tenant_id=tenant, crm=crm, status=ConnectionStatus.CONNECTED, account_id=account_id, api_base=api_base,
        secret_name="bench", connected_by="bench", connected_at=datetime.now(UTC), connection_key="b" * 32,
    )  # fmt: skip
    runtime.connection_store().save(connection)
    checkpoints = runtime.checkpoint_store()
    now = datetime.now(UTC)
    checkpoints.save_marks(SyncMarks(tenant=tenant, crm=crm, first_run_at=now, housekeeping_at=now))
    for obj in objects:
        checkpoints.save(Checkpoint(tenant=tenant, crm=crm, object=obj, since=EPOCH + timedelta(hours=1)))
    chosen: Any = connector
    svc = WorkerServices(
        runs=runtime.run_store(),
        checkpoints=checkpoints,
        inbound=runtime.inbound_services(),
        connections=runtime.connection_store(),
        settings=lambda _tenant, _crm: settings,
        connector=lambda _connection: chosen,
        publisher=runtime.event_publisher(),
        queue=runtime.sync_job_queue(),
    )
    job = RunJob(
        job_id=job_id, tenant_id=tenant, crm=crm, trigger="manual", scheduled_for=now, enqueued_at=now,
        objects=list(objects),
    )  # fmt: skip
    return svc, job
