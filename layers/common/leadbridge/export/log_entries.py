"""The sync-log entries of an export: the company's (it carries the match decision and the CRM calls of the whole
export), one per person written, the refusal when only possible matches exist, and the failure."""

from __future__ import annotations

import logging

from leadbridge.errors import CrmError, NeedsReauth, RefusedBeforeWrite
from leadbridge.export.contracts import FieldSkip, PersonResult, RecordAction
from leadbridge.export.ports import ExportServices
from leadbridge.export.run import ExportRun
from leadbridge.models.crm import CrmObject
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SkippedField, SyncLogEntry

log = logging.getLogger(__name__)


def company_entry(run: ExportRun, action: RecordAction, written: list[str], skipped: list[FieldSkip]) -> SyncLogEntry:
    """The company's entry: what was written or skipped, the match decision and the CRM calls of the whole export."""
    assert run.company is not None
    log_action = {
        RecordAction.CREATED: Action.CREATE,
        RecordAction.LINKED: Action.LINK,
        RecordAction.UPDATED: Action.UPDATE,
        RecordAction.UNCHANGED: Action.SKIP,
    }[action]
    return SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action=log_action,
        outcome=Outcome.SKIPPED if log_action is Action.SKIP else Outcome.SUCCESS,
        object=CrmObject.COMPANY,
        app_id=run.lead.id,
        crm_id=run.company.crm_id,
        fields_written=written,
        fields_skipped=[SkippedField(field=s.field, reason=s.reason) for s in skipped],
        match=run.match_log,
        crm_calls=run.calls(),
        correlation_id=run.correlation_id,
        run_id=run.run_id,
    )


def person_entry(run: ExportRun, person: PersonResult) -> SyncLogEntry:
    return SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action={RecordAction.CREATED: Action.CREATE, RecordAction.LINKED: Action.LINK}.get(
            person.action, Action.UPDATE
        ),
        outcome=Outcome.SUCCESS,
        object=CrmObject.PERSON,
        app_id=run.lead.id,
        crm_id=person.crm_id,
        fields_written=person.fields_written,
        match={"matched_by": person.matched_by, "person": person.app_id},
        correlation_id=run.correlation_id,
        run_id=run.run_id,
    )


def refused_match_entry(run: ExportRun) -> SyncLogEntry:
    """`auto` found only possible matches: nothing was written, the user must choose (the 409 names this entry)."""
    return SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action=Action.SKIP,
        outcome=Outcome.SKIPPED,
        object=CrmObject.COMPANY,
        app_id=run.lead.id,
        match=run.match_log,
        crm_calls=run.calls(),
        correlation_id=run.correlation_id,
        run_id=run.run_id,
    )


def _log_error(exc: CrmError | RefusedBeforeWrite) -> LogError:
    """The failure with the hint the error carries (what an admin or the user can do), when it has one."""
    error = LogError.of(exc)
    hint = exc.details.get("hint")
    if hint is None and isinstance(exc, RefusedBeforeWrite):
        hint = "Correct the lead, or the field mapping of the fields named, then export the lead again."
    return error.model_copy(update={"hint": str(hint)}) if hint and error.hint is None else error


def log_failure(svc: ExportServices, run: ExportRun, exc: CrmError | RefusedBeforeWrite) -> SyncLogEntry:
    """Log the CRM failure (or the refusal found before any write) against the record being written (the company
    until it is resolved, then a person)."""
    if isinstance(exc, NeedsReauth):
        exc.details.setdefault("hint", "An admin must reconnect the CRM account, then export again.")
    entry = SyncLogEntry(
        tenant=run.tenant,
        crm=run.crm,
        direction=Direction.TO_CRM,
        trigger=run.trigger,
        action=Action.CREATE if run.company is None else Action.UPDATE,
        outcome=Outcome.FAILED,
        object=CrmObject.COMPANY if run.company is None else CrmObject.PERSON,
        app_id=run.lead.id,
        crm_id=run.company.crm_id if run.company else None,
        error=_log_error(exc),
        fields_written=run.company_written or [],
        match=run.match_log,
        crm_calls=run.calls(),
        correlation_id=run.correlation_id,
        run_id=run.run_id,
    )
    try:
        svc.sync_log.write(entry)
    except Exception:  # the CRM error is what the caller must see; a log outage must not hide it
        log.warning("could not write the sync log entry of a failed export", exc_info=True)
    return entry
