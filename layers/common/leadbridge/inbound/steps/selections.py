"""Step `selections` (CRMs with `SupportsSelections`): the persons of static selections (a company selection: its
companies' current persons), of favourite companies (former employees left out), of favourite persons and of the
connected user's appointments, merged without duplicates. Seed 003: selections and favourites on first, housekeeping
and full runs, otherwise only new selections, and favourites when the preferences changed; appointment persons on
every run. One selection the CRM cannot read fails alone: it is logged (`sync_selection`, failed, with what to do) and
tried again on the next run, and the rest of the run goes on. Progress is saved every few persons, so a continuation
goes on where it stopped."""

from __future__ import annotations

import contextlib

from leadbridge.crm.base import SupportsSelections
from leadbridge.errors import CrmNotFound, CrmRejected, LeadbridgeError
from leadbridge.inbound.kernel import syncs_from_crm
from leadbridge.inbound.run_scope import RunScope
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.runs import ImportProgress, RunMode
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SyncLogEntry


def sync_selections(scope: RunScope) -> None:
    connector, settings, marks, run = scope.connector, scope.settings, scope.marks, scope.run
    if not isinstance(connector, SupportsSelections) or not syncs_from_crm(settings, CrmObject.PERSON):
        return
    if run.objects is not None and CrmObject.PERSON not in run.objects:
        return
    wanted = settings.selections
    everything = run.mode in (RunMode.FIRST, RunMode.HOUSEKEEPING, RunMode.FULL)
    selection_ids = [s for s in wanted.static_selection_ids if everything or s not in marks.selection_ids]
    preferences_changed = (wanted.favourite_companies, wanted.favourite_persons) != (
        marks.favourite_companies,
        marks.favourite_persons,
    )
    favourites = everything or preferences_changed
    person_ids: list[str] = []
    failed: list[str] = []
    for selection_id in selection_ids:
        try:
            members = connector.selection_person_ids(selection_id)
            if not members:  # a company selection: its companies' current persons
                for company_id in connector.selection_company_ids(selection_id):
                    members += connector.company_person_ids(company_id)
        except (CrmRejected, CrmNotFound) as exc:  # this selection only: the others and the run go on
            failed.append(selection_id)
            _selection_failed(scope, selection_id, exc)
            continue
        person_ids += members
    if favourites and wanted.favourite_companies:
        person_ids += connector.favourite_company_person_ids()  # former employees are left out
    if favourites and wanted.favourite_persons:
        person_ids += connector.favourite_person_ids()
    if wanted.appointment_persons:  # every run (seed 003)
        person_ids += connector.appointment_person_ids()
    unique = list(dict.fromkeys(person_ids))
    # The list is read again by a continuation (same settings, same order); `done` is where to go on.
    progress = run.selections or ImportProgress()
    progress.estimated_total = len(unique)
    run.selections = progress
    chunk = scope.config.selection_save_every
    for start in range(progress.done, len(unique), chunk):
        scope.budget.check_room()
        records: list[CrmRecord] = []
        for person_id in unique[start : start + chunk]:
            with contextlib.suppress(CrmNotFound):  # gone since the list was read: deletion detection reports it
                records.append(connector.get(CrmObject.PERSON, person_id))
        scope.apply_page(CrmObject.PERSON, records)
        progress.done = min(start + chunk, len(unique))
        scope.recorder.save()
    # A failed selection is not remembered as synced, so the next run tries it again.
    marks.selection_ids = [s for s in wanted.static_selection_ids if s not in failed]
    marks.favourite_companies = wanted.favourite_companies
    marks.favourite_persons = wanted.favourite_persons
    scope.svc.checkpoints.save_marks(marks)


def _selection_failed(scope: RunScope, selection_id: str, exc: LeadbridgeError) -> None:
    """In the run's errors and, once per run (a continuation reads the selections again), in the sync log."""
    run, ctx = scope.run, scope.context
    message = f"Selection {selection_id} could not be read: {exc.message}"
    scope.recorder.error(exc.code, message, CrmObject.PERSON)
    note = f"selection_failed:{selection_id}"
    if note in run.steps_done:
        return
    run.steps_done.append(note)
    hint = (
        f"Check selection {selection_id} in {ctx.crm}: it must exist and be a static selection the connected user "
        f"can read. Fix it there, or remove it from the settings (selections.static_selection_ids); the next run "
        f"tries it again. The run's other persons were synced."
    )
    with contextlib.suppress(LeadbridgeError):  # the run's errors have it too
        scope.svc.inbound.log.write(
            SyncLogEntry(
                time=scope.svc.clock(),
                tenant=ctx.tenant,
                crm=ctx.crm,
                direction=Direction.FROM_CRM,
                trigger=ctx.trigger,
                action=Action.SYNC_SELECTION,
                outcome=Outcome.FAILED,
                object=CrmObject.PERSON,
                error=LogError(code=exc.code, message=message[:500], hint=hint),
                correlation_id=ctx.correlation_id,
                run_id=run.id,
                details={"selection_id": selection_id},
            )
        )
