"""App activities → CRM activities (issue 9, seed 004: "Activities created in the app after the sync are created as
Tasks"; "when an Activity is marked Done the Task Status is updated").

`post_activity` takes one activity of a lead (a call, meeting, task, e-mail or note) and writes it to the tenant's CRM
as the connector's ACTIVITY object (Salesforce Task, SuperOffice Appointment), under the lead's synced records:
- the company the lead was exported to is the activity's parent (Salesforce `WhatId`, SuperOffice Contact); the
  lead contact named by `person_ref` is its person (Salesforce `WhoId`, SuperOffice Person);
- the CRM fields come from the settings' activity field mappings (app fields `name`/`subject`, `description`,
  `date`/`due_date`, `type`, `status`), the CRM's completion field from the CRM profile
  (`CrmProfile.activity_status_field`: Task `Status` Not Started/Completed, Appointment `Completed`), and its
  activity-type fields from the profile too (`CrmProfile.activity_type_fields`: Task `Type`, and `TaskSubtype` on
  create only) unless the settings map a field of that name themselves; a type field the CRM does not offer (or
  would refuse the value of) is left out and listed as skipped, never refused; an activity without a `type` is
  created as a plain task (as `type: task`), and a re-post without one leaves the type it was given;
- the CRM record is linked (`RecordLink` object activity, app id `{lead_id}~{activity id}`): posting the same
  activity again updates it, writing only the fields whose value changed (marking it done writes only the status).

Not sent, with the reason (logged): activity sync switched off (`objects.activity.direction`, 409), and activities
created before the CRM account was first connected (seed 004: older activities are not sent; 200 `skipped`). The
cut-off is the connection's `connected_since`: a re-authorization or a reconnect of the same account does not move
it, so an activity created in between is still sent. A lead that has no
company in the CRM yet is a 409 (export it first); an unknown `person_ref` a 422. CRM failures are logged and re-raised
like export's (502 for a rejected write, with `log_entry_id`). The lead's lease (`export.lead_lease`) keeps a re-post
and an export of the same lead from running together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadbridge.crm.base import Connector
from leadbridge.crm.defaults import profile
from leadbridge.crm.metadata_cache import current_fields
from leadbridge.crm.profile import ActivityTypeField
from leadbridge.errors import Conflict, CrmError, InvalidInput, NeedsReauth, RefusedBeforeWrite
from leadbridge.export import ExportServices, lead_lease
from leadbridge.export.written_state import Written, remember_written
from leadbridge.mapping.engine import SkipReason, apply
from leadbridge.mapping.hashing import content_hash, field_hashes
from leadbridge.mapping.validation import WriteCheck, refuse_before_write
from leadbridge.models.crm import CrmObject, FieldInfo
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import Action, Direction, LogError, Outcome, SkippedField, SyncLogEntry, Trigger
from leadbridge.models.time import as_utc
from leadbridge.store.links import PERSON_SEPARATOR, RecordLink

log = logging.getLogger(__name__)


@dataclass
class ActivityServices:
    export: ExportServices  # links, sync log, settings, connector, active CRM, clock, lead leases
    # (tenant, crm) → when the CRM account was first connected (`Connection.connected_since`), the activity cut-off
    connected_at: Callable[[str, str], datetime | None]


# --- API contracts ------------------------------------------------------------------------------------------------


class ActivityType(StrEnum):
    """What kind of activity it is; the CRM gets its own word for it (Salesforce Task `Type` and `TaskSubtype`)."""

    CALL = "call"
    MEETING = "meeting"
    VISIT = "visit"  # an in-person visit at the customer (field sales)
    TASK = "task"
    EMAIL = "email"
    NOTE = "note"
    OTHER = "other"


class ActivityStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class Activity(BaseModel):
    """An activity logged in the app on a lead."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str = Field(min_length=1, max_length=200, pattern=r"^[^#~]+$", description="The activity's id in the app.")
    type: ActivityType | None = Field(
        default=None,
        description="call, meeting, visit, task, email, note or other (another value is refused with 422). Written to "
        "the CRM activity's type (Salesforce Task `Type`: Call, Email, Meeting (visits too), else Other; "
        "`TaskSubtype` Call, Email or Task when the Task is created). Optional: an activity without a type is "
        "created as a plain task (as `task`: Salesforce `Type` Other, `TaskSubtype` Task), and a later post without "
        "one leaves the CRM activity's type as it is.",
    )
    subject: str = Field(min_length=1, max_length=255, description="Short title (Salesforce Task Subject).")
    description: str | None = Field(default=None, max_length=32000)
    due_date: date | None = Field(default=None, description="ISO date (Salesforce Task ActivityDate).")
    status: ActivityStatus = ActivityStatus.OPEN
    created_at: datetime = Field(
        description="When it was created in the app (ISO 8601; no zone = UTC). Activities created before the CRM "
        "was connected are not sent."
    )
    person_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The lead contact it concerns: the contact's app id, else its e-mail (as the export keys it).",
    )


class ActivityOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


class ActivityResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    outcome: ActivityOutcome = Field(description="`created`, `updated`, `unchanged`, or `skipped` (see `reason`).")
    lead_id: str
    activity_id: str
    crm: str
    crm_id: str | None = Field(default=None, description="The CRM activity (Salesforce Task id, SuperOffice "
                               "appointment id).")  # fmt: skip
    url: str | None = None
    parent_id: str | None = Field(default=None, description="The CRM company it was filed under.")
    person_id: str | None = Field(default=None, description="The CRM person it concerns, when `person_ref` was given.")
    fields_written: list[str] = Field(default_factory=list)
    reason: str | None = None
    log_entry_id: str
    crm_calls: int = 0


def activity_app_id(lead_id: str, activity_id: str) -> str:
    return f"{lead_id}{PERSON_SEPARATOR}{activity_id}"


def app_record(activity: Activity) -> dict[str, Any]:
    """The activity as the mapping engine reads it. The default mappings use `name`/`date` (the settings' activity
    vocabulary); `subject`/`due_date` are offered too so an admin can map the request's own names."""
    return {
        "id": activity.id,
        "type": activity.type.value if activity.type else None,
        "name": activity.subject,
        "subject": activity.subject,
        "description": activity.description,
        "date": activity.due_date,
        "due_date": activity.due_date,
        "status": activity.status.value,
        "created_at": activity.created_at,
    }


def crm_fields(
    settings: SettingsDocument, activity: Activity, connector: Connector, *, creating: bool | None = None
) -> tuple[dict[str, Any], list[SkippedField]]:
    """The CRM activity's fields: the mapped ones, then the CRM's completion field for the status. With `creating`
    given (the activity is about to be written), what the CRM's metadata says it would refuse is a 422 first."""
    wanted = [m.crm_field for m in settings.field_mappings.for_object(CrmObject.ACTIVITY) if m.outbound]
    metadata = (
        current_fields(connector, CrmObject.ACTIVITY, wanted)
        if creating is not None
        else connector.fields(CrmObject.ACTIVITY)
    )
    mapped = apply(settings, CrmObject.ACTIVITY, app_record(activity), metadata)
    fields = dict(mapped.fields)
    prof = profile(settings.crm)
    if prof.activity_status_field and activity.status.value in prof.activity_status_values:
        fields[prof.activity_status_field] = prof.activity_status_values[activity.status.value]
    type_skipped = _type_fields(prof.activity_type_fields, activity, metadata, fields, creating=creating is not False)
    if creating is not None:
        checked = mapped.model_copy(update={"fields": fields})
        refuse_before_write([WriteCheck(["crm", "activity"], checked, metadata, creating)], what="this activity")
    skipped = [
        SkippedField(field=s.crm_field or ", ".join(s.app_fields), reason=s.reason.value) for s in mapped.skipped
    ]
    return fields, skipped + type_skipped


def _type_fields(
    type_fields: Sequence[ActivityTypeField],
    activity: Activity,
    metadata: Sequence[FieldInfo],
    fields: dict[str, Any],
    *,
    creating: bool,
) -> list[SkippedField]:
    """Add the CRM profile's activity-type fields to `fields` (a field the settings map keeps the mapped value).
    Best effort: a field the CRM does not offer, cannot take now, or whose restricted picklist lacks the value is
    listed as skipped; an org may have hidden or narrowed Task Type, and the activity is still worth sending."""
    skipped: list[SkippedField] = []
    offered = {f.name: f for f in metadata}
    # No type: a plain task when created; a later post without one must not overwrite the type it was given.
    app_type = activity.type or (ActivityType.TASK if creating else None)
    if app_type is None:
        return skipped
    for type_field in type_fields:
        value = type_field.value_for(app_type.value)
        if value is None or type_field.field in fields or (type_field.create_only and not creating):
            continue
        info = offered.get(type_field.field)
        if info is None:
            skipped.append(SkippedField(field=type_field.field, reason=SkipReason.MISSING_IN_CRM.value))
        elif not creating and not info.updateable:
            skipped.append(SkippedField(field=type_field.field, reason=SkipReason.READ_ONLY.value))
        elif info.restricted_picklist and value not in {p.value for p in info.picklist}:
            skipped.append(SkippedField(field=type_field.field, reason=SkipReason.INVALID_VALUE.value))
        else:
            fields[type_field.field] = value
    return skipped


# --- entry point --------------------------------------------------------------------------------------------------


def post_activity(
    svc: ActivityServices,
    tenant: str,
    lead_id: str,
    activity: Activity,
    *,
    crm: str | None = None,
    correlation_id: str | None = None,
) -> ActivityResult:
    """Create or update the CRM activity of one app activity; see the module docstring."""
    ex = svc.export
    crm = crm or ex.active_crm(tenant)
    settings = ex.settings(tenant, crm)
    run = _Run(svc, tenant, crm, lead_id, activity, correlation_id)
    if not settings.objects.activity.direction.outbound:
        entry = run.skip("activities are not synced to the CRM (objects.activity.direction)")
        raise Conflict(
            "Activities are not sent to the CRM under the current settings (objects.activity.direction).",
            details={"hint": "An admin can turn on activity sync in the integration settings.",
                     "log_entry_id": entry.id},
        )  # fmt: skip
    app_id = activity_app_id(lead_id, activity.id)
    with lead_lease(ex, tenant, crm, lead_id):
        link = ex.links.get(tenant, crm, CrmObject.ACTIVITY, app_id)
        if link is None:
            connected_at = svc.connected_at(tenant, crm)
            if connected_at is not None and as_utc(activity.created_at) < as_utc(connected_at):
                entry = run.skip(
                    f"created {as_utc(activity.created_at).isoformat()}, before the CRM was connected "
                    f"({as_utc(connected_at).isoformat()}, the first connection of this CRM account); only "
                    "activities created after it are sent"
                )
                return run.result(ActivityOutcome.SKIPPED, entry, reason=entry.fields_skipped[0].reason)
        company = ex.links.get(tenant, crm, CrmObject.COMPANY, lead_id)
        if company is None:
            raise Conflict(
                f"Lead {lead_id!r} has no company in the CRM yet, so its activity has nothing to be filed under.",
                details={"hint": "Export the lead (or let its lifecycle event create it), then send the activity."},
            )
        person_id = _person(ex, run, activity)
        connector = ex.connector(tenant, crm)
        run.connector = connector
        try:
            return _write(run, settings, connector, link, company, person_id)
        except (CrmError, RefusedBeforeWrite) as exc:
            entry = run.failure(exc, link)
            exc.details["log_entry_id"] = entry.id
            raise


@dataclass
class _Run:
    svc: ActivityServices
    tenant: str
    crm: str
    lead_id: str
    activity: Activity
    correlation_id: str | None
    connector: Connector | None = None
    calls_before: int = 0

    def calls(self) -> int:
        return (self.connector.request_count() if self.connector is not None else 0) - self.calls_before

    def entry(self, **kw: Any) -> SyncLogEntry:
        return SyncLogEntry(
            tenant=self.tenant,
            crm=self.crm,
            direction=Direction.TO_CRM,
            trigger=Trigger.LEAD_EVENT,
            object=CrmObject.ACTIVITY,
            app_id=self.lead_id,
            correlation_id=self.correlation_id,
            details={"operation": "activity", "activity_id": self.activity.id,
                     "type": self.activity.type.value if self.activity.type else None,
                     "status": self.activity.status.value},
            **kw,
        )  # fmt: skip

    def skip(self, reason: str) -> SyncLogEntry:
        entry = self.entry(action=Action.SKIP, outcome=Outcome.SKIPPED,
                           fields_skipped=[SkippedField(field="*", reason=reason)])  # fmt: skip
        self.svc.export.sync_log.write(entry)
        log.info("activity not sent", extra={"tenant_id": self.tenant, "crm": self.crm, "reason": reason})
        return entry

    def failure(self, exc: CrmError | RefusedBeforeWrite, link: RecordLink | None) -> SyncLogEntry:
        entry = self.entry(
            action=Action.UPDATE if link else Action.CREATE,
            outcome=Outcome.FAILED,
            crm_id=link.crm_id if link else None,
            error=LogError.of(exc),
            crm_calls=max(0, self.calls()),
        )
        try:
            self.svc.export.sync_log.write(entry)
        except Exception:  # the CRM error is what the caller must see; a log outage must not hide it
            log.warning("could not write the sync log entry of a failed activity", exc_info=True)
        if isinstance(exc, NeedsReauth):
            exc.details.setdefault("hint", "An admin must reconnect the CRM account, then send the activity again.")
        return entry

    def result(self, outcome: ActivityOutcome, entry: SyncLogEntry, **kw: Any) -> ActivityResult:
        return ActivityResult(outcome=outcome, lead_id=self.lead_id, activity_id=self.activity.id, crm=self.crm,
                              log_entry_id=entry.id, crm_calls=entry.crm_calls, **kw)  # fmt: skip


def _person(ex: ExportServices, run: _Run, activity: Activity) -> str | None:
    if activity.person_ref is None:
        return None
    ref = activity.person_ref.strip()
    # The export keys a contact by its app id, else its lower-cased e-mail (export.person_ref).
    for candidate in dict.fromkeys([ref, ref.casefold()]):
        key = candidate.replace("#", "_").replace("~", "_")
        link = ex.links.get(run.tenant, run.crm, CrmObject.PERSON, f"{run.lead_id}{PERSON_SEPARATOR}{key}")
        if link is not None:
            return link.crm_id
    raise InvalidInput(
        f"Lead {run.lead_id!r} has no contact {ref!r} in the CRM; export the lead with that contact first.",
        errors=[{"loc": ["body", "person_ref"], "type": "not_found", "message": "no synced contact of the lead"}],
    )


def _write(
    run: _Run,
    settings: SettingsDocument,
    connector: Connector,
    link: RecordLink | None,
    company: RecordLink,
    person_id: str | None,
) -> ActivityResult:
    ex = run.svc.export
    run.calls_before = run.calls()
    fields, skipped = crm_fields(settings, run.activity, connector, creating=link is None)
    hashes = field_hashes(fields)
    now = ex.clock()
    if link is None:
        created = connector.create(CrmObject.ACTIVITY, fields, parent_id=company.crm_id, person_id=person_id)
        crm_id, url, written, outcome = created.id, created.url, list(fields), ActivityOutcome.CREATED
        write = Written(CrmObject.ACTIVITY, crm_id, fields, created, created=True, parent_id=company.crm_id)
        remember_written(ex.states, settings, run.tenant, run.crm, [write])  # it does not come back as a change
    else:
        changed = {k: v for k, v in fields.items() if link.field_hashes.get(k) != hashes[k]}
        if changed:
            answer = connector.update(CrmObject.ACTIVITY, link.crm_id, changed)
            write = Written(CrmObject.ACTIVITY, link.crm_id, changed, answer, parent_id=company.crm_id)
            remember_written(ex.states, settings, run.tenant, run.crm, [write])
        crm_id, url, written = link.crm_id, link.url, list(changed)
        outcome = ActivityOutcome.UPDATED if changed else ActivityOutcome.UNCHANGED
        hashes = {**link.field_hashes, **hashes}
    ex.links.save(
        RecordLink(
            tenant=run.tenant,
            crm=run.crm,
            object=CrmObject.ACTIVITY,
            app_id=activity_app_id(run.lead_id, run.activity.id),
            crm_id=crm_id,
            url=url or connector.record_url(CrmObject.ACTIVITY, crm_id),
            lead_id=run.lead_id,
            content_hash=content_hash(fields),
            field_hashes=hashes,
            match="created",
            created_at=link.created_at if link else now,
            updated_at=now,
            synced_at=now,
        )
    )
    action = {ActivityOutcome.CREATED: Action.CREATE, ActivityOutcome.UPDATED: Action.UPDATE}.get(outcome, Action.SKIP)
    entry = run.entry(
        action=action,
        outcome=Outcome.SKIPPED if action is Action.SKIP else Outcome.SUCCESS,
        crm_id=crm_id,
        fields_written=written,
        fields_skipped=skipped if action is not Action.SKIP else [SkippedField(field="*", reason="unchanged")],
        crm_calls=run.calls(),
        match={"company": company.crm_id, **({"person": person_id} if person_id else {})},
    )
    ex.sync_log.write(entry)
    return run.result(
        outcome,
        entry,
        crm_id=crm_id,
        url=url or connector.record_url(CrmObject.ACTIVITY, crm_id),
        parent_id=company.crm_id,
        person_id=person_id,
        fields_written=written,
    )
