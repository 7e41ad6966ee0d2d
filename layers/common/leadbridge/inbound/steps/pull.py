"""Step `pull:{object}`: the CRM's changes since the object's checkpoint (minus an overlap), page by page through the
inbound kernel, with the checkpoint saved after every page so a continuation goes on from the next one.

When the pull completes the checkpoint becomes min(newest change seen, pull start): CRM clocks and paging are not
exact, and the overlap re-reads are no-ops. A pull of the whole data set (first run with initial import, full run)
also counts the CRM's ids first, so the run can say how far along it is.

Initial import off: the first checkpoint of an object is also its `reports_from`. While `initial_import` is off, a
record whose last change (the CRM's updated date, else its created date) is before it existed before the connection:
it is counted as skipped and not reported, though the overlap re-reads it; once it changes it comes in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from leadbridge.inbound.kernel import Applied, InboundResult
from leadbridge.inbound.run_scope import RunScope
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.runs import ImportProgress, RunMode
from leadbridge.models.time import as_utc
from leadbridge.store.checkpoints import Checkpoint

EPOCH = datetime(1970, 1, 2, tzinfo=UTC)  # "the whole data set": earlier than any CRM record


def pull_changes(scope: RunScope, obj: CrmObject) -> None:
    svc, run, connector, budget = scope.svc, scope.run, scope.connector, scope.budget
    checkpoint = svc.checkpoints.get(run.tenant, run.crm, obj)
    wanted = pull_from(scope, checkpoint)
    if wanted is None:
        # Nothing to read back: sync from now on (first run without initial import, object newly switched on).
        if checkpoint.since is None:
            checkpoint.since = checkpoint.reports_from = run.started_at
            checkpoint.updated_at = svc.clock()
            svc.checkpoints.save(checkpoint)
        return
    if not (checkpoint.in_progress and checkpoint.pull_since is not None and checkpoint.pull_since <= wanted):
        checkpoint = checkpoint.model_copy(
            update={
                "pull_since": wanted,
                "page_token": None,
                "pull_started": svc.clock(),
                "newest_seen": None,
                "pull_run_id": run.id,
            }
        )
        svc.checkpoints.save(checkpoint)
    if wanted <= EPOCH and obj not in run.progress:
        # Reading the whole data set: tell the user how far along it is (ids only: cheap and memory-flat).
        run.progress[obj] = ImportProgress(estimated_total=sum(1 for _ in connector.all_ids(obj)))
        scope.recorder.save()
    pull_since = checkpoint.pull_since
    assert pull_since is not None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        budget.check_room()
        page = connector.changes_since(obj, pull_since, checkpoint.page_token)
        while True:
            began = time.monotonic()
            # The next page is read while this one is applied: the run waits on the CRM or on the table, not on
            # one after the other. The checkpoint still moves only after a page is applied.
            ahead = None
            if page.next_page_token is not None and budget.may_start_page():
                ahead = reader.submit(connector.changes_since, obj, pull_since, page.next_page_token)
            scope.apply_page(obj, _after_connection(scope, checkpoint, page.records))
            newest = checkpoint.newest_seen
            for record in page.records:
                if record.updated_at is not None:
                    stamp = as_utc(record.updated_at)
                    newest = stamp if newest is None or stamp > newest else newest
            checkpoint.newest_seen = newest
            checkpoint.page_token = page.next_page_token
            checkpoint.updated_at = svc.clock()
            if page.next_page_token is None:
                started = checkpoint.pull_started or pull_since
                checkpoint.since = min(newest, started) if newest is not None else started
                checkpoint.pull_since = checkpoint.pull_started = checkpoint.newest_seen = None
                checkpoint.pull_run_id = None
            svc.checkpoints.save(checkpoint)
            if obj in run.progress:
                run.progress[obj].done += len(page.records)
            scope.recorder.save()
            if page.next_page_token is None:
                return
            if ahead is None:
                budget.check_room()  # out of time or budget: stops here, the checkpoint is at the next page
                ahead = reader.submit(connector.changes_since, obj, pull_since, page.next_page_token)
            page = ahead.result()
            budget.page_took((time.monotonic() - began) * 1000)


def pull_from(scope: RunScope, checkpoint: Checkpoint) -> datetime | None:
    """Lower bound of this run's pull of one object; None: nothing to read back."""
    mode, overlap = scope.run.mode, scope.config.overlap
    if mode is RunMode.FULL:
        return EPOCH
    if checkpoint.since is None:
        return EPOCH if scope.settings.initial_import else None
    since = checkpoint.since
    if mode is RunMode.HOUSEKEEPING and scope.marks.housekeeping_at is not None:
        since = min(since, scope.marks.housekeeping_at)
    return max(EPOCH, since - overlap)


_BEFORE_CONNECTION = "existed before the connection and has not changed since (initial import is off)"


def _after_connection(scope: RunScope, checkpoint: Checkpoint, records: Sequence[CrmRecord]) -> list[CrmRecord]:
    """The page's records without those that existed before the connection and have not changed since (initial import
    off); those are counted as skipped in the run, not reported and not logged one by one."""
    cut = checkpoint.reports_from
    if cut is None or scope.settings.initial_import:
        return list(records)
    # CRMs stamp changes to the second: a record made in the second the connection started is reported (when in
    # doubt, report rather than lose).
    cut = as_utc(cut).replace(microsecond=0)
    kept: list[CrmRecord] = []
    for record in records:
        stamps = [as_utc(t) for t in (record.updated_at, record.created_at) if t is not None]
        if stamps and max(stamps) < cut and not record.deleted:
            scope.run.counts_for(record.object).read += 1
            scope.recorder.tally(record.object, InboundResult(outcome=Applied.SKIPPED, reason=_BEFORE_CONNECTION))
            continue
        kept.append(record)
    return kept
