"""The dispatcher's view of the connection table: connections whose next run is due (GSI1), and the claim.

A claim is a conditional update of the connection item that moves `next_run_at` forward *only if* its GSI1 sort key
is still the one the dispatcher read. Two dispatchers (or a retried invocation) reading the same due connection can
therefore never both queue it: exactly one claim succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from leadbridge.errors import Conflict
from leadbridge.store.table import Condition, Table, connection_due_index, connection_key, iso

DUE_PARTITION = "DUE"
_INDEX = "GSI1"


class DueConnection(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    tenant_id: str
    crm: str
    next_run_at: datetime
    index_sort_key: str  # the GSI1SK read, the claim's condition


class DueConnectionIndex:
    def __init__(self, table: Table, *, page_size: int = 500) -> None:
        self._table = table
        self._page_size = page_size

    def due(self, now: datetime) -> Iterator[DueConnection]:
        """Every connection with `next_run_at <= now`, oldest first, page by page (never a table scan)."""
        # GSI1SK is "{iso time}#{tenant}#{crm}"; every key of a time <= now sorts below "{iso now}#\uffff".
        upper = f"{iso(now)}#\uffff"
        for item in self._table.query_all(
            DUE_PARTITION, index=_INDEX, sk_between=("0", upper), limit=self._page_size
        ):
            yield DueConnection(
                tenant_id=str(item["tenant_id"]),
                crm=str(item["crm"]),
                next_run_at=datetime.fromisoformat(str(item["next_run_at"])),
                index_sort_key=str(item["GSI1SK"]),
            )

    def claim(self, due: DueConnection, *, next_run_at: datetime | None, now: datetime) -> bool:
        """Advance the connection to `next_run_at` (None: unschedule) if nobody else did since it was read."""
        condition = Condition("#sk = :seen", names={"#sk": "GSI1SK"}, values={":seen": due.index_sort_key})
        set_values: dict[str, object] = {"next_run_at": next_run_at, "last_dispatched_at": now}
        remove: list[str] = []
        if next_run_at is None:
            remove = ["GSI1PK", "GSI1SK"]
        else:
            set_values.update(connection_due_index(next_run_at, due.tenant_id, due.crm))
        try:
            self._table.update(
                connection_key(due.tenant_id, due.crm), set_values=set_values, remove=remove, condition=condition
            )
        except Conflict:
            return False
        return True

    def release(self, due: DueConnection) -> None:
        """Put a claimed connection back to its original due time, so the next invocation picks it up again."""
        self._table.update(
            connection_key(due.tenant_id, due.crm),
            set_values={
                "next_run_at": due.next_run_at,
                **connection_due_index(due.next_run_at, due.tenant_id, due.crm),
            },
        )
