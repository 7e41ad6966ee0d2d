"""Step `selections` (CRMs with `SupportsSelections`): the persons of static selections (a company selection: its
companies' current persons), of favourite companies (former employees left out) and favourite persons, merged without
duplicates. Everything on first, housekeeping and full runs; otherwise only new selections, and favourites when the
preferences changed (seed 003). Progress is saved every few persons, so a continuation goes on where it stopped."""

from __future__ import annotations

import contextlib

from leadbridge.crm.base import SupportsSelections
from leadbridge.errors import CrmNotFound
from leadbridge.inbound.kernel import syncs_from_crm
from leadbridge.inbound.run_scope import RunScope
from leadbridge.models.crm import CrmObject, CrmRecord
from leadbridge.models.runs import ImportProgress, RunMode


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
    for selection_id in selection_ids:
        members = connector.selection_person_ids(selection_id)
        if not members:  # a company selection: its companies' current persons
            for company_id in connector.selection_company_ids(selection_id):
                members += connector.company_person_ids(company_id)
        person_ids += members
    if favourites and wanted.favourite_companies:
        person_ids += connector.favourite_company_person_ids()  # former employees are left out
    if favourites and wanted.favourite_persons:
        person_ids += connector.favourite_person_ids()
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
    marks.selection_ids = list(wanted.static_selection_ids)
    marks.favourite_companies = wanted.favourite_companies
    marks.favourite_persons = wanted.favourite_persons
    scope.svc.checkpoints.save_marks(marks)
