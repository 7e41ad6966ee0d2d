"""No echoes (issue 17, finding 1, and the change feed half of finding 9), end to end for SuperOffice and Salesforce:
a tenant connected through the real OAuth flow, leads exported and lead events sent over HTTP (ExportFunction), runs
started with `POST /sync-runs` and executed by SyncWorkerFunction from the SyncQueue (the local pump, stepped by the
test), what the app is told read back over HTTP (`GET /changes`) and from the bus (an EventBridge rule into a capture
queue in moto), CRM-side edits made in the sandboxes as a CRM user would.

What leadbridge wrote never comes back as a change; a CRM-side edit comes back once, naming exactly the fields it
changed; a lifecycle write never comes back as a lifecycle event; a replayed page leaves each change once in the feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from leadbridge import runtime
from leadbridge.errors import StoreUnavailable
from leadbridge.store import records
from leadbridge.store.table import record_state_key
from tests.support.app_driver import AppDriver, feed_shows_changes_at_once, stack  # noqa: F401
from tests.support.lead_documents import STATUS_MAPPING, lead
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env

SO_TENANT = "acme-echo"


class App(AppDriver):
    """What the app sees of one tenant's CRM: the HTTP API, the bus and the change feed."""

    queue_prefix, feed_page_size = "echo-capture", 2

    def two_way(self, names: dict[str, str], **sections: Any) -> None:
        """Companies, persons and deals both ways with their plain single-field mappings, an initial import. A CRM
        edit always reaches the app (`crm_wins`): an edit in the second after an export must not lose to it by the
        CRM's clock, which counts whole seconds."""
        document = self.settings()
        for obj, crm_object in names.items():
            document["objects"][obj] = {**document["objects"][obj], "crm_object": crm_object,
                                        "direction": "off" if obj == "activity" else "both"}  # fmt: skip
            for mapping in document["field_mappings"][obj]:
                if len(mapping["app_fields"]) == 1 and not mapping["transforms"] and not mapping["custom"]:
                    mapping.update(direction="both", conflict_policy="crm_wins")
        self.configure(objects=document["objects"], field_mappings=document["field_mappings"], initial_import=True,
                       **sections)  # fmt: skip

    def event(self, kind: str, document: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """A lead event, whatever its outcome (the tests read it)."""
        return self.send_event(kind, document, **extra)

    def forget_state(self, obj: str, crm_id: str) -> None:
        """As if the export had been made before exports stored record states (or the state write was lost)."""
        runtime.table().delete(record_state_key(self.tenant, self.crm, obj, crm_id))


def summary(changes: list[dict[str, Any]]) -> list[tuple[str, str, str, list[str]]]:
    return sorted((c["type"], c["action"], c["crm_id"], c["changed_fields"]) for c in changes)


# --- SuperOffice ---------------------------------------------------------------------------------------------------


@pytest.fixture
def so(env: Env) -> Iterator[App]:
    env.connect(SO_TENANT)
    with env.sandbox.lock:  # only the scheduled sync brings changes here (webhooks have their own tests)
        env.sandbox.customers[CTX].webhooks.clear()
    app = App(env.stack, env.http, SO_TENANT, "superoffice", lambda role: env.auth(SO_TENANT, role))
    app.two_way({"company": "Contact", "person": "Person", "deal": "Sale", "activity": "Appointment"},
                status_mapping={**STATUS_MAPPING, "on_deleted": "mark_lost"})  # fmt: skip
    app.bus_changes()
    yield app


def test_superoffice_an_exported_lead_does_not_come_back_and_a_crm_edit_names_only_its_field(so: App, env: Env) -> None:
    exported = so.export(lead("L-E1"))
    company_id = exported["company"]["crm_id"]
    [person] = exported["persons"]
    assert exported["company"]["action"] == "created" and person["action"] == "created"

    first = so.run()

    assert first["mode"] == "first" and first["counts"]["company"]["failed"] == 0, first
    assert so.bus_changes() == [] and so.feed() == []

    env.sandbox.update(CTX, "contact", int(company_id), {"Name": "Havblik Fisk Holding ApS"})
    second = so.run()

    [changed] = so.bus_changes()
    assert (changed["type"], changed["action"], changed["crm_id"]) == ("CompanyChanged", "updated", company_id)
    assert changed["changed_fields"] == ["company_name"] and changed["lead_id"] == "L-E1"
    assert changed["fields"]["company_name"] == "Havblik Fisk Holding ApS"
    assert second["counts"]["company"]["updated"] == 1 and second["counts"]["person"].get("updated", 0) == 0
    assert [c["id"] for c in so.feed()] == [changed["id"]]
    read = [e for e in so.sync_log() if e["direction"] == "from_crm" and e["crm_id"] == company_id]
    assert [e["fields_written"] for e in read] == [["company_name"]]

    so.run()
    assert so.bus_changes() == []


def test_superoffice_an_export_without_a_record_state_is_an_update_of_the_edited_field_only(so: App, env: Env) -> None:
    """An export made before exports stored record states: the link alone says what leadbridge wrote."""
    exported = so.export(lead("L-E2"))
    company_id = exported["company"]["crm_id"]
    so.forget_state("company", company_id)

    env.sandbox.update(CTX, "contact", int(company_id), {"Name": "Havblik Fisk Nord ApS"})
    so.run()

    assert summary(so.bus_changes()) == [("CompanyChanged", "updated", company_id, ["company_name"])]


def test_superoffice_a_lead_lost_or_won_in_the_app_does_not_come_back(so: App, env: Env) -> None:
    lost = lead("L-E3", stage="Lead")
    won = lead("L-E4", stage="Lead")
    lost_sale = so.event("created", lost)["deal"]["crm_id"]
    won_sale = so.event("created", won)["deal"]["crm_id"]
    so.run()
    assert so.bus_changes() == []

    deleted = so.event("deleted", lost)  # on_deleted: mark_lost
    sold = so.event("won", {**won, "stage": "Won"})
    assert deleted["deal"]["action"] == "updated" and sold["deal"]["action"] == "updated"
    assert env.sandbox.get(CTX, "sale", int(lost_sale))["Status"] == "Lost"
    assert env.sandbox.get(CTX, "sale", int(won_sale))["Status"] == "Sold"

    so.run()

    assert summary(so.bus_changes()) == [] and so.feed() == []


def test_superoffice_a_replayed_page_leaves_each_change_once_in_the_feed(
    so: App, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        env.sandbox.create(CTX, "contact", {"Name": f"Replay Firma {i}"})
    real = records.DynamoRecordStates.save_many
    calls = {"n": 0}

    def lost_once(self: records.DynamoRecordStates, states: Any, **options: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the page was reported; remembering it fails: the job is retried
            raise StoreUnavailable("injected: the table is unreachable")
        return real(self, states, **options)

    monkeypatch.setattr(records.DynamoRecordStates, "save_many", lost_once)
    run_id = so.start_run()
    assert so.work().failed  # the queue delivers the job again
    assert so.work().deleted
    so.sync_run(run_id)

    published = [c for c in so.bus_changes() if c["type"] == "CompanyChanged"]
    feed = so.feed()
    # The bus gets what the feed appended (its relay): the replay appended nothing, so each change reached it once.
    assert len(published) == 3 and sorted(c["id"] for c in feed) == sorted(c["id"] for c in published)
    assert sorted(c["fields"]["company_name"] for c in feed) == [f"Replay Firma {i}" for i in range(3)]


# --- Salesforce ----------------------------------------------------------------------------------------------------


def sf_lead(lead_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": lead_id,
        "stage": "New",
        "companyName": f"Nordlys Solar {lead_id} ApS",
        "website": f"https://nordlys-{lead_id.lower()}.dk",
        "cvr": str(41000000 + sum(map(ord, lead_id))),
        "dealTitle": f"Solar park {lead_id}",
        "dealAmount": "125000",
        "expectedClose": "2026-09-30",
        "contacts": [{"id": "c1", "name": "Ane Berg", "email": f"ane@nordlys-{lead_id.lower()}.dk"}],
    }
    return {**base, **overrides}


class SfOrg:
    def __init__(self, connected: SfConnect) -> None:
        self.sb = connected.sandbox
        self.org = connected.org_id
        self.rep = self.sb.add_user(self.org, "rita@sf-connect.test", name="Rita Rep")  # a CRM user, not leadbridge

    def edit(self, sobject: str, crm_id: str, values: dict[str, Any]) -> None:
        self.sb.update(self.org, sobject, crm_id, values, actor=self.rep)


@pytest.fixture
def sf(sfc: SfConnect) -> Iterator[App]:
    sfc.connect()
    app = App(sfc.stack, sfc.http, SF_TENANT, "salesforce", lambda role: sfc.auth(SF_TENANT, role))
    yield app


@pytest.fixture
def org(sfc: SfConnect) -> SfOrg:
    return SfOrg(sfc)


def sf_two_way(app: App, **sections: Any) -> None:
    status = app.settings()["status_mapping"]
    app.two_way(
        {"company": "Account", "person": "Contact", "deal": "Opportunity", "activity": "Task"},
        status_mapping={**status, "on_deleted": "mark_lost", **sections.pop("status", {})},
        **sections,
    )
    app.bus_changes()


def test_salesforce_an_exported_lead_does_not_come_back_and_a_crm_edit_names_only_its_field(
    sf: App, org: SfOrg
) -> None:
    sf_two_way(sf)
    exported = sf.export(sf_lead("SF-E1"))
    account = exported["company"]["crm_id"]

    sf.run()
    assert sf.bus_changes() == [] and sf.feed() == []

    org.edit("Account", account, {"Name": "Nordlys Solar Holding ApS"})
    sf.run()

    [changed] = sf.bus_changes()
    assert (changed["type"], changed["action"], changed["crm_id"]) == ("CompanyChanged", "updated", account)
    assert changed["changed_fields"] == ["company_name"] and changed["lead_id"] == "SF-E1"
    assert [c["id"] for c in sf.feed()] == [changed["id"]]

    sf.run()
    assert sf.bus_changes() == []


def test_salesforce_an_export_without_a_record_state_is_an_update_of_the_edited_field_only(sf: App, org: SfOrg) -> None:
    sf_two_way(sf)
    account = sf.export(sf_lead("SF-E2"))["company"]["crm_id"]
    sf.forget_state("company", account)

    org.edit("Account", account, {"Website": "https://nordlys-solar.dk"})
    sf.run()

    assert summary(sf.bus_changes()) == [("CompanyChanged", "updated", account, ["website"])]


def test_salesforce_leadbridge_as_the_last_writer_with_its_own_values_is_no_change(
    sf: App, org: SfOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line: the record state of an export is lost, but Salesforce says leadbridge's user wrote last and
    the Account holds what it wrote."""
    sf_two_way(sf)
    account = org.sb.create(org.org, "Account", {"Name": "Gammel Firma ApS", "Website": "https://gammel.dk"},
                            actor=org.rep)  # fmt: skip
    sf.run()
    [imported] = sf.bus_changes()
    assert imported["crm_id"] == account and imported["action"] == "created"

    def lost(self: records.DynamoRecordStates, states: Any) -> None:
        raise StoreUnavailable("injected: the table is unreachable")

    document = sf_lead("SF-E5", companyName="Gammel Firma Nord ApS", website="https://gammel.dk")
    choice = {"mode": "link", "crm_company_id": account}
    with monkeypatch.context() as lost_writes:  # the export's state write is lost
        lost_writes.setattr(records.DynamoRecordStates, "remember", lost)
        response = sf.http.post("/leads/SF-E5/export", json={"lead": document, "choice": choice},
                                headers=sf.auth("member"), timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text  # the lost state write does not fail the export
    assert org.sb.get(org.org, "Account", account)["Name"] == "Gammel Firma Nord ApS"

    sf.run()
    assert [c for c in sf.bus_changes() if c["crm_id"] == account] == []

    org.edit("Account", account, {"Name": "Gammel Firma Syd ApS"})  # a CRM user edits it: reported
    sf.run()
    assert summary(sf.bus_changes()) == [("CompanyChanged", "updated", account, ["company_name"])]


def test_salesforce_a_lead_lost_or_won_in_the_app_does_not_come_back(sf: App, org: SfOrg) -> None:
    sf_two_way(sf)
    stage = sf.settings()["status_mapping"]["create_at_stage"]
    lost = sf_lead("SF-E3", stage=stage)
    won = sf_lead("SF-E4", stage=stage)
    lost_deal = sf.event("created", lost)["deal"]["crm_id"]
    won_deal = sf.event("created", won)["deal"]["crm_id"]
    sf.run()
    assert sf.bus_changes() == []

    sf.event("deleted", lost)  # on_deleted: mark_lost
    sf.event("won", {**won, "stage": "Won"})
    assert org.sb.get(org.org, "Opportunity", lost_deal)["IsClosed"] is True
    assert org.sb.get(org.org, "Opportunity", won_deal)["IsWon"] is True

    sf.run()

    assert sf.bus_changes() == [] and sf.feed() == []


def test_salesforce_lead_mode_an_exported_lead_does_not_come_back(sf: App, org: SfOrg) -> None:
    both = {"direction": "both", "conflict_policy": "crm_wins"}
    company = [{"app_fields": ["company_name"], "crm_field": "Company", **both},
               {"app_fields": ["website"], "crm_field": "Website", **both}]  # fmt: skip
    person = [{"app_fields": ["first_name"], "crm_field": "FirstName"},
              {"app_fields": ["last_name"], "crm_field": "LastName"},
              {"app_fields": ["email"], "crm_field": "Email"}]  # fmt: skip
    sf.configure(objects={"company": {"crm_object": "Lead", "direction": "both"},
                          "person": {"crm_object": "Lead", "direction": "to_crm"},
                          "deal": {"crm_object": "Opportunity", "direction": "off"},
                          "activity": {"crm_object": "Task", "direction": "off"}},
                 field_mappings={"company": company, "person": person, "deal": [], "activity": []},
                 initial_import=True)  # fmt: skip
    sf.bus_changes()
    exported = sf.export(sf_lead("SF-E6"))
    crm_lead = exported["company"]["crm_id"]
    assert crm_lead.startswith("00Q")

    sf.run()
    assert sf.bus_changes() == [] and sf.feed() == []

    org.edit("Lead", crm_lead, {"Company": "Nordlys Solar Lead ApS"})
    sf.run()
    assert summary(sf.bus_changes()) == [("CompanyChanged", "updated", crm_lead, ["company_name"])]


def test_superoffice_an_activity_written_by_leadbridge_does_not_come_back(so: App, env: Env) -> None:
    document = so.settings()
    document["objects"]["activity"] = {**document["objects"]["activity"], "direction": "both"}
    for mapping in document["field_mappings"]["activity"]:
        if len(mapping["app_fields"]) == 1 and not mapping["transforms"]:
            mapping.update(direction="both", conflict_policy="crm_wins")
    so.configure(objects=document["objects"], field_mappings=document["field_mappings"])
    so.export(lead("L-E7"))
    activity = {"id": "act-1", "type": "call", "subject": "Intro call", "description": "Wants a demo",
                "due_date": "2026-03-20", "status": "open", "person_ref": "c1",
                "created_at": datetime.now(UTC).isoformat()}  # fmt: skip
    posted = so.http.post("/leads/L-E7/activities", json=activity, headers=so.auth("member"), timeout=30)
    assert posted.status_code == 200, posted.text
    appointment = posted.json()["crm_id"]
    so.run()
    assert so.bus_changes() == []

    edited = {**activity, "description": "Wants a demo soon"}  # the app edits it: leadbridge updates it
    updated = so.http.post("/leads/L-E7/activities", json=edited, headers=so.auth("member"), timeout=30)
    assert updated.status_code == 200 and updated.json()["fields_written"] == ["Description"], updated.text
    so.run()
    assert so.bus_changes() == []

    env.sandbox.update(CTX, "appointment", int(appointment), {"Description": "Wants a demo in April"})
    so.run()
    assert summary(so.bus_changes()) == [("ActivityChanged", "updated", appointment, ["description"])]
