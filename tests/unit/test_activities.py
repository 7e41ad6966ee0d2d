"""App activities → CRM activities, the domain alone: which fields each CRM gets, what is not sent and why, and that a
re-post writes only what changed. The CRM is an in-memory stand-in that stores what it is sent (its metadata is the
real connector's field catalogue for SuperOffice); links and the sync log are in memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.crm.superoffice.fields import ACTIVITY_FIELDS
from leadbridge.errors import Conflict, CrmRejected, InvalidInput
from leadbridge.export import ExportServices
from leadbridge.lifecycle.activities import (
    Activity,
    ActivityOutcome,
    ActivityServices,
    crm_fields,
    post_activity,
)
from leadbridge.models.crm import CrmObject, CrmRecord, FieldInfo, FieldType, PicklistValue
from leadbridge.models.settings import SettingsDocument
from leadbridge.models.synclog import Outcome, SyncLogEntry
from leadbridge.store.links import RecordLink

CONNECTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TASK_FIELDS = [
    FieldInfo(name="Subject", label="Subject", type=FieldType.STRING, length=255),
    FieldInfo(name="Description", label="Description", type=FieldType.TEXT, length=32000),
    FieldInfo(name="ActivityDate", label="Due Date Only", type=FieldType.DATE),
    FieldInfo(name="Status", label="Status", type=FieldType.PICKLIST, restricted_picklist=True,
              picklist=[PicklistValue(value=v, label=v) for v in ("Not Started", "In Progress", "Completed")]),
    FieldInfo(name="Type", label="Type", type=FieldType.PICKLIST,
              picklist=[PicklistValue(value=v, label=v) for v in ("Call", "Email", "Meeting", "Other")]),
    FieldInfo(name="TaskSubtype", label="Task Subtype", type=FieldType.PICKLIST, updateable=False,
              restricted_picklist=True, picklist=[PicklistValue(value=v, label=v) for v in ("Task", "Email", "Call")]),
]  # fmt: skip
SO_FIELDS = [FieldInfo(name=f.name, label=f.label, type=f.type, length=f.length) for f in ACTIVITY_FIELDS.values()]


@dataclass
class MemoryCrm:
    """Stores activities it is sent; refuses a value outside a restricted picklist like Salesforce does."""

    crm: str
    meta: list[FieldInfo]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def fields(self, obj: CrmObject) -> list[FieldInfo]:
        self.calls["fields"] += 1
        return self.meta

    def _check(self, values: Mapping[str, Any]) -> None:
        for info in self.meta:
            allowed = {p.value for p in info.picklist}
            if info.restricted_picklist and info.name in values and values[info.name] not in allowed:
                raise CrmRejected(f"bad value for restricted picklist field: {info.name}", fields=[info.name])

    def create(self, obj: CrmObject, fields: Mapping[str, Any], *, parent_id: str | None = None,
               person_id: str | None = None) -> CrmRecord:  # fmt: skip
        self._check(fields)
        crm_id = f"T{len(self.records) + 1}"
        self.records[crm_id] = {**fields, "parent": parent_id, "person": person_id}
        self.writes.append(("create", crm_id, dict(fields)))
        self.calls["create"] += 1
        return CrmRecord(object=obj, id=crm_id, fields=dict(fields), url=f"https://crm/{crm_id}")

    def update(self, obj: CrmObject, record_id: str, fields: Mapping[str, Any]) -> CrmRecord:
        self._check(fields)
        self.records[record_id].update(fields)
        self.writes.append(("update", record_id, dict(fields)))
        self.calls["update"] += 1
        return CrmRecord(object=obj, id=record_id, fields=dict(fields))

    def record_url(self, obj: CrmObject, record_id: str) -> str:
        return f"https://crm/{record_id}"

    def request_count(self) -> int:
        return sum(self.calls.values())


class MemoryLinks:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, CrmObject, str], RecordLink] = {}

    def get(self, tenant: str, crm: str, obj: CrmObject, app_id: str) -> RecordLink | None:
        return self.items.get((tenant, crm, obj, app_id))

    def get_many(self, tenant: str, crm: str, obj: CrmObject, app_ids: Sequence[str]) -> dict[str, RecordLink]:
        return {a: link for a in app_ids if (link := self.items.get((tenant, crm, obj, a))) is not None}

    def persons_of(self, tenant: str, crm: str, lead_id: str) -> list[RecordLink]:
        return [v for k, v in self.items.items() if k[2] is CrmObject.PERSON and v.lead_id == lead_id]

    def save(self, link: RecordLink) -> None:
        self.items[(link.tenant, link.crm, link.object, link.app_id)] = link

    def save_many(self, links: Sequence[RecordLink]) -> None:
        for link in links:
            self.save(link)


class MemoryLog:
    def __init__(self) -> None:
        self.entries: list[SyncLogEntry] = []

    def write(self, entry: SyncLogEntry) -> None:
        self.entries.append(entry)

    def write_many(self, entries: Sequence[SyncLogEntry]) -> None:
        self.entries += entries


def services(crm: MemoryCrm, settings: SettingsDocument) -> tuple[ActivityServices, MemoryLinks, MemoryLog]:
    links, log = MemoryLinks(), MemoryLog()
    export = ExportServices(
        links=links,
        sync_log=log,  # type: ignore[arg-type]  # only write() is used
        settings=lambda _t, _c: settings,
        connector=lambda _t, _c: crm,  # type: ignore[arg-type,return-value]  # the methods activities use
        active_crm=lambda _t: crm.crm,
    )
    return ActivityServices(export=export, connected_at=lambda _t, _c: CONNECTED), links, log


def with_activities_on(crm: str) -> SettingsDocument:
    raw = default_settings(crm).model_dump(mode="json")
    raw["objects"]["activity"]["direction"] = "to_crm"
    return SettingsDocument.model_validate(raw)


def synced_lead(links: MemoryLinks, crm: str) -> None:
    links.save(RecordLink(tenant="t", crm=crm, object=CrmObject.COMPANY, app_id="L1", crm_id="ACC1", lead_id="L1"))
    links.save(RecordLink(tenant="t", crm=crm, object=CrmObject.PERSON, app_id="L1~c1", crm_id="CON1", lead_id="L1"))
    links.save(RecordLink(tenant="t", crm=crm, object=CrmObject.PERSON, app_id="L1~ida@x.dk", crm_id="CON2",
                          lead_id="L1"))  # fmt: skip


def activity(**overrides: Any) -> Activity:
    base: dict[str, Any] = {
        "id": "a1", "type": "call", "subject": "Call about the demo", "description": "Asked for pricing",
        "due_date": "2026-03-10", "status": "open", "created_at": (CONNECTED + timedelta(hours=1)).isoformat(),
    }  # fmt: skip
    return Activity.model_validate({**base, **overrides})


def test_salesforce_task_fields_come_from_the_mapping_and_the_status_from_the_profile() -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    fields, skipped = crm_fields(with_activities_on("salesforce"), activity(status="done"), crm)  # type: ignore[arg-type]
    assert fields == {"Subject": "Call about the demo", "Description": "Asked for pricing",
                      "ActivityDate": date(2026, 3, 10), "Status": "Completed", "Type": "Call",
                      "TaskSubtype": "Call"}  # fmt: skip
    assert skipped == []
    open_fields, _ = crm_fields(with_activities_on("salesforce"), activity(), crm)  # type: ignore[arg-type]
    assert open_fields["Status"] == "Not Started"


def test_superoffice_appointment_fields_complete_with_the_boolean() -> None:
    crm = MemoryCrm("superoffice", SO_FIELDS)
    fields, _ = crm_fields(with_activities_on("superoffice"), activity(status="done"), crm)  # type: ignore[arg-type]
    assert fields == {"Title": "Call about the demo", "Description": "Asked for pricing",
                      "StartDate": datetime(2026, 3, 10), "Completed": True}  # fmt: skip


def test_created_then_completed_writes_only_the_status_and_a_third_post_writes_nothing() -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    svc, links, log = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")

    created = post_activity(svc, "t", "L1", activity(person_ref="c1"))
    done = post_activity(svc, "t", "L1", activity(person_ref="c1", status="done"))
    again = post_activity(svc, "t", "L1", activity(person_ref="c1", status="done"))

    assert created.outcome is ActivityOutcome.CREATED and (created.parent_id, created.person_id) == ("ACC1", "CON1")
    assert crm.records[created.crm_id or ""]["parent"] == "ACC1" and crm.records["T1"]["person"] == "CON1"
    assert crm.writes[0][2]["Type"] == "Call" and crm.writes[0][2]["TaskSubtype"] == "Call"
    assert done.outcome is ActivityOutcome.UPDATED and done.fields_written == ["Status"]
    assert crm.writes[-1] == ("update", "T1", {"Status": "Completed"})
    assert again.outcome is ActivityOutcome.UNCHANGED and len(crm.writes) == 2
    assert [e.outcome for e in log.entries] == [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.SKIPPED]
    assert log.entries[0].details == {"operation": "activity", "activity_id": "a1", "type": "call", "status": "open"}
    assert links.get("t", "salesforce", CrmObject.ACTIVITY, "L1~a1") is not None


def test_a_person_is_found_by_e_mail_too_and_an_unknown_one_is_a_422() -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    svc, links, _ = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")
    assert post_activity(svc, "t", "L1", activity(person_ref="Ida@X.dk")).person_id == "CON2"
    with pytest.raises(InvalidInput) as unknown:
        post_activity(svc, "t", "L1", activity(id="a2", person_ref="nobody"))
    assert unknown.value.errors[0]["loc"] == ["body", "person_ref"]
    assert len(crm.writes) == 1


def test_an_activity_older_than_the_connection_is_skipped_and_logged() -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    svc, links, log = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")

    old = post_activity(svc, "t", "L1", activity(created_at=(CONNECTED - timedelta(days=2)).isoformat()))

    assert old.outcome is ActivityOutcome.SKIPPED and "before the CRM was connected" in (old.reason or "")
    assert crm.writes == [] and log.entries[-1].outcome is Outcome.SKIPPED
    assert log.entries[-1].id == old.log_entry_id


def test_activity_sync_off_or_a_lead_without_a_crm_company_is_a_409() -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    svc, links, log = services(crm, default_settings("salesforce"))  # activity direction "off" by default
    synced_lead(links, "salesforce")
    with pytest.raises(Conflict) as off:
        post_activity(svc, "t", "L1", activity())
    assert "objects.activity.direction" in off.value.message and log.entries[-1].outcome is Outcome.SKIPPED

    svc, links, _ = services(crm, with_activities_on("salesforce"))
    with pytest.raises(Conflict) as unsynced:
        post_activity(svc, "t", "L1", activity())
    assert "no company in the CRM" in unsynced.value.message
    assert crm.writes == []


def test_a_crm_rejection_is_logged_and_re_raised_with_the_entry() -> None:
    crm = MemoryCrm("salesforce", [*TASK_FIELDS[:3], TASK_FIELDS[3].model_copy(update={"picklist": []})])
    svc, links, log = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")
    with pytest.raises(CrmRejected) as rejected:
        post_activity(svc, "t", "L1", activity())
    assert rejected.value.details["log_entry_id"] == log.entries[-1].id
    assert log.entries[-1].outcome is Outcome.FAILED and log.entries[-1].error is not None
    assert links.get("t", "salesforce", CrmObject.ACTIVITY, "L1~a1") is None


def test_bad_requests_name_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as bad:
        Activity.model_validate({"id": "a#1", "type": "lunch", "subject": "", "status": "half",
                                 "created_at": "yesterday"})  # fmt: skip
    assert {e["loc"][0] for e in bad.value.errors()} == {"id", "type", "subject", "status", "created_at"}
    type_error = next(e for e in bad.value.errors() if e["loc"] == ("type",))
    assert "'visit'" in type_error["msg"] and "'other'" in type_error["msg"]  # the 422 lists what is accepted


# --- the activity type ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_type", "task_type", "subtype"),
    [("call", "Call", "Call"), ("email", "Email", "Email"), ("meeting", "Meeting", "Task"),
     ("visit", "Meeting", "Task"), ("task", "Other", "Task"), ("note", "Other", "Task"), ("other", "Other", "Task")],
)  # fmt: skip
def test_every_app_activity_type_becomes_a_task_type_and_subtype_salesforce_offers(
    app_type: str, task_type: str, subtype: str
) -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    svc, links, log = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")

    created = post_activity(svc, "t", "L1", activity(type=app_type))

    assert created.outcome is ActivityOutcome.CREATED
    assert (crm.records["T1"]["Type"], crm.records["T1"]["TaskSubtype"]) == (task_type, subtype)
    assert {"Type", "TaskSubtype"} <= set(created.fields_written) and log.entries[-1].details["type"] == app_type


def test_a_changed_type_updates_task_type_but_never_the_subtype_salesforce_cannot_update() -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    svc, links, _ = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")
    post_activity(svc, "t", "L1", activity(type="call"))

    changed = post_activity(svc, "t", "L1", activity(type="email"))

    assert changed.fields_written == ["Type"] and crm.writes[-1] == ("update", "T1", {"Type": "Email"})
    assert crm.records["T1"]["TaskSubtype"] == "Call"


def test_an_org_without_task_type_or_with_a_narrowed_subtype_still_gets_the_task() -> None:
    only_task = [PicklistValue(value="Task", label="Task")]
    narrowed = [*TASK_FIELDS[:4], TASK_FIELDS[5].model_copy(update={"picklist": only_task})]
    crm = MemoryCrm("salesforce", narrowed)
    svc, links, log = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")

    created = post_activity(svc, "t", "L1", activity(type="call"))

    assert created.outcome is ActivityOutcome.CREATED
    assert "Type" not in crm.records["T1"] and "TaskSubtype" not in crm.records["T1"]
    assert {(f.field, f.reason) for f in log.entries[-1].fields_skipped} == {
        ("Type", "missing_in_crm"), ("TaskSubtype", "invalid_value")}


def test_a_settings_mapping_of_the_type_wins_over_the_profile_and_superoffice_is_unchanged() -> None:
    raw = with_activities_on("salesforce").model_dump(mode="json")
    raw["field_mappings"]["activity"].append({"app_fields": ["type"], "crm_field": "Type"})
    mapped = SettingsDocument.model_validate(raw)
    crm = MemoryCrm("salesforce", TASK_FIELDS)

    fields, _ = crm_fields(mapped, activity(type="visit"), crm)  # type: ignore[arg-type]

    assert fields["Type"] == "visit"  # the admin's mapping: the app's word into the (unrestricted) picklist
    so_fields, _ = crm_fields(with_activities_on("superoffice"), activity(type="visit"),
                              MemoryCrm("superoffice", SO_FIELDS))  # type: ignore[arg-type]  # fmt: skip
    assert "Type" not in so_fields and "Task" not in so_fields


def test_an_activity_without_a_type_is_created_as_a_plain_task_and_a_re_post_keeps_its_type() -> None:
    crm = MemoryCrm("salesforce", TASK_FIELDS)
    svc, links, log = services(crm, with_activities_on("salesforce"))
    synced_lead(links, "salesforce")
    untyped = activity(type=None)  # the app logged it without choosing a type

    created = post_activity(svc, "t", "L1", untyped)

    assert created.outcome is ActivityOutcome.CREATED
    assert (crm.records["T1"]["Type"], crm.records["T1"]["TaskSubtype"]) == ("Other", "Task")  # as `task`
    assert log.entries[-1].details["type"] is None  # the log says what the app sent
    post_activity(svc, "t", "L1", activity(type="call"))
    done = post_activity(svc, "t", "L1", activity(type=None, status="done"))
    assert done.fields_written == ["Status"] and crm.records["T1"]["Type"] == "Call"  # not reset to Other


def test_a_missing_type_is_accepted_and_an_unknown_one_still_refused() -> None:
    from pydantic import ValidationError

    body = {"id": "a1", "subject": "Rang them", "created_at": CONNECTED.isoformat()}
    assert Activity.model_validate(body).type is None
    assert Activity.model_validate({**body, "type": None}).type is None
    with pytest.raises(ValidationError) as bad:
        Activity.model_validate({**body, "type": "lunch"})
    assert [e["loc"] for e in bad.value.errors()] == [("type",)]
