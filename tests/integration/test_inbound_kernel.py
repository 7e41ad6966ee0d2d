"""The inbound kernel (`leadbridge.inbound.kernel`) over real DynamoDB in moto: what the app receives for each CRM
change (the `/changes` feed, and the bus events the relay makes of it from the table's stream), in which order, how
often, and what it is spared."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadbridge.crm.defaults import default_settings
from leadbridge.errors import InvalidCursor
from leadbridge.inbound.change_relay import RelayRetry
from leadbridge.inbound.kernel import (
    Applied,
    InboundContext,
    InboundServices,
    apply_deletion,
    apply_record,
    apply_records,
)
from leadbridge.inbound.ports import ChangeEvents
from leadbridge.mapping.hashing import field_hashes
from leadbridge.models.changes import ChangeSource, ChangeType
from leadbridge.models.crm import CrmObject, CrmRecord, StageKind
from leadbridge.models.settings import ConflictPolicy, SettingsDocument
from leadbridge.models.synclog import Action, Outcome
from leadbridge.store.changes import DynamoChangeFeed
from leadbridge.store.events import AppEvent, EventDeliveryError
from leadbridge.store.links import LinkStore, RecordLink
from leadbridge.store.log import DynamoSyncLog
from leadbridge.store.records import DynamoRecordStates
from leadbridge.store.table import Table
from tests.support.feed_relay import RelayedBus

TENANT = "acme"
CRM = "superoffice"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def two_way(**policy: ConflictPolicy) -> SettingsDocument:
    doc = default_settings(CRM)
    data = doc.model_dump(mode="json")
    for obj in ("company", "person", "deal"):
        data["objects"][obj]["direction"] = "both"
        for mapping in data["field_mappings"][obj]:
            if len(mapping["app_fields"]) == 1:  # joined fields can only be written to the CRM
                mapping["direction"] = "both"
            if mapping["app_fields"][0] in policy:
                mapping["conflict_policy"] = policy[mapping["app_fields"][0]].value
    return SettingsDocument.model_validate(data)


@pytest.fixture
def table(aws: Any) -> Table:
    return Table(aws.table_name)


@pytest.fixture
def bus(table: Table) -> RelayedBus:
    return RelayedBus(table)


@pytest.fixture
def svc(table: Table) -> InboundServices:
    return InboundServices(
        links=LinkStore(table), states=DynamoRecordStates(table), feed=DynamoChangeFeed(table), log=DynamoSyncLog(table)
    )


def ctx(settings: SettingsDocument | None = None, source: ChangeSource = ChangeSource.SCHEDULE) -> InboundContext:
    return InboundContext(tenant=TENANT, crm=CRM, settings=settings or two_way(), source=source, run_id="run-1")


def company(crm_id: str = "42", at: datetime = T0, **fields: Any) -> CrmRecord:
    values = {"Name": "Nordlys ApS", "OrgNr": "12345678", "Url": "nordlys.dk", **fields}
    return CrmRecord(object=CrmObject.COMPANY, id=crm_id, fields=values, updated_at=at)


def exported(app_id: str = "lead-1", crm_id: str = "42", **fields: Any) -> RecordLink:
    """The link an export of lead `app_id` left behind (a company unless `object=` says otherwise)."""
    return RecordLink.model_validate(
        {"tenant": TENANT, "crm": CRM, "object": CrmObject.COMPANY, "app_id": app_id, "crm_id": crm_id,
         "lead_id": app_id, **fields}
    )  # fmt: skip


def feed_items(svc: InboundServices, cursor: str | None = None) -> list[Any]:
    later = datetime.now(UTC) + timedelta(minutes=1)
    return svc.feed.read(TENANT, cursor=cursor, limit=100, now=later).items


def test_a_new_record_reaches_the_bus_and_the_feed_once_with_app_fields(svc: InboundServices, bus: RelayedBus):
    first = apply_record(svc, ctx(), company())
    again = apply_record(svc, ctx(), company())

    assert first.outcome is Applied.CREATED
    assert again.outcome is Applied.UNCHANGED
    assert bus.types() == ["CompanyChanged"]
    detail = bus.delivered[0].detail
    assert detail["fields"]["company_name"] == "Nordlys ApS"
    assert detail["fields"]["org_number"] == "12345678"
    assert detail["crm_id"] == "42" and detail["action"] == "created" and detail["app_id"] is None
    [item] = feed_items(svc)
    assert item.id == detail["id"] and item.fields == detail["fields"]


def test_an_update_names_the_changed_fields_and_the_feed_pages_in_order(svc: InboundServices, bus: RelayedBus):
    apply_record(svc, ctx(), company())
    later = apply_record(svc, ctx(), company(at=T0 + timedelta(minutes=5), Name="Nordlys A/S"))

    assert later.outcome is Applied.UPDATED
    assert later.events[0].changed_fields == ["company_name"]
    page1 = svc.feed.read(TENANT, cursor=None, limit=1, now=datetime.now(UTC) + timedelta(minutes=1))
    page2 = svc.feed.read(TENANT, cursor=page1.next_cursor, limit=1, now=datetime.now(UTC) + timedelta(minutes=1))
    page3 = svc.feed.read(TENANT, cursor=page2.next_cursor, limit=1, now=datetime.now(UTC) + timedelta(minutes=1))
    assert [i.action for i in page1.items + page2.items] == ["created", "updated"]
    assert page3.items == [] and page3.next_cursor == page2.next_cursor


def test_an_older_change_never_overwrites_a_newer_one(svc: InboundServices, bus: RelayedBus):
    apply_record(svc, ctx(), company(at=T0 + timedelta(minutes=10), Name="New name"))
    stale = apply_record(svc, ctx(), company(at=T0, Name="Old name"))

    assert stale.outcome is Applied.STALE
    assert [e.detail["fields"]["company_name"] for e in bus.delivered] == ["New name"]


def test_leadbridges_own_export_coming_back_is_not_reported(svc: InboundServices, bus: RelayedBus):
    written = {"Name": "Nordlys ApS", "OrgNr": "12345678", "Url": "nordlys.dk"}
    svc.links.save(  # type: ignore[attr-defined]
        exported(field_hashes=field_hashes(written), updated_at=T0 - timedelta(days=1))
    )
    echo = apply_record(svc, ctx(), company())
    edited = apply_record(svc, ctx(), company(at=T0 + timedelta(hours=1), Name="Edited in CRM"))

    assert echo.outcome is Applied.UNCHANGED
    assert edited.outcome is Applied.UPDATED
    assert bus.types() == ["CompanyChanged"]
    assert bus.delivered[0].detail["app_id"] == "lead-1"
    assert bus.delivered[0].detail["changed_fields"] == ["company_name"]


def test_app_wins_fields_stay_out_of_the_change_and_are_logged(svc: InboundServices, table: Table, bus: RelayedBus):
    svc.links.save(  # type: ignore[attr-defined]
        exported(updated_at=T0 - timedelta(days=1))  # the app last changed it before the CRM did: latest wins → CRM
    )
    result = apply_record(svc, ctx(two_way(company_name=ConflictPolicy.APP_WINS)), company())

    assert result.outcome is Applied.UPDATED  # linked: the app knows the record (issue 17: never "created")
    assert "company_name" not in bus.delivered[0].detail["fields"]
    [entry] = DynamoSyncLog(table).query(TENANT).items
    assert entry.action is Action.READ and entry.app_id == "lead-1"
    assert [(s.field, s.reason) for s in entry.fields_skipped] == [("company_name", "app wins (conflict policy)")]


def test_objects_that_do_not_sync_from_the_crm_are_skipped_and_logged(svc: InboundServices, table: Table, bus):
    data = default_settings(CRM).model_dump(mode="json")
    data["objects"]["company"]["direction"] = "to_crm"  # the defaults are two-way (issue 17); an admin narrowed it
    result = apply_record(svc, ctx(SettingsDocument.model_validate(data)), company())

    assert result.outcome is Applied.SKIPPED and bus.delivered == []
    [entry] = DynamoSyncLog(table).query(TENANT).items
    assert entry.outcome is Outcome.SKIPPED
    assert entry.error is not None and "does not sync from the CRM" in entry.error.message


def test_selective_sync_rules_decide_what_is_created_in_the_crm_not_what_comes_in(
    svc: InboundServices, bus: RelayedBus
):
    """Issue 17 finding 5: the outbound rules (here: only Software companies are created in the CRM) used to hold back
    CRM companies that did not match; they no longer filter what comes in."""
    data = two_way().model_dump(mode="json")
    data["selective_sync"] = {
        "enabled": True,
        "conditions": [{"object": "company", "field": "industry", "op": "eq", "value": "Software"}],
    }
    rules = SettingsDocument.model_validate(data)

    retail = apply_record(svc, ctx(rules), company("1", Department="Retail"))
    software = apply_record(svc, ctx(rules), company("2", Department="Software"))

    assert retail.outcome is Applied.CREATED and software.outcome is Applied.CREATED
    assert [e.detail["crm_id"] for e in bus.delivered] == ["1", "2"]


def test_the_inbound_filter_holds_back_a_company_and_its_children(svc: InboundServices, bus: RelayedBus):
    data = two_way().model_dump(mode="json")
    data["inbound_filter"] = {"conditions": [{"object": "company", "crm_field": "Department", "op": "eq",
                                              "value": "Software"}]}  # fmt: skip
    rules = SettingsDocument.model_validate(data)

    skipped = apply_record(svc, ctx(rules), company("1", Department="Retail"))
    taken = apply_record(svc, ctx(rules), company("2", Department="Software"))
    orphan, child = apply_records(svc, ctx(rules), [
        CrmRecord(object=CrmObject.PERSON, id="7", parent_id="1", fields={"Firstname": "Ida"}),
        CrmRecord(object=CrmObject.PERSON, id="8", parent_id="2", fields={"Firstname": "Bo"}),
    ])  # fmt: skip

    assert skipped.outcome is Applied.SKIPPED and "Department" in (skipped.reason or "")
    assert taken.outcome is Applied.CREATED and child.outcome is Applied.CREATED
    assert orphan.outcome is Applied.SKIPPED and "its company 1 " in (orphan.reason or "")
    assert [e.detail["crm_id"] for e in bus.delivered] == ["2", "8"]
    # The company comes in once a CRM edit makes it match, and its person with its next change.
    assert apply_record(svc, ctx(rules), company("1", T0 + timedelta(minutes=1), Department="Software")).outcome \
        is Applied.CREATED
    person = CrmRecord(object=CrmObject.PERSON, id="7", parent_id="1", fields={"Firstname": "Ida"})
    assert apply_record(svc, ctx(rules), person).outcome is Applied.CREATED


def test_a_deal_won_in_the_crm_tells_the_app_once(svc: InboundServices, bus: RelayedBus):
    svc.links.save(  # type: ignore[attr-defined]
        RecordLink(tenant=TENANT, crm=CRM, object=CrmObject.DEAL, app_id="lead-9", crm_id="5",
                   field_hashes=field_hashes({"Heading": "Deal"}))
    )

    def deal(kind: StageKind, at: datetime) -> CrmRecord:
        return CrmRecord(
            object=CrmObject.DEAL,
            id="5",
            parent_id="42",
            fields={"Heading": "Deal", "Status": kind.value},
            updated_at=at,
            stage_kind=kind,
        )

    apply_record(svc, ctx(), deal(StageKind.OPEN, T0))
    won = apply_record(svc, ctx(), deal(StageKind.WON, T0 + timedelta(days=1)))
    again = apply_record(svc, ctx(), deal(StageKind.WON, T0 + timedelta(days=1)))

    assert [e.type for e in won.events] == [ChangeType.DEAL_CHANGED, ChangeType.LEAD_WON]
    assert won.events[1].lead_id == "lead-9"
    assert again.outcome is Applied.UNCHANGED
    assert bus.types() == ["DealChanged", "LeadWon"]  # the open deal as exported is no change (no echo)


def test_a_deletion_unlinks_reports_once_and_outlives_late_changes(svc: InboundServices, bus: RelayedBus):
    svc.links.save(  # type: ignore[attr-defined]
        exported(updated_at=T0 - timedelta(days=1))
    )
    apply_record(svc, ctx(), company())
    deleted = apply_deletion(svc, ctx(), CrmObject.COMPANY, "42", occurred_at=T0 + timedelta(hours=1))
    twice = apply_deletion(svc, ctx(), CrmObject.COMPANY, "42")
    late = apply_record(svc, ctx(), company(at=T0 + timedelta(minutes=30), Name="Edited before the delete"))

    assert deleted.outcome is Applied.DELETED and twice.outcome is Applied.UNCHANGED
    assert late.outcome is Applied.STALE
    assert bus.types() == ["CompanyChanged", "RecordDeleted"]
    assert bus.delivered[1].detail["app_id"] == "lead-1"
    assert svc.links.by_crm_id(TENANT, CRM, CrmObject.COMPANY, "42") is None
    assert apply_deletion(svc, ctx(), CrmObject.COMPANY, "999").outcome is Applied.UNCHANGED  # never reported


def test_when_the_bus_fails_the_sync_goes_on_and_the_relay_delivers_the_change_later_logging_the_delay_once(
    svc: InboundServices, bus: RelayedBus, table: Table
):
    bus.fail_next = True
    applied = apply_record(svc, ctx(), company())  # the sync never waits for the bus
    with pytest.raises(RelayRetry):
        bus.relay.relay()  # the relay's first delivery of the chunk: throttled; Lambda delivers it again
    bus.fail_next = True
    with pytest.raises(RelayRetry):
        bus.relay.relay()

    assert applied.outcome is Applied.CREATED
    assert bus.types() == ["CompanyChanged"]  # the third delivery
    assert [i.id for i in feed_items(svc)] == [bus.delivered[0].detail["id"]]  # the feed holds the change once
    [delayed] = DynamoSyncLog(table).query(TENANT, status=Outcome.FAILED).items  # one entry for both failures
    assert delayed.action is Action.PUBLISH_EVENTS and delayed.error is not None
    assert delayed.error.code == "event_delivery_failed" and "ThrottlingException" in delayed.error.message
    assert "retrying" in (delayed.error.hint or "") and delayed.details == {
        "error_code": "ThrottlingException", "retried": True, "change_ids": [bus.delivered[0].detail["id"]]
    }


def test_an_event_the_bus_refuses_for_what_it_is_is_logged_and_not_retried(
    svc: InboundServices, table: Table
) -> None:
    class Refusing:
        def publish(self, events: Sequence[AppEvent]) -> None:
            raise EventDeliveryError("too big", failed=[(e, "ValidationException", "Detail too large") for e in events])

    relay = RelayedBus(table).relay
    relay._services = replace(relay._services, publisher=Refusing())
    apply_record(svc, ctx(), company())

    assert relay.relay() == 1 and relay.relay() == 0  # not delivered again
    [refused] = DynamoSyncLog(table).query(TENANT, status=Outcome.FAILED).items
    assert refused.error is not None and "ValidationException: Detail too large" in refused.error.message
    assert "GET /changes" in (refused.error.hint or "") and refused.details and refused.details["retried"] is False


def test_the_feed_hides_changes_younger_than_the_settle_window_and_binds_cursors_to_the_tenant(
    svc: InboundServices,
):
    apply_record(svc, ctx(), company())
    now = svc.feed.read(TENANT, cursor=None, now=datetime.now(UTC) - timedelta(seconds=5))
    later = svc.feed.read(TENANT, cursor=None, now=datetime.now(UTC) + timedelta(seconds=5))

    assert now.items == [] and len(later.items) == 1
    with pytest.raises(InvalidCursor):
        svc.feed.read("globex", cursor=later.next_cursor)
    with pytest.raises(InvalidCursor):
        svc.feed.read(TENANT, cursor="not-a-cursor")


def test_latest_wins_keeps_the_apps_value_when_the_app_changed_it_after_the_crm(svc: InboundServices, bus):
    written = {"Name": "Nordlys ApS", "OrgNr": "12345678", "Url": "nordlys.dk"}
    svc.links.save(  # type: ignore[attr-defined]
        exported(updated_at=T0 + timedelta(hours=2), field_hashes=field_hashes(written))  # after the CRM edit below
    )
    result = apply_record(svc, ctx(), company(at=T0 + timedelta(hours=1), Name="CRM edit"))

    # The CRM's name loses to the app's newer one, and every other field holds what the app wrote: nothing to report.
    assert result.outcome is Applied.UNCHANGED and bus.delivered == []


# --- a page at a time (the scheduled sync) ---------------------------------------------------------------------------


def test_a_page_is_applied_like_records_one_by_one(svc: InboundServices, bus: RelayedBus):
    apply_record(svc, ctx(), company("1", Name="Known AS"))
    apply_record(svc, ctx(), company("2", at=T0 + timedelta(hours=1), Name="Newer AS"))
    page = [
        company("1", at=T0 + timedelta(minutes=1), Name="Known AS renamed"),  # update
        company("2", Name="Older AS"),  # older than what the app has
        company("3", Name="Brand New AS"),  # new
        company("3", at=T0 + timedelta(minutes=2), Name="Brand New AS v2"),  # the same record again, newer
        company("4", Name="Gone AS").model_copy(update={"deleted": True}),  # never seen: nothing to report
        CrmRecord(object=CrmObject.ACTIVITY, id="9", fields={}, updated_at=T0),  # does not sync from the CRM
    ]
    bus.delivered.clear()

    results = apply_records(svc, ctx(), page)

    assert [r.outcome for r in results] == [
        Applied.UPDATED, Applied.STALE, Applied.CREATED, Applied.UPDATED, Applied.UNCHANGED, Applied.SKIPPED,
    ]  # fmt: skip
    names = [(e.detail["crm_id"], e.detail["fields"]["company_name"]) for e in bus.delivered]
    assert names == [("1", "Known AS renamed"), ("3", "Brand New AS"), ("3", "Brand New AS v2")]
    reported = [(i.crm_id, i.action) for i in feed_items(svc)][-3:]
    assert reported == [("1", "updated"), ("3", "created"), ("3", "updated")]
    # Applied again (a retried page): nothing new for the app.
    assert {r.outcome for r in apply_records(svc, ctx(), page[:4])} == {Applied.UNCHANGED, Applied.STALE}
    assert len(bus.delivered) == 3


class Unreadable:
    """A CRM value that breaks the mapping in a way nobody foresaw (a bug): it cannot even be turned into text."""

    def __str__(self) -> str:
        raise ValueError("no text for this value")


def test_a_record_that_cannot_be_mapped_fails_alone_and_is_logged(svc: InboundServices, table: Table, bus):
    broken = company("2", Name=Unreadable())
    results = apply_records(svc, ctx(), [company("1"), broken, company("3", Name="Tredje AS")])

    assert [r.outcome for r in results] == [Applied.CREATED, Applied.FAILED, Applied.CREATED]
    assert results[1].code == "internal_error" and "no text for this value" in (results[1].reason or "")
    assert [e.detail["crm_id"] for e in bus.delivered] == ["1", "3"]
    failed = DynamoSyncLog(table).query(TENANT, status=Outcome.FAILED).items
    assert [(e.crm_id, e.error.code if e.error else None) for e in failed] == [("2", "internal_error")]
    with pytest.raises(ValueError):  # one record alone (a webhook): the caller sees the error and retries
        apply_record(svc, ctx(), broken)


def test_one_refused_event_does_not_keep_the_others_of_its_call_off_the_bus(svc: InboundServices, table: Table) -> None:
    class RefusesBigCallsAndOneEvent:  # as EventBridge refuses a whole call for one bad entry or its size
        def __init__(self) -> None:
            self.delivered: list[AppEvent] = []

        def publish(self, events: Sequence[AppEvent]) -> None:
            if len(events) > 1 or events[0].detail["crm_id"] == "2":
                raise EventDeliveryError("refused", failed=[(e, "ValidationException", "too big") for e in events])
            self.delivered.extend(events)

    bus = RefusesBigCallsAndOneEvent()
    relay = RelayedBus(table).relay
    relay._services = replace(relay._services, publisher=bus)
    apply_records(svc, ctx(), [company("1"), company("2", Name="Havn A/S"), company("3", Name="Fjord ApS")])

    assert relay.relay() == 1 and relay.put == 2
    assert sorted(e.detail["crm_id"] for e in bus.delivered) == ["1", "3"]
    [refused] = DynamoSyncLog(table).query(TENANT, status=Outcome.FAILED).items
    assert refused.error is not None and refused.error.message.startswith("1 of 3 change events were not put")


def test_summary_mode_puts_one_event_per_feed_chunk_on_the_bus_naming_the_changes_in_the_feed(
    svc: InboundServices, table: Table
) -> None:
    bus = RelayedBus(table, mode=ChangeEvents.SUMMARY)
    apply_record(svc, ctx(), company("1"))  # known already: its unchanged re-read reports nothing
    bus.delivered.clear()
    page = [company("1"), company("2", Name="Havn A/S"), company("3", Name="Fjord ApS")]

    apply_records(svc, ctx(), page)
    apply_records(svc, ctx(), page)  # the same page again (a redelivery): nothing new

    assert bus.types() == ["ChangesReported"]
    detail = bus.delivered[0].detail
    created = [i for i in feed_items(svc) if i.crm_id in ("2", "3")]
    assert detail["change_ids"] == [i.id for i in created] and detail["count"] == 2
    assert detail["counts"] == {"CompanyChanged": 2}
    assert (detail["tenant"], detail["crm"], detail["source"], detail["run_id"]) == (TENANT, CRM, "schedule", "run-1")


