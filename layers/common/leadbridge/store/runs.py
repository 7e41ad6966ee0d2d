"""Sync runs, the one-run-per-connection lease, and delayed continuation jobs.

Items:
- run: `PK=T#{tenant}#{crm}`, `SK=RUN#{created}#{id}` (the whole `SyncRun`), TTL 90 days.
- pointer: `PK=T#{tenant}`, `SK=RUNID#{id}` → crm and created time, so a run is found by id without an index.
- lease: `PK=T#{tenant}#{crm}`, `SK=RUNLEASE` with `run_id` and `lease_until` (epoch seconds). Taking it is a
  conditional put that succeeds when there is none, it ran out, or the same run holds it (a continuation or a
  redelivered job), so two runs of one connection never overlap.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leadbridge import aws_clients
from leadbridge.errors import Conflict, StoreUnavailable
from leadbridge.models.runs import SyncRun, SyncRunPage
from leadbridge.store.table import (
    ITEM_NOT_EXISTS,
    PK,
    SK,
    TTL_ATTRIBUTE,
    Condition,
    Item,
    Key,
    Table,
    decode_cursor,
    encode_cursor,
    expires_at,
    part,
    run_key,
    tenant_crm_pk,
    tenant_pk,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

RUN_TTL_DAYS = 90
MAX_SQS_DELAY = 900  # seconds: SQS DelaySeconds limit


def run_pointer_key(tenant: str, run_id: str) -> Key:
    return {PK: tenant_pk(tenant), SK: f"RUNID#{part(run_id, 'run_id')}"}


def run_lease_key(tenant: str, crm: str) -> Key:
    return {PK: tenant_crm_pk(tenant, crm), SK: "RUNLEASE"}


class DynamoRunStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def create(self, run: SyncRun) -> bool:
        """Store a new run and its pointer; False when a run with this id exists already."""
        pointer: Item = {
            **run_pointer_key(run.tenant, run.id),
            "crm": run.crm,
            "created_at": run.created_at,
            TTL_ATTRIBUTE: expires_at(RUN_TTL_DAYS),
        }
        try:
            self._table.transact(
                [self._table.tx_put(pointer, ITEM_NOT_EXISTS), self._table.tx_put(_item(run), ITEM_NOT_EXISTS)]
            )
        except Conflict:
            return False
        return True

    def get(self, tenant: str, run_id: str) -> SyncRun | None:
        pointer = self._table.get(run_pointer_key(tenant, run_id), consistent=True)
        if pointer is None:
            return None
        created = datetime.fromisoformat(str(pointer["created_at"]).replace("Z", "+00:00"))
        item = self._table.get(run_key(tenant, str(pointer["crm"]), created, run_id), consistent=True)
        return _run(item) if item else None

    def save(self, run: SyncRun) -> None:
        self._table.put(_item(run))

    def list(self, tenant: str, crm: str, *, limit: int = 20, cursor: str | None = None) -> SyncRunPage:
        partition = tenant_crm_pk(tenant, crm)
        scope = f"runs:{tenant}:{crm}"
        start = decode_cursor(cursor, scope=scope, exact={PK: partition}, prefixed={SK: "RUN#"}) if cursor else None
        page = self._table.query(partition, sk_prefix="RUN#", newest_first=True, limit=limit, start_key=start)
        return SyncRunPage(
            items=[_run(item) for item in page.items],
            next_cursor=encode_cursor(page.last_key, scope=scope) if page.last_key else None,
        )

    def acquire(self, tenant: str, crm: str, run_id: str, *, seconds: int) -> str | None:
        now = int(self._clock())
        item: Item = {
            **run_lease_key(tenant, crm),
            "run_id": run_id,
            "lease_until": now + seconds,
            TTL_ATTRIBUTE: now + seconds + 86400,  # only cleans up after crashed holders
        }
        condition = Condition(
            "attribute_not_exists(PK) OR lease_until < :now OR run_id = :run",
            values={":now": now, ":run": run_id},
        )
        try:
            self._table.put(item, condition=condition)
        except Conflict:
            holder = self._table.get(run_lease_key(tenant, crm), consistent=True)
            return str(holder["run_id"]) if holder else "unknown"
        return None

    def release(self, tenant: str, crm: str, run_id: str) -> None:
        mine = Condition("run_id = :run", values={":run": run_id})
        with contextlib.suppress(Conflict):  # another run holds it (ours ran out): not ours to release
            self._table.delete(run_lease_key(tenant, crm), condition=mine)


def _item(run: SyncRun) -> Item:
    item: Item = run.model_dump(mode="json", exclude_none=True)
    item.update(run_key(run.tenant, run.crm, run.created_at, run.id))
    item[TTL_ATTRIBUTE] = expires_at(RUN_TTL_DAYS)
    return item


def _run(item: dict[str, Any]) -> SyncRun:
    return SyncRun.model_validate({k: v for k, v in item.items() if k not in (PK, SK, TTL_ATTRIBUTE)})


# --- continuation jobs -----------------------------------------------------------------------------------------------


class SqsDelayedQueue:
    """One message at a time with a delivery delay (the shared `SqsQueue` sends batches without delay)."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        if not queue_url:
            raise StoreUnavailable("No queue URL configured", details={"queue": "unset"})
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = aws_clients.client("sqs")
        return self._client

    def send(self, body: str, *, delay_seconds: int = 0, attributes: dict[str, str] | None = None) -> None:
        try:
            self.client.send_message(
                QueueUrl=self.queue_url,
                MessageBody=body,
                DelaySeconds=max(0, min(MAX_SQS_DELAY, int(delay_seconds))),
                MessageAttributes={
                    k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items() if v
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(
                "The sync queue did not accept the job; retry later.", details={"reason": type(exc).__name__}
            ) from exc
