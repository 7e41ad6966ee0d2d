"""CRM webhooks end to end: a tenant connects SuperOffice through the real OAuth flow (which registers the webhook at
the sandbox, pointing at the local gateway), a CRM user changes records in the sandbox, the sandbox delivers signed
webhooks, the gateway runs WebhookIntakeFunction, the queue pump feeds WebhookQueue to WebhookProcessorFunction, and
the app receives the changes on the EventBridge bus (read through a rule into an SQS queue, as an app would) and on
the change feed. The sync log is read through `GET /sync-log` like a user would.

What "processed once" means here: one event to the app per distinct change, and one sync-log entry per CRM event id
(`correlation_id`), however often the event was delivered.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from leadbridge import runtime
from leadbridge.store.changes import SETTLE
from local.sandbox.superoffice.webhooks import sign
from tests.support.superoffice_connect import CTX
from tests.support.superoffice_webhooks import TENANT, Hooks, resend
from tests.support.waiting import wait_until, wait_while_progressing

PROCESSOR = "WebhookProcessorFunction"
# Events of the burst through the whole path (signed delivery, intake, queue, processor, log, bus): 150 are 15 SQS
# batches, more than the two pollers take at once, so batches queue and overlap as in a real burst, at about half
# the time of 300 in `make test` (whose 15-minute budget the suite is close to on a slow host); the 1,000 events of
# issue 19's target 7 are `make bench`'s webhook_intake. LEADBRIDGE_BURST_EVENTS=1000 runs the full burst here.
BURST = int(os.environ.get("LEADBRIDGE_BURST_EVENTS", "150"))
EXTRA_POLLERS = 1


# --- changes reach the app once ---------------------------------------------------------------------------------------


def test_a_crm_change_reaches_the_app_once_even_when_delivered_three_times(wh: Hooks) -> None:
    company = wh.sb.create(CTX, "contact", {"Name": "Fjordkraft AS", "OrgNr": "912345678"})
    [created] = wh.wait_for_deliveries(1)
    wh.settled([created.event_id])

    wh.sb.update(CTX, "contact", company["ContactId"], {"Name": "Fjordkraft Holding AS"})
    changed = wh.wait_for_deliveries(2)[1]
    # The same change arrives twice more: an exact replay, and a SuperOffice retry (same EventId, new timestamp,
    # X-SuperOffice-Retry), signed with the connection's real secret.
    secret = next(iter(wh.sb.customers[CTX].webhooks.values()))["Secret"]
    retry_body = json.dumps({**changed.json(), "Timestamp": datetime.now(UTC).isoformat()}).encode()
    retry_headers = {**changed.headers, "X-SuperOffice-Retry": "1", "X-SuperOffice-Signature": sign(secret, retry_body)}
    assert resend(changed).status_code == 200
    assert resend(changed, body=retry_body, headers=retry_headers).status_code == 200
    wh.settled([changed.event_id])

    companies = wh.changed("CompanyChanged")
    assert [(c["action"], c["fields"].get("company_name")) for c in companies] == [
        ("created", "Fjordkraft AS"),
        ("updated", "Fjordkraft Holding AS"),
    ]
    assert companies[0]["crm_id"] == str(company["ContactId"]) and companies[0]["source"] == "webhook"
    assert companies[1]["changed_fields"] == ["company_name"]
    assert companies[1]["correlation_id"] == changed.event_id
    # Three deliveries of one event id, one sync-log entry.
    [entry] = wh.entries_of(changed.event_id)
    assert (entry["trigger"], entry["action"], entry["outcome"]) == ("webhook", "read", "success")
    assert entry["fields_written"] == ["company_name"] and entry["crm_id"] == str(company["ContactId"])
    # The change feed (GET /changes for polling apps) holds the same two changes.
    # Read as the feed will answer once its settle window has passed: every change so far is older than that then.
    feed = runtime.change_feed().read(TENANT, cursor=None, limit=50, now=datetime.now(UTC) + SETTLE)
    assert [(c.type, c.action, c.fields.get("company_name")) for c in feed.items] == [
        ("CompanyChanged", "created", "Fjordkraft AS"),
        ("CompanyChanged", "updated", "Fjordkraft Holding AS"),
    ]


def test_an_older_change_processed_late_never_overwrites_a_newer_one(wh: Hooks) -> None:
    company = wh.sb.create(CTX, "contact", {"Name": "Version 0 AS"})
    first = wh.wait_for_deliveries(1)[0]
    wh.settled([first.event_id])
    crm_id = company["ContactId"]
    # SuperOffice throttles reads of this company: the processor cannot read it for change A and retries A later.
    wh.sb.inject_fault("429", retry_after=0, count=4, path_prefix=f"/api/v1/Contact/{crm_id}", method="GET")

    wh.sb.update(CTX, "contact", crm_id, {"Name": "Version 1 AS"})
    change_a = wh.wait_for_deliveries(2)[1]
    wait_until(lambda: any(e["outcome"] == "failed" for e in wh.entries_of(change_a.event_id)),
               what="a failed try of change A")
    wh.sb.update(CTX, "contact", crm_id, {"Name": "Version 2 AS"})
    change_b = wh.wait_for_deliveries(3)[2]
    wh.settled([change_a.event_id, change_b.event_id])

    names = [(c["action"], c["fields"]["company_name"]) for c in wh.changed("CompanyChanged")]
    assert names == [("created", "Version 0 AS"), ("updated", "Version 2 AS")]
    entries_a = sorted(wh.entries_of(change_a.event_id), key=lambda e: e["time"])
    assert [(e["outcome"], e["error"]["code"]) for e in entries_a] == [
        ("failed", "crm_rate_limited"),
        ("skipped", "unchanged"),
    ]
    assert entries_a[0]["details"] == {"attempt": 1, "max_attempts": 5, "dead_lettered": False}
    assert [e["outcome"] for e in wh.entries_of(change_b.event_id)] == ["success"]


# --- signatures, truncation, replays ---------------------------------------------------------------------------------


def test_forged_resigned_and_truncated_payloads_are_rejected_and_a_replay_changes_nothing(wh: Hooks) -> None:
    company = wh.sb.create(CTX, "contact", {"Name": "Ekte AS"})
    [genuine] = wh.wait_for_deliveries(1)
    wh.settled([genuine.event_id])
    before = wh.app_events()

    forged = dict(genuine.json(), EventId="forged-0001", Event="contact.changed")
    forged_body = json.dumps(forged).encode()
    unsigned = {k: v for k, v in genuine.headers.items() if k != "X-SuperOffice-Signature"}
    answers = {
        "unsigned": resend(genuine, body=forged_body, headers=unsigned).status_code,
        "signed with another secret": resend(
            genuine, body=forged_body, headers={**unsigned, "X-SuperOffice-Signature": sign("guessed", forged_body)}
        ).status_code,
        "genuine signature, other body": resend(genuine, body=forged_body).status_code,
        "truncated": resend(genuine, body=genuine.body[:-12]).status_code,
        "replayed as it was": resend(genuine).status_code,
    }

    assert answers == {
        "unsigned": 401,
        "signed with another secret": 401,
        "genuine signature, other body": 401,
        "truncated": 401,
        "replayed as it was": 200,  # a valid signature: accepted, then recognised by its event id
    }
    wh.settled([genuine.event_id])
    wait_until(lambda: wh.queue_depth() == 0, what="the webhook queue to drain")
    assert wh.app_events() == before
    log = wh.sync_log()
    assert Counter(e["error"]["code"] for e in log if e["outcome"] == "failed") == {"webhook_signature_invalid": 4}
    assert len([e for e in log if e.get("correlation_id") == genuine.event_id]) == 1
    assert not [e for e in log if e.get("correlation_id") == "forged-0001"]
    assert wh.changed("CompanyChanged")[0]["crm_id"] == str(company["ContactId"])


# --- won, lost, deleted -----------------------------------------------------------------------------------------------


def test_sold_and_lost_sales_reach_the_app_as_lead_won_and_lead_lost(wh: Hooks) -> None:
    company = wh.sb.create(CTX, "contact", {"Name": "Salg AS"})
    under = {"Contact": {"ContactId": company["ContactId"]}}
    won = wh.sb.create(CTX, "sale", {"Heading": "Big deal", "Amount": 50000, **under})
    lost = wh.sb.create(CTX, "sale", {"Heading": "Small deal", "Amount": 900, **under})
    wh.settled([d.event_id for d in wh.wait_for_deliveries(3)])

    wh.sb.update(CTX, "sale", won["SaleId"], {"Status": "Sold"})
    wh.sb.update(CTX, "sale", lost["SaleId"], {"Status": "Lost"})
    deliveries = wh.wait_for_deliveries(7)  # each status change: sale.changed and sale.sold / sale.lost
    assert sorted(d.event for d in deliveries[3:]) == ["sale.changed", "sale.changed", "sale.lost", "sale.sold"]
    wh.settled([d.event_id for d in deliveries])

    outcomes = [(e["detail-type"], e["detail"]["crm_id"]) for e in wh.app_events()
                if e["detail-type"] in ("LeadWon", "LeadLost")]
    assert sorted(outcomes) == sorted([("LeadWon", str(won["SaleId"])), ("LeadLost", str(lost["SaleId"]))])
    [won_event] = wh.changed("LeadWon")
    assert won_event["action"] == "won" and won_event["parent_crm_id"] == str(company["ContactId"])
    assert won_event["fields"]["title"] == "Big deal"
    deals = [(d["crm_id"], d["action"]) for d in wh.changed("DealChanged")]
    assert Counter(deals) == {(str(won["SaleId"]), "created"): 1, (str(won["SaleId"]), "updated"): 1,
                              (str(lost["SaleId"]), "created"): 1, (str(lost["SaleId"]), "updated"): 1}


def test_a_company_deleted_in_the_crm_is_reported_deleted_once(wh: Hooks) -> None:
    company = wh.sb.create(CTX, "contact", {"Name": "Borte AS"})
    person = wh.sb.create(CTX, "person", {"Firstname": "Kari", "Lastname": "Nordmann",
                                          "Contact": {"ContactId": company["ContactId"]}})
    wh.settled([d.event_id for d in wh.wait_for_deliveries(2)])

    wh.sb.delete(CTX, "contact", company["ContactId"])  # its persons go with it
    deliveries = wh.wait_for_deliveries(4)
    assert sorted(d.event for d in deliveries[2:]) == ["contact.deleted", "person.deleted"]
    wh.settled([d.event_id for d in deliveries])

    deleted = sorted((e["object"], e["crm_id"]) for e in wh.changed("RecordDeleted"))
    assert deleted == [("company", str(company["ContactId"])), ("person", str(person["PersonId"]))]
    assert {e["action"] for e in wh.sync_log() if e.get("correlation_id") in {d.event_id for d in deliveries[2:]}} == {
        "delete"
    }


def test_a_change_read_after_the_record_was_deleted_is_reported_as_a_deletion(wh: Hooks) -> None:
    company = wh.sb.create(CTX, "contact", {"Name": "Snart Borte AS"})
    wh.settled([wh.wait_for_deliveries(1)[0].event_id])
    # The record is changed, then moved to the recycle bin before the processor reads it (GET answers 404).
    # The GET fails until the record is gone, however fast the processor retries.
    fault = wh.sb.inject_fault("503", count=None, path_prefix=f"/api/v1/Contact/{company['ContactId']}", method="GET")
    wh.sb.update(CTX, "contact", company["ContactId"], {"Name": "Snart Borte Holding AS"})
    change = wh.wait_for_deliveries(2)[1]
    wait_until(lambda: bool(wh.entries_of(change.event_id)), what="a try of the change")
    with wh.sb.lock:
        wh.sb.customers[CTX].webhooks.clear()  # the softdeleted event itself is not what this test is about
    wh.sb.soft_delete(CTX, "contact", company["ContactId"])
    wh.sb.clear_faults(fault.id)
    wh.settled([change.event_id])

    [deleted] = wh.changed("RecordDeleted")
    assert (deleted["object"], deleted["crm_id"]) == ("company", str(company["ContactId"]))
    # One failed read per attempt made while the CRM answered 503, then the deletion.
    *reads, last = [e["action"] for e in sorted(wh.entries_of(change.event_id), key=lambda e: e["time"])]
    assert reads and set(reads) == {"read"}
    assert last == "delete"


# --- skipped ----------------------------------------------------------------------------------------------------------


def test_objects_that_do_not_sync_from_the_crm_are_acknowledged_and_logged_as_skipped(wh: Hooks) -> None:
    # Follow-ups (appointments) are "off" in the settings; SuperOffice still notifies about them.
    with wh.sb.lock:
        hook = next(iter(wh.sb.customers[CTX].webhooks.values()))
        hook["Events"] = [*hook["Events"], "appointment.created"]
    company = wh.sb.create(CTX, "contact", {"Name": "Avtale AS"})
    wh.sb.create(CTX, "appointment", {"Description": "Kaffe", "Contact": {"ContactId": company["ContactId"]}})
    deliveries = wh.wait_for_deliveries(2)
    wh.settled([d.event_id for d in deliveries])

    appointment = next(d for d in deliveries if d.event == "appointment.created")
    assert appointment.status == 200
    [entry] = wh.entries_of(appointment.event_id)
    assert (entry["outcome"], entry["object"], entry["error"]["code"]) == ("skipped", "activity", "skipped")
    assert "does not sync from the CRM" in entry["error"]["message"]
    assert [e["detail-type"] for e in wh.app_events()] == ["CompanyChanged"]


def test_after_disconnect_late_events_are_acknowledged_and_skipped(wh: Hooks) -> None:
    key = runtime.connection_store().get(TENANT, "superoffice")
    assert key is not None
    # The CRM still knows the webhook (e.g. unregistering failed) and keeps sending.
    with wh.sb.lock:
        hook = dict(next(iter(wh.sb.customers[CTX].webhooks.values())))
    disconnected = wh.env.http.delete("/connections/superoffice", headers=wh.env.auth(TENANT, "admin"))
    assert disconnected.status_code == 200, disconnected.text
    with wh.sb.lock:
        wh.sb.customers[CTX].webhooks[int(hook["WebhookId"])] = hook

    wh.sb.create(CTX, "contact", {"Name": "For Sent AS"})
    [late] = wh.wait_for_deliveries(1)

    assert late.status == 200  # acknowledged, so SuperOffice does not retry or stop the webhook
    wait_until(lambda: wh.queue_depth() == 0, what="the webhook queue to drain")
    assert [e for e in wh.app_events() if e["detail-type"] != "ConnectionNeedsReauth"] == []
    skipped = [e for e in wh.sync_log() if e["outcome"] == "skipped"]
    assert [e["error"]["code"] for e in skipped] == ["connection_disconnected"]


# --- the app's side: a won lead sets the CRM sale to sold -------------------------------------------------------------


def test_a_deal_won_in_the_app_sets_the_crm_sale_to_sold(wh: Hooks) -> None:
    admin = wh.env.auth(TENANT, "admin")
    current = wh.env.http.get("/settings/superoffice", headers=admin)
    mapping = {"app_stages": ["New", "Lead", "Won", "Lost"], "create_at_stage": "Lead",
               "stages": [{"app_stage": "Lead", "crm_stage": "1", "crm_status": "Open"}]}
    patched = wh.env.http.patch("/settings/superoffice", json={"status_mapping": mapping},
                                headers={**admin, "If-Match": current.headers["etag"]})
    assert patched.status_code == 200, patched.text
    lead = {"id": "L-77", "stage": "Lead", "companyName": "Vunnet AS", "dealTitle": "Vunnet deal",
            "dealAmount": "1000", "contacts": []}

    def send(kind: str, minute: int) -> dict[str, Any]:
        response = wh.env.http.post(
            "/leads/L-77/events",
            json={"type": kind, "lead": {**lead, "stage": "Won" if kind == "won" else "Lead"},
                  "occurred_at": f"2026-03-01T09:0{minute}:00+00:00"},
            headers=wh.env.auth(TENANT, "member"), timeout=30,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    created = send("created", 0)
    sale_id = created["deal"]["crm_id"]
    won = send("won", 1)

    assert won["outcome"] == "applied"
    assert wh.sb.get(CTX, "sale", int(sale_id))["Status"] == "Sold"
    # SuperOffice notifies about leadbridge's own writes too. The company and sale leadbridge created are not news
    # to the app: their record states hold what leadbridge wrote. The sale leadbridge marked won is not reported back
    # as LeadWon either (issue 17: a lifecycle write never produces a lifecycle event; it used to come back once).
    wait_until(lambda: any(d.event == "sale.sold" and d.status for d in wh.deliveries()),
               what="the sale.sold delivery")
    deliveries = wh.deliveries()
    wh.settled([d.event_id for d in deliveries])
    events = wh.app_events()
    assert [e["detail"]["action"] for e in events if e["detail"]["action"] in ("created", "lost")] == []
    assert [e["detail-type"] for e in events if e["detail-type"] in ("LeadWon", "LeadLost", "DealChanged")] == []
    echoes = [e for e in wh.sync_log() if e["outcome"] == "skipped" and e["error"]["cause"] == "contact.created"]
    assert [e["error"]["message"] for e in echoes] == ["no mapped value changed"]


# --- a burst --------------------------------------------------------------------------------------------------------


# No deadline, however busy the machine: each stage is waited for while it makes progress and fails only when it stops
# for minutes (every call it makes while waiting has its own timeout). How fast the burst goes belongs in `make bench`.
@pytest.mark.slow
@pytest.mark.timeout(0)
def test_a_burst_of_events_is_processed_without_loss(wh: Hooks) -> None:
    with wh.sb.lock:
        hook = next(iter(wh.sb.customers[CTX].webhooks.values()))
        hook["Events"] = ["contact.created"]
    # Lambda polls a busy queue with several concurrent batches; the local pump has one poller per queue, so one more
    # runs here (more only compete for the one interpreter lock that moto, the gateway and the sandbox share).
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            if not wh.stack.pump.poll_once(PROCESSOR, wait_seconds=1).received:
                stop.wait(0.05)

    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(EXTRA_POLLERS)]
    for thread in pollers:
        thread.start()
    try:
        created = [wh.sb.create(CTX, "contact", {"Name": f"Burst {i:04d} AS"})["ContactId"] for i in range(BURST)]
        wait_while_progressing(wh.answered_deliveries, lambda answered: answered >= len(created),
                               what="the burst's webhook deliveries")
        deliveries = wh.wait_for_deliveries(len(created))
        assert Counter(d.status for d in deliveries) == {200: len(created)}
        event_ids = [d.event_id for d in deliveries]
        # The queue holds a message until it is processed (in flight counts too), so empty means all were handled.
        wait_while_progressing(wh.queue_depth, lambda depth: depth == 0, what="WebhookQueue draining")
        wh.settled(event_ids)
    finally:
        stop.set()
        for thread in pollers:
            thread.join(timeout=10)

    assert wh.queue_depth() == 0 and wh.queue_depth("WebhookDLQ") == 0
    log = wh.sync_log()
    per_event = Counter(e["correlation_id"] for e in log if e.get("correlation_id") in set(event_ids))
    assert per_event == dict.fromkeys(event_ids, 1)
    assert {e["outcome"] for e in log if e.get("correlation_id") in set(event_ids)} == {"success"}
    reported = Counter(e["detail"]["crm_id"] for e in wh.app_events() if e["detail-type"] == "CompanyChanged")
    assert reported == {str(c): 1 for c in created}
