"""Incremental-pull checkpoints (one per connection and object) and the connection's sync marks.

Checkpoint item `PK=T#{tenant}#{crm}`, `SK=CKPT#{object}`:
- `since`: every change at or after this time still has to be read (committed when a pull completes); None before
  the first pull.
- `reports_from`: set with the first `since` when the object starts syncing without an initial import; records whose
  last change is older were there before the connection and are not reported (overlap or not).
- the pull in progress, saved after every slice of a page: `pull_since` (its lower bound), `page_token` (the token
  of the page to read: the one being applied, or the next), `page_applied_through` (the id of the last record of
  that page already applied; None: none of it), `page_applied` (how many of its records that was), `pull_started`
  (when it began) and `newest_seen` (newest change time read so far). A continuation reads the page again and goes
  on after `page_applied_through`; when the CRM no longer returns that record in the page (deleted, or changed and
  so moved on in the CRM's order), it applies the whole page again, a no-op for what was applied (the inbound kernel
  suppresses unchanged records by content hash). A run killed between two saves goes on from the last one the same
  way: nothing is skipped, at most one slice is applied again.

Marks item `SK=CKPT#~marks`: when the connection last ran housekeeping, and which selection settings were synced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.models.crm import CrmObject
from leadbridge.store.table import PK, SK, Item, Table, checkpoint_key

MARKS = "~marks"


class Checkpoint(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant: str
    crm: str
    object: CrmObject
    since: datetime | None = None
    pull_since: datetime | None = None
    page_token: str | None = None
    page_applied_through: str | None = None  # id of the last record of `page_token`'s page already applied
    page_applied: int = 0  # records of that page applied (0 when `page_applied_through` is None)
    pull_started: datetime | None = None
    newest_seen: datetime | None = None
    pull_run_id: str | None = None
    updated_at: datetime | None = None
    # Set when the object started syncing without an initial import (the first checkpoint): a record whose last
    # change (CRM updated, else created date) is before it existed before the connection and is not reported.
    reports_from: datetime | None = None

    @property
    def in_progress(self) -> bool:
        return self.pull_since is not None


class SyncMarks(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant: str
    crm: str
    first_run_at: datetime | None = None
    housekeeping_at: datetime | None = None
    # What the selection step last synced (seed 003: new selections and changed favourite preferences sync next run).
    selection_ids: list[str] = Field(default_factory=list)
    favourite_companies: bool = False
    favourite_persons: bool = False


class DynamoCheckpointStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, tenant: str, crm: str, obj: CrmObject) -> Checkpoint:
        item = self._table.get(checkpoint_key(tenant, crm, obj.value), consistent=True)
        if item is None:
            return Checkpoint(tenant=tenant, crm=crm, object=obj)
        return Checkpoint.model_validate(_fields(item))

    def save(self, checkpoint: Checkpoint) -> None:
        item: Item = checkpoint.model_dump(mode="json", exclude_none=True)
        item.update(checkpoint_key(checkpoint.tenant, checkpoint.crm, checkpoint.object.value))
        self._table.put(item)

    def marks(self, tenant: str, crm: str) -> SyncMarks:
        item = self._table.get(checkpoint_key(tenant, crm, MARKS), consistent=True)
        return SyncMarks.model_validate(_fields(item)) if item else SyncMarks(tenant=tenant, crm=crm)

    def save_marks(self, marks: SyncMarks) -> None:
        item: Item = marks.model_dump(mode="json", exclude_none=True)
        item.update(checkpoint_key(marks.tenant, marks.crm, MARKS))
        self._table.put(item)


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in (PK, SK)}
