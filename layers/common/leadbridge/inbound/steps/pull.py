"""Step `pull:{object}`: the CRM's changes since the object's checkpoint (minus an overlap), page by page through the
inbound kernel. A page is applied in slices (`WorkerConfig.apply_slice` records, each one kernel call, so its store
reads and writes stay batched) with a time check before each, and the checkpoint is saved after every slice: a run
out of time stops between two slices and its continuation reads that page again and goes on after the last record
applied (`store.checkpoints`), so a page longer than an invocation still gets done.

The checkpoint and run saves after a slice are written while the next slice is applied (`_ProgressSaves`): one at
a time, in order, from copies taken when the slice was done, so a stored checkpoint never claims more than was
applied; the pull waits for the last before it returns or unwinds.

When the pull completes the checkpoint becomes min(newest change seen, pull start): CRM clocks and paging are not
exact, and the overlap re-reads are no-ops. A pull of the whole data set (first run with initial import, full run)
also counts the CRM's ids first, so the run can say how far along it is.

Initial import off: the first checkpoint of an object is also its `reports_from`. While `initial_import` is off, a
record whose last change (the CRM's updated date, else its created date) is before it existed before the connection:
it is counted as skipped and not reported, though the overlap re-reads it; once it changes it comes in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from leadbridge.concurrency import together
from leadbridge.inbound.kernel import Applied, InboundResult
from leadbridge.inbound.run_scope import RunScope
from leadbridge.models.crm import ChangePage, CrmObject, CrmRecord
from leadbridge.models.runs import ImportProgress, RunMode
from leadbridge.models.time import as_utc
from leadbridge.store.checkpoints import Checkpoint

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 2, tzinfo=UTC)  # "the whole data set": earlier than any CRM record


class _ProgressSaves:
    """The checkpoint and run saves of a pull, each made in the background while the pull applies the next slice
    (about two puts' time saved per slice of `WorkerConfig.apply_slice` records). One save at a time, in order: a
    save first waits for the one before, whose error it raises (the run then retries from the last stored
    checkpoint, and re-applying what a lost save covered is a no-op). Each save stores copies taken when it was made,
    so what the pull changes next is not in it."""

    def __init__(self, scope: RunScope, pool: ThreadPoolExecutor) -> None:
        self._scope, self._pool = scope, pool
        self._pending: Future[None] | None = None

    def save(self, checkpoint: Checkpoint) -> None:
        self.wait()
        svc, stored_checkpoint, run = self._scope.svc, checkpoint.model_copy(), self._scope.recorder.snapshot()
        self._pending = self._pool.submit(
            together, lambda: svc.checkpoints.save(stored_checkpoint), lambda: svc.runs.save(run)
        )

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def wait_unwinding(self) -> None:
        """`wait` while another error unwinds the pull: that error is the one raised; a failed save only means the
        continuation starts from the checkpoint before it."""
        try:
            self.wait()
        except Exception:
            log.warning("a checkpoint save failed while the pull was stopping", exc_info=True)


def pull_changes(scope: RunScope, obj: CrmObject) -> None:
    svc, run, connector = scope.svc, scope.run, scope.connector
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
                "page_applied_through": None,
                "page_applied": 0,
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
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="progress") as saver,
    ):
        saves = _ProgressSaves(scope, saver)
        try:
            _pull_pages(scope, obj, checkpoint, pull_since, reader, saves)
        except BaseException:
            saves.wait_unwinding()
            raise
        saves.wait()


def _pull_pages(
    scope: RunScope,
    obj: CrmObject,
    checkpoint: Checkpoint,
    pull_since: datetime,
    reader: ThreadPoolExecutor,
    saves: _ProgressSaves,
) -> None:
    svc, connector, budget = scope.svc, scope.connector, scope.budget
    budget.check_room()
    page = connector.changes_since(obj, pull_since, checkpoint.page_token)
    just_read = True  # read right after a check, so there is room for its first slice
    while True:
        # The next page is read while this one is applied: the run waits on the CRM or on the table, not on
        # one after the other. The checkpoint still moves to it only once this page is applied.
        ahead: Future[ChangePage] | None = None
        if page.next_page_token is not None and budget.has_room():
            ahead = reader.submit(connector.changes_since, obj, pull_since, page.next_page_token)
        try:
            _apply_in_slices(scope, obj, checkpoint, page.records, saves, check_first=not just_read)
        except BaseException:
            # Stopped inside the page (the checkpoint is at its last applied record): a read ahead not started
            # is dropped; one under way is waited for by the executor and wasted, one read.
            if ahead is not None:
                ahead.cancel()
            raise
        checkpoint.page_token = page.next_page_token
        checkpoint.page_applied_through, checkpoint.page_applied = None, 0
        checkpoint.updated_at = svc.clock()
        if page.next_page_token is None:
            newest, started = checkpoint.newest_seen, checkpoint.pull_started or pull_since
            checkpoint.since = min(newest, started) if newest is not None else started
            checkpoint.pull_since = checkpoint.pull_started = checkpoint.newest_seen = None
            checkpoint.pull_run_id = None
        saves.save(checkpoint)
        if page.next_page_token is None:
            return
        just_read = ahead is None
        if ahead is None:
            budget.check_room()  # out of time or budget: stops here, the checkpoint is at the next page
            ahead = reader.submit(connector.changes_since, obj, pull_since, page.next_page_token)
        page = ahead.result()


def _apply_in_slices(
    scope: RunScope,
    obj: CrmObject,
    checkpoint: Checkpoint,
    records: list[CrmRecord],
    saves: _ProgressSaves,
    *,
    check_first: bool,
) -> None:
    """One page, in slices with a time check before each (`RunScope.slices`); not before the first when the page was
    read right after a check (a check there would only waste that read). A page read ahead was let start a while
    ago: its first slice is checked. After every slice but the page's last the checkpoint says how far into the page
    the run is, so a continuation goes on from the exact record; the last slice is saved with the page (the caller
    moves the checkpoint to the next page)."""
    start = 0
    if checkpoint.page_applied_through is not None:
        # A continuation reading its page again: skip up to the last record applied. Not found (deleted, or changed
        # and so moved on in the CRM's order): the page is applied again from its start, a no-op for what was.
        ids = [record.id for record in records]
        if checkpoint.page_applied_through in ids:
            start = ids.index(checkpoint.page_applied_through) + 1
        else:
            checkpoint.page_applied = 0
    todo = records[start:]
    applied = 0
    for part in scope.slices(todo, check_first=check_first):
        scope.apply_page(obj, _after_connection(scope, checkpoint, part))
        applied += len(part)
        for record in part:
            if record.updated_at is not None:
                stamp = as_utc(record.updated_at)
                if checkpoint.newest_seen is None or stamp > checkpoint.newest_seen:
                    checkpoint.newest_seen = stamp
        if obj in scope.run.progress:
            scope.run.progress[obj].done += len(part)
        if applied < len(todo):
            checkpoint.page_applied_through = part[-1].id
            checkpoint.page_applied += len(part)
            checkpoint.updated_at = scope.svc.clock()
            saves.save(checkpoint)


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
