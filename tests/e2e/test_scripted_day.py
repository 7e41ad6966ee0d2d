"""A scripted day with leadbridge, the issue 17 "Done when", end to end for SuperOffice and Salesforce (Account mode).

The day, driven only as the users and the CRM would drive it: an admin connects through the sandbox's OAuth flow and
saves a status mapping and a schedule over the defaults (`PATCH /settings`); members export 20 leads
(`POST /leads/{id}/export`) and send lifecycle events (stage changed, won, deleted); the CRM's webhooks (SuperOffice
signed webhooks, Salesforce Outbound Messages) reach the gateway and WebhookProcessorFunction; CRM users edit a
company field, a person field, a deal stage and delete a company in the sandboxes; the dispatcher queues three
scheduled runs (SyncWorkerFunction, the pump stepped by the test), the second against a CRM that answers 503 until it
is dead-lettered. Then the admin reads `GET /sync-log` and `GET /changes`, every page, and finds:

- every CRM-side edit on the change feed exactly once, `changed_fields` exactly the edited field (the stage in app
  terms), however many of webhook, scheduled run and late webhook saw it;
- nothing of leadbridge's own writes (20 exports, the lifecycle writes) on the feed: no echo;
- the induced failure as one failed `sync_run` entry with a reason and a hint, and the next run succeeding with the
  edit made before the failure;
- no failed entry without a reason, no entry twice for the same record, change and run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from leadbridge import runtime
from local.sandbox.superoffice.sandbox import SuperOfficeSandbox
from local.stack import LocalStack
from tests.support.app_driver import SO_STAGES, WORKER, AppDriver, feed_shows_changes_at_once, stack  # noqa: F401
from tests.support.lead_documents import lead
from tests.support.queues import messages_in
from tests.support.salesforce_connect import TENANT as SF_TENANT
from tests.support.salesforce_connect import SfConnect
from tests.support.superoffice_connect import CTX, Env
from tests.support.waiting import GENEROUS_TIMEOUT, wait_until

SO_TENANT = "acme-day"
PROCESSOR = "WebhookProcessorFunction"
ATTEMPTS = 5  # SyncQueue's maxReceiveCount (template.yaml)
LEADS = 20
SELLER = 305  # a SuperOffice associate who is not leadbridge's connection user


class Day(AppDriver):
    """One tenant's day: the app and admin over HTTP, the bus, the CRM user and the CRM's webhooks (per CRM below)."""

    crm: str
    tenant: str
    status_mapping: dict[str, Any]
    feed_page_size, sync_log_page_size = 7, 50

    def __init__(self, local_stack: LocalStack, http: httpx.Client, auth: Callable[[str], dict[str, str]]) -> None:
        super().__init__(local_stack, http, self.tenant, self.crm, auth, queue_name=f"app-events-day-{self.crm}")
        self.seen_runs: set[str] = set()

    def sync_log(self) -> list[dict[str, Any]]:
        """The whole sync log, every page."""
        return self.pages("/sync-log", self.sync_log_page_size)

    # --- the schedule -----------------------------------------------------------------------------------------------

    def scheduled_run(self, *, attempts: int = 1) -> dict[str, Any]:
        """The connection falls due, the dispatcher queues its run, the worker takes it `attempts` times (a failing
        job is redelivered at once; one more poll after the last moves it to the DLQ); the run as the API shows it."""
        runtime.connection_store().set_next_run(self.tenant, self.crm, datetime.now(UTC) - timedelta(minutes=1))
        dispatched = self.stack.scheduler.fire_now("DispatcherFunction")
        assert dispatched.ok and dispatched.result["queued"] == 1, dispatched.result
        for _ in range(attempts):
            self.stack.pump.poll_once(WORKER)
        if attempts > 1:
            self.stack.pump.poll_once(WORKER)
        assert messages_in(self.stack, "SyncQueue") == 0
        [run_id] = [r["id"] for r in self.get("/sync-runs")["items"] if r["id"] not in self.seen_runs]
        self.seen_runs.add(run_id)
        return dict(self.get(f"/sync-runs/{run_id}"))

    # --- webhooks ---------------------------------------------------------------------------------------------------

    def deliver_webhooks(self) -> None:
        """Until the CRM has delivered every webhook for what happened so far, and the gateway acknowledged it."""
        raise NotImplementedError

    def process_webhooks(self) -> None:
        """WebhookProcessorFunction takes WebhookQueue until it is empty."""

        def drained() -> bool:
            self.stack.pump.poll_once(PROCESSOR)
            return messages_in(self.stack, "WebhookQueue") == 0

        wait_until(drained, what="the webhook queue to be processed")

    # --- the CRM user (per CRM) -----------------------------------------------------------------------------------

    def edit_company_name(self, crm_id: str, name: str) -> None:
        raise NotImplementedError

    def edit_company_other(self, crm_id: str) -> str:
        """Edit a second company field; the app field it maps to."""
        raise NotImplementedError

    def edit_person_title(self, crm_id: str, title: str) -> None:
        raise NotImplementedError

    def move_deal(self, crm_id: str) -> str:
        """Move a deal to another open stage; the app stage it maps to."""
        raise NotImplementedError

    def delete_company(self, crm_id: str, person_id: str) -> list[tuple[str, str]]:
        """Delete a company; the (object, crm id) the CRM deleted with it."""
        raise NotImplementedError

    def deal_outcome(self, crm_id: str) -> str:
        """`won`, `lost` or `open`, as the CRM shows the deal."""
        raise NotImplementedError

    def outage(self) -> Callable[[], None]:
        """Every CRM read answers 503; returns what ends the outage."""
        raise NotImplementedError


# --- SuperOffice ---------------------------------------------------------------------------------------------------


class SoDay(Day):
    crm, tenant, status_mapping = "superoffice", SO_TENANT, {**SO_STAGES, "on_deleted": "mark_lost"}

    def __init__(self, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(env.stack, env.http, lambda role: env.auth(SO_TENANT, role))
        self.sb: SuperOfficeSandbox = env.sandbox
        self.sb.add_user(CTX, "seller@cust40001.test", associate_id=SELLER, full_name="Sam Seller")
        self.fired = 0  # webhook events the CRM queued for delivery (one delivery cycle each)
        dispatcher = self.sb.webhooks
        enqueue = dispatcher.enqueue

        def counted(ctx: str, webhook_id: int, payload: dict[str, Any]) -> None:
            self.fired += 1
            enqueue(ctx, webhook_id, payload)

        monkeypatch.setattr(dispatcher, "enqueue", counted)
        env.connect(SO_TENANT)  # registers leadbridge's webhook in SuperOffice

    def deliver_webhooks(self) -> None:
        def delivered() -> bool:
            acked = {d.event_id for d in self.sb.deliveries if not d.test and d.status == 200}
            return len(acked) >= self.fired

        wait_until(delivered, timeout=GENEROUS_TIMEOUT, what="SuperOffice to deliver every webhook")

    def edit_company_name(self, crm_id: str, name: str) -> None:
        self.sb.update(CTX, "contact", int(crm_id), {"Name": name}, as_associate=SELLER)

    def edit_company_other(self, crm_id: str) -> str:
        self.sb.update(CTX, "contact", int(crm_id), {"Department": "Fiskeri"}, as_associate=SELLER)
        return "industry"

    def edit_person_title(self, crm_id: str, title: str) -> None:
        self.sb.update(CTX, "person", int(crm_id), {"Title": title}, as_associate=SELLER)

    def move_deal(self, crm_id: str) -> str:
        self.sb.update(CTX, "sale", int(crm_id), {"Rating": {"Id": 3}}, as_associate=SELLER)
        return "Proposal"

    def delete_company(self, crm_id: str, person_id: str) -> list[tuple[str, str]]:
        self.sb.delete(CTX, "contact", int(crm_id), as_associate=SELLER)  # its persons go with it
        return [("company", crm_id), ("person", person_id)]

    def deal_outcome(self, crm_id: str) -> str:
        status = self.sb.get(CTX, "sale", int(crm_id))["Status"]
        return {"Sold": "won", "Lost": "lost"}.get(status, "open")

    def outage(self) -> Callable[[], None]:
        fault = self.sb.inject_fault("503", path_prefix="/api/v1/", method="GET", count=None, retry_after=0)
        return lambda: self.sb.clear_faults(fault.id)


# --- Salesforce ----------------------------------------------------------------------------------------------------

OUTBOUND = {
    "Account": ["Id", "Name", "Website", "AccountNumber", "LastModifiedById"],
    "Contact": ["Id", "FirstName", "LastName", "Title", "AccountId", "LastModifiedById"],
    "Opportunity": ["Id", "Name", "StageName", "Amount", "AccountId", "LastModifiedById"],
}


class SfDay(Day):
    crm, tenant = "salesforce", SF_TENANT

    def __init__(self, sfc: SfConnect) -> None:
        super().__init__(sfc.stack, sfc.http, lambda role: sfc.auth(SF_TENANT, role))
        self.sb, self.org = sfc.sandbox, sfc.org_id
        sfc.connect()
        self.rep = self.sb.add_user(self.org, "rita@sf-day.test", name="Rita Rep")  # a CRM user, not leadbridge
        # The admin follows the manual step `GET /connections/salesforce` shows: Outbound Messages to leadbridge.
        setup = self.get("/connections/salesforce")
        admin_view = self.http.get("/connections/salesforce", headers=self.auth("admin")).json()
        url = admin_view["webhook_setup"]["target_url"]
        assert url == sfc.webhook_url() and setup["status"] == "connected"
        for sobject, fields in OUTBOUND.items():
            self.sb.add_outbound_message(self.org, sobject, url, fields)
        current = self.get("/settings/salesforce")["status_mapping"]
        self.status_mapping = {**current, "on_deleted": "mark_lost"}

    def deliver_webhooks(self) -> None:
        attempts = self.sb.tick_outbound(force=True)
        assert all(a.acked for a in attempts), [(a.status, a.error) for a in attempts]

    def edit_company_name(self, crm_id: str, name: str) -> None:
        self.sb.update(self.org, "Account", crm_id, {"Name": name}, actor=self.rep)

    def edit_company_other(self, crm_id: str) -> str:
        self.sb.update(self.org, "Account", crm_id, {"Website": "https://nordlys-solar.dk"}, actor=self.rep)
        return "website"

    def edit_person_title(self, crm_id: str, title: str) -> None:
        self.sb.update(self.org, "Contact", crm_id, {"Title": title}, actor=self.rep)

    def move_deal(self, crm_id: str) -> str:
        self.sb.update(self.org, "Opportunity", crm_id, {"StageName": "Negotiation/Review"}, actor=self.rep)
        return "Negotiation"

    def delete_company(self, crm_id: str, person_id: str) -> list[tuple[str, str]]:
        self.sb.delete(self.org, "Account", crm_id)  # Salesforce sends no Outbound Message for a deletion
        return [("company", crm_id)]

    def deal_outcome(self, crm_id: str) -> str:
        record = self.sb.get(self.org, "Opportunity", crm_id)
        return "won" if record["IsWon"] else "lost" if record["IsClosed"] else "open"

    def outage(self) -> Callable[[], None]:
        faults = [self.sb.inject_fault("503", path_prefix=prefix, method="GET", count=None, retry_after=0)
                  for prefix in ("/query", "/sobjects")]  # fmt: skip

        def end() -> None:
            for fault in faults:
                self.sb.clear_faults(fault.id)

        return end


@pytest.fixture(params=["superoffice", "salesforce"])
def day(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Day]:
    if request.param == "superoffice":
        env: Env = request.getfixturevalue("env")
        yield SoDay(env, monkeypatch)
        env.sandbox.clear_faults()
    else:
        sfc: SfConnect = request.getfixturevalue("sfc")
        yield SfDay(sfc)
        sfc.sandbox.clear_faults()


def day_lead(i: int, **overrides: Any) -> dict[str, Any]:
    lead_id = f"DAY-{i:02d}"
    return lead(lead_id, cvr=str(42000000 + i), expectedClose="2026-09-30",
                contacts=[{"id": "c1", "name": f"Ida Holm{i}", "email": f"ida@havblik-{lead_id.lower()}.dk"}],
                **overrides)  # fmt: skip


def at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["time"])


# --- the day -------------------------------------------------------------------------------------------------------


def test_a_scripted_day_reads_as_an_admin_would_want(day: Day) -> None:
    # Morning: the admin configures the status mapping and the schedule over the (two-way) defaults.
    day.configure(status_mapping=day.status_mapping, schedule={"frequency": "every_15_minutes"})

    # The team exports 20 leads and works four of them through the pipeline.
    exported = {i: day.export(day_lead(i)) for i in range(LEADS)}
    assert all(e["company"]["action"] == "created" for e in exported.values()), exported
    company = {i: str(e["company"]["crm_id"]) for i, e in exported.items()}
    person = {i: str(e["persons"][0]["crm_id"]) for i, e in exported.items()}
    deal = {i: str(day.event("stage_changed", day_lead(i, stage="Lead"), stage="Lead")["deal"]["crm_id"])
            for i in range(4)}  # fmt: skip
    day.event("stage_changed", day_lead(0, stage="Qualified"), stage="Qualified")
    day.event("won", day_lead(1, stage="Won"))
    day.event("deleted", day_lead(2))  # on_deleted: mark_lost
    assert [day.deal_outcome(deal[i]) for i in range(4)] == ["open", "won", "lost", "open"]
    day.deliver_webhooks()  # the CRM tells leadbridge about leadbridge's own writes
    day.process_webhooks()

    first = day.scheduled_run()
    assert (first["state"], first["trigger"], first["mode"]) == ("succeeded", "schedule", "first"), first
    assert day.feed() == [], "leadbridge's own writes came back as changes"

    # CRM users at work; the CRM's webhooks bring each edit.
    day.edit_company_name(company[5], "Havblik Fisk Holding ApS")
    day.edit_person_title(person[6], "Indkøbschef")
    day.move_deal(deal[3])
    app_stage = "Negotiation" if day.crm == "salesforce" else "Proposal"
    deleted = day.delete_company(company[7], person[7])
    day.deliver_webhooks()
    day.process_webhooks()
    # One more edit before the CRM goes down; its webhook is still on the way (SuperOffice: queued at leadbridge,
    # Salesforce: not yet sent) when the runs happen.
    edited_field = day.edit_company_other(company[8])

    end_outage = day.outage()
    failed = day.scheduled_run(attempts=ATTEMPTS)
    end_outage()
    third = day.scheduled_run()
    day.deliver_webhooks()  # the late webhook of the last edit
    day.process_webhooks()

    # Evening: the admin reads the change feed and the sync log, every page.
    feed = day.feed()
    log = day.sync_log()

    # Every CRM-side edit exactly once, naming exactly the edited field; nothing else: no echo.
    changes = Counter((c["type"], c["action"], c["object"], c["crm_id"]) for c in feed)
    expected = Counter({("CompanyChanged", "updated", "company", company[5]): 1,
                        ("PersonChanged", "updated", "person", person[6]): 1,
                        ("DealChanged", "updated", "deal", deal[3]): 1,
                        ("CompanyChanged", "updated", "company", company[8]): 1,
                        **{("RecordDeleted", "deleted", obj, crm_id): 1 for obj, crm_id in deleted}})  # fmt: skip
    assert changes == expected, sorted(changes.items())
    by_id = {(c["type"], c["crm_id"]): c for c in feed if c["type"] != "RecordDeleted"}
    assert by_id["CompanyChanged", company[5]]["changed_fields"] == ["company_name"]
    assert by_id["CompanyChanged", company[5]]["fields"]["company_name"] == "Havblik Fisk Holding ApS"
    assert by_id["PersonChanged", person[6]]["changed_fields"] == ["title"]
    assert by_id["DealChanged", deal[3]]["changed_fields"] == ["stage"]
    assert by_id["DealChanged", deal[3]]["fields"]["stage"] == app_stage
    assert by_id["CompanyChanged", company[8]]["changed_fields"] == [edited_field]
    assert sorted((c["object"], c["crm_id"]) for c in feed if c["type"] == "RecordDeleted") == sorted(deleted)
    assert len({c["id"] for c in feed}) == len(feed)
    assert {c["id"] for c in day.bus_changes()} == {c["id"] for c in feed}  # the bus told the app the same
    assert {c["lead_id"] for c in feed if c["type"] != "RecordDeleted"} == {"DAY-05", "DAY-06", "DAY-03", "DAY-08"}

    # The induced failure: one failed run entry with the reason and what to do; the next run recovered.
    assert failed["state"] == "failed" and third["state"] == "succeeded", (failed, third)
    [failure] = [e for e in log if e["run_id"] == failed["id"] and e["action"] == "sync_run"]
    assert failure["outcome"] == "failed" and failure["trigger"] == "schedule"
    assert failure["error"]["code"] == "crm_unavailable" and failure["error"]["message"]
    assert failure["error"]["hint"] and failure["details"]["run"] == f"/sync-runs/{failed['id']}"
    recovered = [e for e in log if e["run_id"] == third["id"] and e["crm_id"] == company[8]]
    assert [(e["direction"], e["outcome"], e["fields_written"]) for e in recovered] == [
        ("from_crm", "success", [edited_field])]  # fmt: skip
    assert not [e for e in log if e["run_id"] == third["id"] and e["outcome"] == "failed"]
    # The late webhook of that edit found nothing new to report.
    late = [e for e in log if e["trigger"] == "webhook" and e["crm_id"] == company[8] and at(e) > at(failure)]
    assert [(e["outcome"], e["error"]["code"]) for e in late] == [("skipped", "unchanged")], late

    # No failure without a reason; nothing twice for the same record, change and run.
    assert all(e["error"] and e["error"]["message"] for e in log if e["outcome"] == "failed")
    keys = Counter((e["run_id"], e.get("correlation_id"), e["trigger"], e["direction"], e["action"], e["object"],
                    e["crm_id"], e.get("lead_id"), e["outcome"]) for e in log)  # fmt: skip
    assert [k for k, n in keys.items() if n > 1] == []
    read_in = Counter((e["object"], e["crm_id"]) for e in log
                      if e["direction"] == "from_crm" and e["outcome"] == "success")  # fmt: skip
    assert read_in == Counter((c["object"], c["crm_id"]) for c in feed), "a change read in twice, or not logged"
