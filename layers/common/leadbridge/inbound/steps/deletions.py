"""Records deleted in the CRM, deleted in the app: step `deletions:{object}` (incremental runs) applies the ids the
CRM reports deleted since the checkpoint; step `reconcile:{object}` (first, housekeeping and full runs) deletes the
records the app has that the CRM no longer lists (deletion by absence, `RecordStates.live_ids` vs
`Connector.all_ids`). Both go through their list in slices with a time check before each (`RunScope.slices`)."""

from __future__ import annotations

from leadbridge.inbound.run_scope import RunScope
from leadbridge.inbound.steps.pull import EPOCH
from leadbridge.models.crm import CrmObject


def apply_reported_deletions(scope: RunScope, obj: CrmObject) -> None:
    checkpoint = scope.svc.checkpoints.get(scope.run.tenant, scope.run.crm, obj)
    if checkpoint.since is None:
        return
    since = max(EPOCH, checkpoint.since - scope.config.overlap)
    # A continuation reads the list again and applies it from the start: a deletion already reported is a no-op.
    for part in scope.slices(scope.connector.deleted_since(obj, since)):
        for crm_id in part:
            scope.delete(obj, crm_id)


def reconcile_deletions(scope: RunScope, obj: CrmObject) -> None:
    """Deletion by absence. The app's ids are listed first: a record the CRM creates meanwhile is in neither list
    or in the CRM's, never only in the app's."""
    run = scope.run
    live = list(scope.svc.inbound.states.live_ids(run.tenant, run.crm, obj))
    if not live:
        return
    in_crm = set(scope.connector.all_ids(obj))
    # A continuation lists again: what was deleted is no longer live.
    for part in scope.slices([crm_id for crm_id in live if crm_id not in in_crm]):
        for crm_id in part:
            scope.delete(obj, crm_id)
