"""Rule scope and initial import off, end to end (issue 17, findings 5 and 6), for SuperOffice and Salesforce.

- The outbound selective-sync rules decide what is created in the CRM and nothing else: CRM companies that do not
  satisfy them (here: no app score) still reach the app on a scheduled run (the dispatcher's) and by webhook.
- The inbound filter (`settings.inbound_filter`, conditions on CRM-side values) holds back the companies it excludes,
  and their persons and deals with them (skipped with a log entry naming the company); a company that comes to match
  comes in, and its children with their next change.
- `initial_import: false`: records made just before connecting are not reported by the first runs, although the
  incremental overlap re-reads them; a later edit of such a record is.

Through the local stack: the OAuth connect flow, settings over HTTP, runs started by the dispatcher or
`POST /sync-runs` and executed by the worker from the SyncQueue (the stack's queue pump), webhooks from the sandboxes
through the intake and the processor; what the app sees is read from the change feed (`GET /changes`), the bus (a
rule into an SQS queue), the runs API and the sync log (`GET /sync-log`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from leadbridge import runtime
from tests.support.app_bus import drain
from tests.support.change_feed import without_settle_window
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env
from tests.support.superoffice_webhooks import TENANT as SO_TENANT
from tests.support.superoffice_webhooks import Hooks
from tests.support.waiting import wait_until

SCORE_RULE = {"enabled": True, "conditions": [{"object": "company", "field": "score", "op": "gte", "value": 50}]}


@pytest.fixture(autouse=True)
def feed_shows_changes_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    without_settle_window(monkeypatch)


class App:
    """The lead app and its admin, over HTTP: settings, runs, the change feed, the sync log, the bus."""

    def __init__(self, http: httpx.Client, auth: Callable[[str], dict[str, str]], crm: str, tenant: str) -> None:
        self.http, self.auth, self.crm, self.tenant = http, auth, crm, tenant
        self.sqs = boto3.client("sqs")
        self.queue = self._subscribe()
        self.seen: list[dict[str, Any]] = []

    def _subscribe(self) -> str:
        events, bus = boto3.client("events"), os.environ["EVENT_BUS_NAME"]
        url = self.sqs.create_queue(QueueName=f"rule-scope-{self.crm}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"rule-scope-{self.crm}", EventBusName=bus,
                        EventPattern=json.dumps({"source": ["leadbridge"]}))  # fmt: skip
        events.put_targets(Rule=f"rule-scope-{self.crm}", EventBusName=bus, Targets=[{"Id": "app", "Arn": arn}])
        return url

    def configure(self, **sections: Any) -> dict[str, Any]:
        saved = self.http.patch(f"/settings/{self.crm}", json=sections,
                                headers={**self.auth("admin"), "If-Match": "*"})  # fmt: skip
        assert saved.status_code == 200, saved.text
        return dict(saved.json())

    def make_due(self) -> None:
        """The schedule says a run is due now; the dispatcher (fired as its EventBridge schedule would) queues it."""
        runtime.connection_store().set_next_run(self.tenant, self.crm, datetime.now(UTC) - timedelta(minutes=1))

    def wait_for_run(self, run_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = {}

        def finished() -> bool:
            shown.update(self.http.get(f"/sync-runs/{run_id}", headers=self.auth("member")).json())
            return shown.get("state") in ("succeeded", "failed")

        wait_until(finished, what=f"run {run_id} to finish")
        return shown

    def run(self, **body: Any) -> dict[str, Any]:
        """Start a run once the connection's previous one has let go of it (its lease is released just after it is
        shown finished), and wait for it to finish."""
        answers: list[httpx.Response] = []

        def started() -> bool:
            answers.append(self.http.post("/sync-runs", json={"crm": self.crm, **body}, headers=self.auth("admin")))
            assert answers[-1].status_code in (202, 409), answers[-1].text
            return answers[-1].status_code == 202

        wait_until(started, what="the run to be accepted")
        run = self.wait_for_run(answers[-1].json()["id"])
        assert run["state"] == "succeeded", run
        return run

    def changes(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = self.http.get("/changes", params=params, headers=self.auth("member")).json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return items

    def changed(self, change_type: str) -> list[dict[str, Any]]:
        return [c for c in self.changes() if c["type"] == change_type]

    def bus(self) -> list[dict[str, Any]]:
        """Every event on the app's queue so far (changes once the relay of the feed caught up: `drain`)."""
        self.seen += drain(self.queue)
        return list(self.seen)

    def log(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = self.http.get("/sync-log", params=params, headers=self.auth("member")).json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def skipped(self, crm_id: str) -> list[str]:
        """The reasons of the sync log's inbound skips of one CRM record."""
        return [e["error"]["message"] for e in self.log()
                if e["crm_id"] == crm_id and e["outcome"] == "skipped" and e["direction"] == "from_crm"]  # fmt: skip


def a_second_later() -> None:
    """Until the clock is in a later second than now: CRMs stamp records to the second, so a record made in the
    second the connection's first run starts counts as made after it (reported rather than lost)."""
    made = datetime.now(UTC)
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > made, what="the next second", interval=0.05)


def names(changes: list[dict[str, Any]], field: str = "company_name") -> set[str]:
    return {c["fields"].get(field) for c in changes}


# --- SuperOffice ------------------------------------------------------------------------------------------------------


@pytest.fixture
def so(env: Env) -> Iterator[tuple[App, Hooks]]:
    """Records are made by each test before it connects; `connect()` then connects, turns CRM → app on and subscribes
    the app."""
    yield App(env.http, lambda role: env.auth(SO_TENANT, role), "superoffice", SO_TENANT), Hooks(env)
    env.sandbox.clear_faults()


def so_connect(app: App, hooks: Hooks) -> None:
    hooks.env.connect(SO_TENANT)
    hooks.sync_from_crm()
    hooks.subscribe_app()


def so_backdate(hooks: Hooks, records: list[tuple[str, int]]) -> None:
    """Make records look last changed a day ago (made long before the connection), so no run's overlap re-reads them:
    only the step that brings held-back children can."""
    with hooks.sb.lock:
        for kind, ident in records:
            record = hooks.sb.customer(CTX).records[kind][ident]
            record["UpdatedDate"] = record["CreatedDate"] = record["UpdatedDate"] - timedelta(days=1)


def test_superoffice_companies_outside_the_selective_sync_rules_come_in_by_scheduled_run_and_webhook(
    so: tuple[App, Hooks],
) -> None:
    app, hooks = so
    hooks.sb.create(CTX, "contact", {"Name": "Uten Score AS"})  # no app score: the rule would not create it
    so_connect(app, hooks)
    app.configure(selective_sync=SCORE_RULE, initial_import=True, schedule={"frequency": "every_15_minutes"})
    app.make_due()

    dispatched = hooks.stack.scheduler.fire_now("DispatcherFunction")
    assert dispatched.ok and dispatched.result["queued"] == 1, dispatched.result
    wait_until(lambda: app.http.get("/sync-runs", headers=app.auth("member")).json()["items"],
               what="the scheduled run to be listed")  # fmt: skip
    [listed] = app.http.get("/sync-runs", headers=app.auth("member")).json()["items"]
    run = app.wait_for_run(listed["id"])

    assert run["trigger"] == "schedule" and run["state"] == "succeeded", run
    assert run["counts"]["company"]["created"] >= 1 and run["counts"]["company"]["skipped"] == 0, run
    assert "Uten Score AS" in names(app.changed("CompanyChanged"))

    # By webhook: a company made in SuperOffice now, again without a score.
    made = hooks.sb.create(CTX, "contact", {"Name": "Heller Ingen Score AS"})
    hooks.settled([d.event_id for d in hooks.wait_for_deliveries(1)])

    [arrived] = [c for c in app.changed("CompanyChanged") if c["crm_id"] == str(made["ContactId"])]
    assert (arrived["action"], arrived["source"]) == ("created", "webhook")
    assert arrived["fields"]["company_name"] == "Heller Ingen Score AS"
    assert str(made["ContactId"]) in {e["detail"]["crm_id"] for e in app.bus() if e["detail-type"] == "CompanyChanged"}
    assert not [e for e in app.log() if e["outcome"] == "skipped" and e["direction"] == "from_crm"]


def test_superoffice_inbound_filter_holds_back_a_company_with_its_persons_and_sales(so: tuple[App, Hooks]) -> None:
    app, hooks = so
    sb = hooks.sb
    retail = sb.create(CTX, "contact", {"Name": "Detalj AS", "Department": "Retail"})
    under_retail = {"Contact": {"ContactId": retail["ContactId"]}}
    retail_person = sb.create(CTX, "person", {"Firstname": "Rita", "Lastname": "Detalj", **under_retail})
    retail_sale = sb.create(CTX, "sale", {"Heading": "Butikkavtale", "Amount": 1000, **under_retail})
    so_backdate(hooks, [("person", retail_person["PersonId"]), ("sale", retail_sale["SaleId"])])
    software = sb.create(CTX, "contact", {"Name": "Programvare AS", "Department": "Software"})
    software_person = sb.create(CTX, "person", {"Firstname": "Sofie", "Lastname": "Kode",
                                                "Contact": {"ContactId": software["ContactId"]}})  # fmt: skip
    so_connect(app, hooks)
    app.configure(initial_import=True, inbound_filter={"conditions": [
        {"object": "company", "crm_field": "Department", "op": "eq", "value": "Software"}]})  # fmt: skip

    run = app.run()

    assert names(app.changed("CompanyChanged")) == {"Programvare AS"}
    assert [c["crm_id"] for c in app.changed("PersonChanged")] == [str(software_person["PersonId"])]
    assert app.changed("DealChanged") == []
    assert run["counts"]["company"]["skipped"] == 1 and run["counts"]["person"]["skipped"] == 1, run
    assert run["counts"]["deal"]["skipped"] == 1, run
    company_id = str(retail["ContactId"])
    assert any("Department" in reason for reason in app.skipped(company_id))
    for child in (str(retail_person["PersonId"]), str(retail_sale["SaleId"])):
        assert any(f"its company {company_id} " in reason for reason in app.skipped(child)), app.skipped(child)

    # The company comes to match and a webhook brings it in; the next run brings its person and sale, untouched.
    sb.update(CTX, "contact", retail["ContactId"], {"Department": "Software"})
    hooks.settled([d.event_id for d in hooks.wait_for_deliveries(1)])
    assert [c["action"] for c in app.changed("CompanyChanged") if c["crm_id"] == company_id] == ["created"]
    assert app.changed("DealChanged") == []

    app.run()

    [person] = [c for c in app.changed("PersonChanged") if c["crm_id"] == str(retail_person["PersonId"])]
    assert person["action"] == "created" and person["parent_crm_id"] == company_id
    [sale] = app.changed("DealChanged")
    assert (sale["crm_id"], sale["action"], sale["parent_crm_id"]) == (
        str(retail_sale["SaleId"]), "created", company_id)
    again = app.run()  # brought once: nothing is held any more
    assert [c["crm_id"] for c in app.changed("PersonChanged")].count(str(retail_person["PersonId"])) == 1, again


def test_superoffice_initial_import_off_reports_nothing_made_before_connecting(so: tuple[App, Hooks]) -> None:
    app, hooks = so
    made = [hooks.sb.create(CTX, "contact", {"Name": f"Gammel Firma {i} AS"}) for i in range(3)]
    so_connect(app, hooks)
    app.configure(initial_import=False)
    a_second_later()

    first = app.run(objects=["company"])
    second = app.run(objects=["company"])  # re-reads the overlap before the first checkpoint

    assert first["mode"] == "first" and second["mode"] == "incremental", (first, second)
    assert second["counts"]["company"]["created"] == 0 and second["counts"]["company"]["skipped"] >= 3, second
    assert app.changed("CompanyChanged") == []

    # The edit reaches the app once, by its webhook or by the next run, whichever reads it first.
    hooks.sb.update(CTX, "contact", made[1]["ContactId"], {"Name": "Gammel Firma 1 Holding AS"})
    hooks.settled([d.event_id for d in hooks.wait_for_deliveries(1)])
    third = app.run(objects=["company"])

    assert third["counts"]["company"]["skipped"] == 2, third  # the other two, still in the overlap, still untouched
    [edited] = app.changed("CompanyChanged")
    assert (edited["crm_id"], edited["action"]) == (str(made[1]["ContactId"]), "created")
    assert edited["fields"]["company_name"] == "Gammel Firma 1 Holding AS"


# --- Salesforce -------------------------------------------------------------------------------------------------------

ACCOUNT_FIELDS = ["Id", "Name", "Industry"]


@pytest.fixture
def sf(sfc: SfConnect) -> Iterator[App]:
    yield App(sfc.http, lambda role: sfc.auth(SF_TENANT, role), "salesforce", SF_TENANT)
    sfc.sandbox.clear_faults()


def sf_backdate(sfc: SfConnect, records: list[tuple[str, str]]) -> None:
    """Make records look last changed a day ago (made long before the connection), so no run's overlap re-reads them:
    only the step that brings held-back children can."""
    with sfc.sandbox.lock:
        for sobject, record_id in records:
            record = sfc.sandbox.org(sfc.org_id).records[sobject][record_id]
            for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                record[stamp] -= timedelta(days=1)


def sf_connect(app: App, sfc: SfConnect) -> None:
    """Connect, then turn Salesforce → app on for company, person and deal with their plain mappings both ways."""
    sfc.connect()
    document = sfc.http.get("/settings/salesforce", headers=sfc.auth(SF_TENANT, "admin")).json()
    for obj in ("company", "person", "deal"):
        document["objects"][obj]["direction"] = "both"
        for mapping in document["field_mappings"][obj]:
            if len(mapping["app_fields"]) == 1 and not mapping["transforms"] and not mapping["custom"]:
                mapping["direction"] = "both"
    app.configure(objects=document["objects"], field_mappings=document["field_mappings"])
    app.bus()


def sf_deliver(app: App, sfc: SfConnect) -> None:
    """Salesforce sends its pending Outbound Messages; until leadbridge logged each notification."""
    attempts = sfc.sandbox.tick_outbound(force=True)
    assert attempts and all(a.acked for a in attempts), [(a.status, a.error) for a in attempts]
    ids = {n for a in attempts for n in a.notification_ids}
    wait_until(lambda: ids <= {e.get("correlation_id") for e in app.log()}, what=f"notifications {ids} processed")


def test_salesforce_accounts_outside_the_selective_sync_rules_come_in_by_scheduled_run_and_webhook(
    sf: App, sfc: SfConnect
) -> None:
    sfc.sandbox.create(sfc.org_id, "Account", {"Name": "No Score Ltd"})
    sf_connect(sf, sfc)
    sf.configure(selective_sync=SCORE_RULE, initial_import=True, schedule={"frequency": "every_15_minutes"})
    sf.make_due()

    dispatched = sfc.stack.scheduler.fire_now("DispatcherFunction")
    assert dispatched.ok and dispatched.result["queued"] == 1, dispatched.result
    wait_until(lambda: sf.http.get("/sync-runs", headers=sf.auth("member")).json()["items"],
               what="the scheduled run to be listed")  # fmt: skip
    [listed] = sf.http.get("/sync-runs", headers=sf.auth("member")).json()["items"]
    run = sf.wait_for_run(listed["id"])

    assert run["trigger"] == "schedule" and run["state"] == "succeeded", run
    assert run["counts"]["company"]["created"] == 1 and run["counts"]["company"]["skipped"] == 0, run
    assert names(sf.changed("CompanyChanged")) == {"No Score Ltd"}

    sfc.sandbox.add_outbound_message(sfc.org_id, "Account", sfc.webhook_url(), ACCOUNT_FIELDS)
    account = sfc.sandbox.create(sfc.org_id, "Account", {"Name": "Still No Score Ltd"})
    sf_deliver(sf, sfc)

    [arrived] = [c for c in sf.changed("CompanyChanged") if c["crm_id"] == account]
    assert (arrived["action"], arrived["source"]) == ("created", "webhook")
    assert account in {e["detail"]["crm_id"] for e in sf.bus() if e["detail-type"] == "CompanyChanged"}
    assert not [e for e in sf.log() if e["outcome"] == "skipped" and e["direction"] == "from_crm"]


def test_salesforce_initial_import_with_an_inbound_filter_skips_the_accounts_contacts_and_opportunities(
    sf: App, sfc: SfConnect
) -> None:
    sb, org = sfc.sandbox, sfc.org_id
    retail = sb.create(org, "Account", {"Name": "Corner Shop Inc", "Industry": "Retail"})
    retail_contacts = [sb.create(org, "Contact", {"LastName": f"Shopper {i}", "AccountId": retail}) for i in range(3)]
    retail_deal = sb.create(org, "Opportunity", {"Name": "Shelf deal", "StageName": "Prospecting",
                                                 "CloseDate": "2026-12-31", "AccountId": retail})  # fmt: skip
    sf_backdate(sfc, [("Contact", c) for c in retail_contacts] + [("Opportunity", retail_deal)])
    tech = sb.create(org, "Account", {"Name": "Byte Works Inc", "Industry": "Technology"})
    tech_contact = sb.create(org, "Contact", {"LastName": "Coder", "AccountId": tech})
    tech_deal = sb.create(org, "Opportunity", {"Name": "Cloud deal", "StageName": "Prospecting",
                                               "CloseDate": "2026-12-31", "AccountId": tech})  # fmt: skip
    sf_connect(sf, sfc)
    sf.configure(initial_import=True, inbound_filter={"conditions": [
        {"object": "company", "crm_field": "Industry", "op": "eq", "value": "Technology"}]})  # fmt: skip

    run = sf.run()

    assert [c["crm_id"] for c in sf.changed("CompanyChanged")] == [tech]
    assert [c["crm_id"] for c in sf.changed("PersonChanged")] == [tech_contact]
    assert [c["crm_id"] for c in sf.changed("DealChanged")] == [tech_deal]
    assert {e["detail"]["crm_id"] for e in sf.bus() if e["detail-type"].endswith("Changed")} == {
        tech, tech_contact, tech_deal}
    counts = run["counts"]
    assert (counts["company"]["skipped"], counts["person"]["skipped"], counts["deal"]["skipped"]) == (1, 3, 1), run
    assert any("Industry" in reason for reason in sf.skipped(retail))
    for child in (*retail_contacts, retail_deal):
        assert any(f"its company {retail} " in reason for reason in sf.skipped(child)), sf.skipped(child)

    # The Account comes to match: the next run brings it and, with it, its Contacts and Opportunity (untouched).
    sb.update(org, "Account", retail, {"Industry": "Technology"})
    sf.run()

    assert [c["action"] for c in sf.changed("CompanyChanged") if c["crm_id"] == retail] == ["created"]
    children = [(c["type"], c["crm_id"], c["action"], c["parent_crm_id"]) for c in sf.changes()
                if c["crm_id"] in (*retail_contacts, retail_deal)]  # fmt: skip
    assert sorted(children) == sorted([("PersonChanged", c, "created", retail) for c in retail_contacts]
                                      + [("DealChanged", retail_deal, "created", retail)])  # fmt: skip


def test_salesforce_initial_import_off_reports_nothing_made_before_connecting(sf: App, sfc: SfConnect) -> None:
    made = [sfc.sandbox.create(sfc.org_id, "Account", {"Name": f"Old Firm {i} Ltd"}) for i in range(3)]
    sf_connect(sf, sfc)
    sf.configure(initial_import=False)
    a_second_later()

    first = sf.run(objects=["company"])
    second = sf.run(objects=["company"])  # re-reads the overlap before the first checkpoint

    assert first["mode"] == "first" and second["mode"] == "incremental", (first, second)
    assert second["counts"]["company"]["created"] == 0 and second["counts"]["company"]["skipped"] == 3, second
    assert sf.changed("CompanyChanged") == []

    sfc.sandbox.update(sfc.org_id, "Account", made[1], {"Name": "Old Firm 1 Holdings Ltd"})
    third = sf.run(objects=["company"])

    assert third["counts"]["company"]["created"] == 1, third
    [edited] = sf.changed("CompanyChanged")
    assert (edited["crm_id"], edited["action"]) == (made[1], "created")
    assert edited["fields"]["company_name"] == "Old Firm 1 Holdings Ltd"


# --- a bad inbound filter is a 422 naming what is wrong -------------------------------------------------------------


@pytest.mark.parametrize(
    ("crm", "condition", "path", "code"),
    [
        ("superoffice", {"crm_field": "Departmnet", "op": "eq", "value": "x"}, "inbound_filter.conditions[0].crm_field",
         "unknown_crm_field"),
        ("salesforce", {"crm_field": "Industri", "op": "eq", "value": "x"}, "inbound_filter.conditions[0].crm_field",
         "unknown_crm_field"),
        ("salesforce", {"object": "activity", "crm_field": "Subject", "op": "is_empty"},
         "inbound_filter.conditions[0].object", "not_inbound"),
        ("superoffice", {"crm_field": "Name", "op": "at_or_after_stage", "value": "Won"},
         "inbound_filter.conditions[0]", None),
        ("salesforce", {"crm_field": "Name", "op": "in", "value": "Acme"}, "inbound_filter.conditions[0]", None),
    ],
)
def test_an_inbound_filter_the_crm_cannot_satisfy_is_refused_naming_the_condition(
    crm: str, condition: dict[str, Any], path: str, code: str | None, request: pytest.FixtureRequest
) -> None:
    if crm == "superoffice":
        env: Env = request.getfixturevalue("env")
        env.connect(SO_TENANT)
        app = App(env.http, lambda role: env.auth(SO_TENANT, role), crm, SO_TENANT)
    else:
        sfc: SfConnect = request.getfixturevalue("sfc")
        sfc.connect()
        app = App(sfc.http, lambda role: sfc.auth(SF_TENANT, role), crm, SF_TENANT)

    patch = {"objects": {"company": {"direction": "both"}}, "inbound_filter": {"conditions": [condition]}}
    refused = app.http.patch(f"/settings/{crm}", json=patch, headers={**app.auth("admin"), "If-Match": "*"})

    assert refused.status_code == 422, refused.text
    errors = refused.json()["error"]["details"]["errors"]
    assert any(e["path"].startswith(path) and (code is None or e["type"] == code) for e in errors), errors
    shown = app.http.get(f"/settings/{crm}", headers=app.auth("member")).json()
    assert shown["inbound_filter"] == {"match": "all", "conditions": []}  # nothing saved; the default lets all in
