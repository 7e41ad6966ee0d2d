"""Sync runs: one scheduled or manual pass of the sync worker over a connection, as the API shows it; and bulk
exports (`POST /exports`, `kind: export`), which are runs of the same store and routes with their own totals.

A run is stored as item `T#{tenant}#{crm}` / `RUN#{created}#{id}` (listing newest first) with a pointer item
`T#{tenant}` / `RUNID#{id}` so that `GET /sync-runs/{id}` finds it without an index.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, computed_field

from leadbridge.models.base import DeferredModel
from leadbridge.models.crm import CrmObject


class RunState(StrEnum):
    QUEUED = "queued"  # accepted, waiting for the worker
    RUNNING = "running"
    CONTINUED = "continued"  # stopped before the Lambda timeout or a CRM throttle; a continuation job is queued
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED)


class RunMode(StrEnum):
    INCREMENTAL = "incremental"  # changes since the last checkpoint
    FIRST = "first"  # the connection's first run: initial import (when enabled), selections
    HOUSEKEEPING = "housekeeping"  # every 24 h: re-pull since the last housekeeping, deletions by absence, selections
    FULL = "full"  # asked for (`full: true`): the whole data set, deletions by absence, selections


class RunKind(StrEnum):
    SYNC = "sync"  # the sync worker: changes from the CRM, deletions, selections, outbound retries
    EXPORT = "export"  # a bulk export of leads to the CRM (`POST /exports`)


class BulkExportTotals(DeferredModel):
    """Where a bulk export stands: each lead is counted once, under what its export did."""

    total: int = Field(description="Leads in the request.")
    done: int = Field(default=0, description="Leads finished (the sum of the counts below).")
    created: int = Field(default=0, description="Leads whose company was created in the CRM.")
    linked: int = Field(default=0, description="Leads linked to an exact-matching CRM company.")
    updated: int = Field(default=0, description="Leads already linked whose CRM records were updated.")
    unchanged: int = Field(default=0, description="Leads already linked with nothing to write.")
    needs_decision: int = Field(
        default=0,
        description="Leads set aside: only possible matches, none exact (their log entries name the candidates); "
        "export each with a choice (`POST /leads/{id}/export`).",
    )
    failed: int = Field(default=0, description="Leads that failed (their log entries say why, with a hint).")


class BulkExport(DeferredModel):
    """A bulk export's request facts and totals (`kind: export`)."""

    match: Literal["auto", "create"] = "auto"
    totals: BulkExportTotals
    next_index: int = Field(default=0, description="The position of the next lead to export (0-based).")
    slices: int = Field(default=0, description="Worker invocations (slices) so far.")
    request_hash: str = Field(description="SHA-256 of the request body: the same Idempotency-Key with another body "
                              "is refused.")  # fmt: skip


class ObjectCounts(DeferredModel):
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0


class ImportProgress(DeferredModel):
    """Progress of reading a whole data set (initial import or full run) for one object."""

    done: int = 0
    estimated_total: int | None = Field(default=None, description="Records the CRM held when the import started.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent(self) -> float | None:
        if not self.estimated_total:
            return None
        return round(min(100.0, 100.0 * self.done / self.estimated_total), 1)


class RunError(DeferredModel):
    at: datetime
    code: str
    message: str
    object: CrmObject | None = None
    crm_id: str | None = None


class SyncRun(DeferredModel):
    id: str
    tenant: str
    crm: str
    kind: RunKind = RunKind.SYNC
    trigger: Literal["schedule", "manual"]
    state: RunState = RunState.QUEUED
    mode: RunMode | None = Field(default=None, description="Decided when the worker starts the run.")
    objects: list[CrmObject] | None = Field(default=None, description="Objects asked for; None: every object.")
    full: bool = False
    requested_by: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    counts: dict[CrmObject, ObjectCounts] = Field(default_factory=dict)
    progress: dict[CrmObject, ImportProgress] = Field(
        default_factory=dict, description="Initial import or full run: records read of the estimated total."
    )
    selections: ImportProgress | None = Field(
        default=None, description="Persons from selections and favourites (seed 003) synced of those listed."
    )
    errors: list[RunError] = Field(default_factory=list, description="The first errors of the run (at most 50).")
    errors_total: int = 0
    crm_calls: int = Field(default=0, description="Requests sent to the CRM by this run (all continuations).")
    request_budget: int | None = None
    budget_exhausted: bool = Field(
        default=False, description="The run stopped at its CRM request budget; the next run continues from there."
    )
    continuations: int = 0
    outbound: dict[str, int] | None = Field(default=None, description="Lead events retried towards the CRM.")
    steps_done: list[str] = Field(default_factory=list)
    export: BulkExport | None = Field(default=None, description="A bulk export's totals (`kind: export`).")

    def counts_for(self, obj: CrmObject) -> ObjectCounts:
        return self.counts.setdefault(obj, ObjectCounts())


class SyncRunPage(DeferredModel):
    items: list[SyncRun]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for older runs; None at the end.")


class StartRunRequest(DeferredModel):
    model_config = ConfigDict(extra="forbid")

    crm: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_-]{1,31}$",
        description="The CRM; only needed when the tenant has connected more than one.",
    )
    objects: list[CrmObject] | None = Field(
        default=None, min_length=1, max_length=4, description="Only these objects; default: every object."
    )
    full: bool = Field(
        default=False,
        strict=True,  # `"yes"` is a 422, never a full run
        description="Read the whole data set and detect deletions by absence, instead of changes since the last run.",
    )
