"""Step `held_children`: children follow their company. Persons, deals and activities the inbound filter held back
because their company was not in the app (`inbound.filtering`) are read from the CRM again and brought in once the
company is: in the run whose pull brought the company (this step runs after the pulls), or in the next run when a
webhook brought it. A child whose company is still not in the app stays held; one the CRM no longer has is forgotten.
The children are read and applied in slices (`RunScope.slices`), each released once applied, so a long list is done
across continuations.
"""

from __future__ import annotations

from leadbridge.errors import CrmNotFound
from leadbridge.inbound.kernel import syncs_from_crm
from leadbridge.inbound.run_budget import RunStopped
from leadbridge.inbound.run_scope import RunScope
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.store.held_children import HeldChild


def bring_held_children(scope: RunScope) -> None:
    svc, run = scope.svc.inbound, scope.run
    if svc.held is None:
        return
    waiting = list(svc.held.all(run.tenant, run.crm))
    if not waiting:
        return
    parents = list(dict.fromkeys(child.parent_id for child in waiting))
    states = svc.states.get_many(run.tenant, run.crm, [(CrmObject.COMPANY, p) for p in parents])
    known = {crm_id for (_, crm_id), state in states.items() if not state.deleted}
    unknown = [p for p in parents if p not in known]
    if unknown:
        known |= set(svc.links.by_crm_ids(run.tenant, run.crm, CrmObject.COMPANY, unknown))
    due: list[HeldChild] = []
    for child in waiting:
        if child.parent_id not in known:
            continue
        if not syncs_from_crm(scope.settings, child.object):
            svc.held.release(child)
            continue
        due.append(child)
    for part in scope.slices(due):
        ready: dict[CrmObject, list[tuple[HeldChild, CrmRecord]]] = {}
        stopped: RunStopped | None = None
        for child in part:
            try:
                scope.budget.check_room()  # one CRM read each: the request budget is checked per read
            except RunStopped as stop:
                stopped = stop  # what was read is applied first, so no read is wasted
                break
            try:
                ready.setdefault(child.object, []).append((child, scope.connector.get(child.object, child.crm_id)))
            except CrmNotFound:
                svc.held.release(child)
        for obj, found in ready.items():
            # One kernel page per object and slice (its store reads and writes batched), then released: a run cut
            # off in between applies them again (a no-op the second time); a continuation lists only the unreleased.
            scope.apply_page(obj, [record for _, record in found])
            for child, _ in found:
                svc.held.release(child)
        scope.recorder.save()
        if stopped is not None:
            raise stopped
