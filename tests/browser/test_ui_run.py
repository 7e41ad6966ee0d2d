"""`<leadbridge-run>` in a real browser: the demo lead app's Sync page, as the demo admin with SuperOffice connected
through its sandbox. "Sync now" (from the keyboard) queues a run over `POST /sync-runs`; the run is executed by
SyncWorkerFunction from the SyncQueue (the local queue pump, stepped by the test, so the queued state is seen
before the worker takes it); the element follows it by polling `GET /sync-runs/{id}` and shows the final counts and
the initial import's progress against its estimate, exactly as the API reports them. A run already going is shown
instead of a second one (409), a failed run says why and what to do, and a member sees the run read-only in Danish.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser_ui import check_accessibility
from tests.support.local_stack import stepped_stack
from tests.support.superoffice_connect import CTX, Env

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from local.stack import LocalStack

WORKER = "SyncWorkerFunction"
COUNTS = ["read", "created", "updated", "unchanged", "deleted", "skipped", "failed"]


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[LocalStack]:
    """The local stack with the queue pump stepped by the test: a queued run stays queued until the test runs it."""
    yield from stepped_stack(moto_server)


@pytest.fixture
def connected(env: Env) -> Env:
    """SuperOffice connected for the demo tenant, companies and persons syncing both ways with the initial import."""
    tenant = env.stack.demo_tenant_id
    assert env.connect(tenant)["status"] == "connected"
    with env.sandbox.lock:  # only the runs bring changes here, no webhook
        env.sandbox.customers[CTX].webhooks.clear()
    admin = env.auth(tenant)
    current = env.http.get("/settings/superoffice", headers=admin)
    both = {"crm_object": "Contact", "direction": "both"}
    objects = {"company": both, "person": {"crm_object": "Person", "direction": "both"},
               "deal": {"crm_object": "Sale", "direction": "off"},
               "activity": {"crm_object": "Appointment", "direction": "off"}}  # fmt: skip
    patched = env.http.patch(
        "/settings/superoffice",
        json={"objects": objects, "initial_import": True},
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    return env


def api(env: Env, path: str) -> Any:
    response = env.http.get(path, headers=env.auth(env.stack.demo_tenant_id, "member"))
    assert response.status_code == 200, response.text
    return response.json()


def start_over_http(env: Env) -> str:
    started = env.http.post("/sync-runs", json={}, headers=env.auth(env.stack.demo_tenant_id))
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


def work(env: Env) -> None:
    """The sync worker takes the queued run and runs it to its end (one invocation is enough here)."""
    outcome = env.stack.pump.poll_once(WORKER)
    assert outcome.received and not outcome.failed, outcome


def open_sync(page: Page, env: Env) -> Locator:
    page.goto(f"{env.stack.gateway_url}/ui/#sync")
    run = page.locator("leadbridge-run")
    run.get_by_role("heading", name="Sync with SuperOffice").wait_for()
    return run


def focused_text(page: Page) -> str:
    return str(
        page.evaluate("""() => {
        let el = document.activeElement;
        while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
        return el ? (el.textContent || '').trim() : '';
    }""")
    )


def tab_to(page: Page, name: str) -> None:
    for _ in range(40):
        page.keyboard.press("Tab")
        if focused_text(page) == name:
            return
    raise AssertionError(f"no control named {name!r} is reachable with Tab")


def shown_counts(run: Locator, obj: str) -> dict[str, int]:
    row = run.locator(f'tr[data-object="{obj}"]')
    return {c: int(row.locator(f'td[data-count="{c}"]').inner_text().replace(",", "").replace(".", "")) for c in COUNTS}


def test_the_admin_starts_a_run_and_follows_it_to_its_counts(page: Page, connected: Env, screenshots: Path) -> None:
    env = connected
    for name in ("Nordhavn Byg ApS", "Vesterbro Kaffe", "Aarhus Cykler"):
        company = env.sandbox.create(CTX, "contact", {"Name": name})
        env.sandbox.create(CTX, "person", {"Firstname": "Kim", "Lastname": name.split()[0],
                                           "Contact": {"ContactId": company["ContactId"]}})  # fmt: skip
    run = open_sync(page, env)
    run.get_by_role("status").get_by_text("No sync has run yet.").wait_for()

    tab_to(page, "Sync now")
    page.keyboard.press("Enter")

    # Queued: the worker has not taken it yet (the pump is stepped); the button waits for the run to end.
    run.get_by_role("status").get_by_text("Queued", exact=True).wait_for()
    assert run.get_by_text("Waiting for the sync worker to pick it up.").is_visible()
    assert run.get_by_role("button", name="Sync now").is_disabled()
    [queued] = api(env, "/sync-runs")["items"]
    assert (queued["state"], queued["trigger"]) == ("queued", "manual")
    assert run.locator("section[data-run]").get_attribute("data-run") == queued["id"]
    check_accessibility(page, "leadbridge-run")

    work(env)

    # The element notices the end by itself (polling) and shows what the API reports.
    run.get_by_role("status").get_by_text("Succeeded", exact=True).wait_for()
    done = api(env, f"/sync-runs/{queued['id']}")
    assert done["state"] == "succeeded" and done["mode"] == "first"
    for obj in ("company", "person"):
        assert shown_counts(run, obj) == {c: done["counts"][obj].get(c, 0) for c in COUNTS}
        progress = done["progress"][obj]
        assert progress["done"] == progress["estimated_total"] >= 3
        row = run.locator(f'tr[data-object="{obj}"]')
        assert row.get_by_text(f"{progress['done']} of {progress['estimated_total']} (100%)").is_visible()
        assert row.get_by_role("progressbar").get_attribute("value") == "100"
    assert shown_counts(run, "company")["created"] >= 3
    assert run.get_by_text("First sync · started by hand").is_visible()
    assert run.get_by_text(f"{done['crm_calls']} of 20,000").is_visible()
    assert run.get_by_role("button", name="Sync now").is_enabled()
    check_accessibility(page, "leadbridge-run")
    page.screenshot(path=screenshots / "sync-run.png", full_page=True)

    # "Show in the sync log" takes the app to its log, where the run's records are.
    run.get_by_role("button", name="Show in the sync log").click()
    page.get_by_role("heading", name="Sync log", level=1).wait_for()
    log = page.locator("leadbridge-sync-log")
    log.locator("tbody[data-entry]").first.wait_for()
    companies = log.locator("tbody[data-entry]").filter(has=page.get_by_role("cell", name="Company", exact=True))
    # Waited for, not counted at once: the log may still be drawing the entries it read again after the click.
    from playwright.sync_api import expect

    expect(companies).to_have_count(done["counts"]["company"]["created"], timeout=60_000)


def test_a_run_already_going_is_shown_instead_of_a_second_one(page: Page, connected: Env) -> None:
    env = connected
    first = start_over_http(env)
    work(env)
    run = open_sync(page, env)
    run.get_by_role("status").get_by_text("Succeeded", exact=True).wait_for()
    assert run.locator("section[data-run]").get_attribute("data-run") == first

    going = start_over_http(env)  # someone else starts one meanwhile; this page still shows the finished run
    run.get_by_role("button", name="Sync now").click()

    run.get_by_text("A sync was already in progress, so no new one was started.").wait_for()
    assert run.locator("section[data-run]").get_attribute("data-run") == going
    assert run.get_by_role("status").inner_text() == "Queued"
    work(env)
    run.get_by_role("status").get_by_text("Succeeded", exact=True).wait_for()
    assert run.get_by_text("Changes since the last sync · started by hand").is_visible()
    assert run.get_by_text("Estimate unknown: this run reads what changed").is_visible()
    assert [r["id"] for r in api(env, "/sync-runs")["items"]] == [going, first]


def test_a_failed_run_says_why_and_what_to_do(page: Page, connected: Env, screenshots: Path) -> None:
    env = connected
    run = open_sync(page, env)
    run.get_by_role("button", name="Sync now").click()
    run.get_by_role("status").get_by_text("Queued", exact=True).wait_for()
    env.sandbox.revoke_consent(CTX)  # the customer withdraws leadbridge's access before the worker runs

    work(env)

    run.get_by_role("status").get_by_text("Failed", exact=True).wait_for()
    assert run.get_by_role("heading", name="Why it failed").is_visible()
    assert run.get_by_text("(needs_reauth)").is_visible()
    assert run.get_by_text(
        "SuperOffice no longer accepts the stored sign-in. An admin must reconnect it under Integrations."
    ).is_visible()
    check_accessibility(page, "leadbridge-run")
    page.screenshot(path=screenshots / "sync-run-failed.png", full_page=True)


def test_a_member_sees_the_run_read_only_in_danish(page: Page, connected: Env) -> None:
    env = connected
    env.sandbox.create(CTX, "contact", {"Name": "Skagen Fisk A/S"})
    run_id = start_over_http(env)
    work(env)
    page.goto(f"{env.stack.gateway_url}/ui/#integrations")
    page.get_by_label("Signed in as").select_option("member")
    page.get_by_label("Language").select_option("da")
    page.get_by_role("link", name="Sync", exact=True).click()
    run = page.locator("leadbridge-run")

    run.get_by_text("Kun en administrator kan starte en synkronisering.").wait_for()
    assert run.get_by_role("status").inner_text() == "Lykkedes"
    assert run.locator("section[data-run]").get_attribute("data-run") == run_id
    assert run.get_by_role("button", name="Synkroniser nu").count() == 0
    assert run.get_by_role("columnheader", name="Oprettet").is_visible()
    assert shown_counts(run, "company")["created"] >= 1
    check_accessibility(page, "leadbridge-run")
