"""`<leadbridge-setup crm="superoffice">` in a real browser: the demo lead app's Setup page, as the demo admin with
SuperOffice connected through its sandbox. The six steps are walked with the keyboard (Tab to "Next", Enter), the
choices are saved with PATCH /settings/superoffice and read back over HTTP and after a reload; a stale save shows the
412 message, a refused value shows the 422 next to its control, a member sees everything read-only. Everything goes
over real HTTP to the local gateway and the SuperOffice sandbox.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.support.browser_ui import check_accessibility
from tests.support.superoffice_connect import CTX, Env

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

SO_ADMIN_USER = "101"  # the sandbox customer's one user (GET /crm/superoffice/users)


@pytest.fixture
def connected(env: Env) -> Env:
    assert env.connect(env.stack.demo_tenant_id)["status"] == "connected"  # as the journey test clicks it
    return env


def open_setup(page: Page, env: Env) -> Locator:
    page.goto(f"{env.stack.gateway_url}/ui/#setup")
    setup = page.locator("leadbridge-setup")
    setup.get_by_role("heading", name="Objects and directions").wait_for()
    return setup


def settings(env: Env) -> dict[str, Any]:
    response = env.http.get("/settings/superoffice", headers=env.auth(env.stack.demo_tenant_id, "member"))
    assert response.status_code == 200
    return dict(response.json())


def focused_text(page: Page) -> str:
    return str(
        page.evaluate("""() => {
        let el = document.activeElement;
        while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
        return el ? (el.textContent || '').trim() : '';
    }""")
    )


def tab_to(page: Page, name: str) -> None:
    for _ in range(80):
        page.keyboard.press("Tab")
        if focused_text(page) == name:
            return
    raise AssertionError(f"no control named {name!r} is reachable with Tab")


def next_step(page: Page, setup: Locator, title: str) -> None:
    tab_to(page, "Next")
    page.keyboard.press("Enter")
    setup.get_by_role("heading", name=title).wait_for()


def test_the_admin_walks_the_six_steps_with_the_keyboard_previews_and_saves(
    page: Page, connected: Env, screenshots: Path
) -> None:
    env = connected
    env.sandbox.define_udef(CTX, "contact", "Lead:score", "Lead score", "Number")  # a custom field of the company
    setup = open_setup(page, env)
    assert settings(env)["version"] == 0

    # 1. Objects and directions: activities go to SuperOffice (arrow keys in the radio group); the company's
    # field mapping lists every Contact field with its label, custom fields marked.
    activity = setup.get_by_role("group", name="Activity: direction")
    activity.get_by_role("radio", name="Off", exact=True).focus()
    page.keyboard.press("ArrowRight")
    assert activity.get_by_role("radio", name="To SuperOffice").is_checked()
    setup.get_by_text("You have unsaved changes.").wait_for()
    company = setup.locator('li[data-object="company"]')
    company.get_by_role("button", name=re.compile("^View mapping")).focus()
    page.keyboard.press("Enter")
    mapping = setup.get_by_role("group", name="Company field mapping")
    picker = mapping.get_by_role("combobox", name="SuperOffice field of mapping 1", exact=True)
    picker.locator("option", has_text="Organisation number (OrgNr)").wait_for(state="attached")
    assert picker.input_value() == "Name"
    assert picker.locator("option", has_text="Lead score (Lead:score) · custom").count() == 1
    # The default mappings' custom fields the CRM does not have yet are marked (an admin creates them).
    assert (
        mapping.get_by_role("combobox", name="SuperOffice field of mapping 12", exact=True)
        .locator("option:checked")
        .inner_text()
        == "RabitIQ:1 · custom · not in SuperOffice"
    )
    rows = mapping.locator("tbody tr").count()  # drawn with the options awaited above
    mapping.get_by_role("button", name="Add mapping").click()
    expect(mapping.locator("tbody tr")).to_have_count(rows + 1)
    mapping.get_by_role("button", name=f"Remove mapping {rows + 1}").click()
    expect(mapping.locator("tbody tr")).to_have_count(rows)
    check_accessibility(page, "leadbridge-setup")
    page.screenshot(path=screenshots / "setup-1-objects.png", full_page=True)
    company.get_by_role("button", name=re.compile("^Hide mapping")).focus()
    page.keyboard.press("Enter")
    mapping.wait_for(state="detached")

    # 2. Status mapping: the app's "New" becomes SuperOffice's stage "Lead"; won/lost statuses are marked.
    next_step(page, setup, "Status mapping")
    new = setup.get_by_role("combobox", name="SuperOffice stage or status for New")
    assert setup.get_by_role("combobox", name="SuperOffice stage or status for Won").input_value() == "status:Sold"
    assert new.locator("option", has_text="Sold (won)").count() == 1
    new.select_option(label="Lead")
    check_accessibility(page, "leadbridge-setup")
    page.screenshot(path=screenshots / "setup-2-status.png", full_page=True)

    # 3. Selective sync (seed 004): only leads with a score of at least 50 are created in SuperOffice.
    next_step(page, setup, "Selective sync")
    assert setup.get_by_text("No conditions: every SuperOffice record comes in.").is_visible()
    setup.get_by_label("Only create leads in SuperOffice that match these rules").focus()
    page.keyboard.press("Space")
    rules = setup.locator('section[data-rules="selective_sync"]')
    rules.get_by_role("button", name="Add condition").click()
    rules.get_by_role("combobox", name="Field of condition 1").select_option("score")
    rules.get_by_role("combobox", name="Comparison of condition 1").select_option(label="is at least")
    rules.get_by_role("textbox", name="Value of condition 1").fill("50")
    rules.get_by_role("textbox", name="Value of condition 1").press("Tab")
    check_accessibility(page, "leadbridge-setup")
    page.screenshot(path=screenshots / "setup-3-selective-sync.png", full_page=True)

    # 4. Default owners.
    next_step(page, setup, "Default owners")
    setup.get_by_label("To SuperOffice: default SuperOffice owner").select_option(SO_ADMIN_USER)
    page.screenshot(path=screenshots / "setup-4-owners.png", full_page=True)

    # 5. Scheduler: daily from a date and time, with the initial import.
    next_step(page, setup, "Scheduler")
    setup.get_by_label("How often").select_option("daily")
    setup.get_by_label("Start date").fill("2026-12-02")
    setup.get_by_label("Start time").fill("08:30")
    setup.get_by_label("Start time").press("Tab")
    setup.get_by_label("Import the existing SuperOffice data on the first run").focus()
    page.keyboard.press("Space")
    assert setup.get_by_label("Import the existing SuperOffice data on the first run").is_checked()
    check_accessibility(page, "leadbridge-setup")
    page.screenshot(path=screenshots / "setup-5-schedule.png", full_page=True)

    # 6. Done: the summary, the preview of the app's lead (with the unsaved changes), Save.
    next_step(page, setup, "Done and ready to go")
    assert setup.get_by_text("Activity → Appointment: To SuperOffice").is_visible()
    assert setup.get_by_text("Default SuperOffice owner: Admin").is_visible()
    assert setup.get_by_text("Schedule: Every day").is_visible()
    assert setup.get_by_text("Selective sync: 1 rule(s) decide which leads are created in SuperOffice").is_visible()
    tab_to(page, "Preview with a sample lead")
    page.keyboard.press("Enter")
    preview = setup.get_by_role("region", name="What exporting Dansk Træ IVS would write to SuperOffice")
    company_record = preview.locator("table", has=page.locator("caption", has_text="Company → Contact"))
    company_record.get_by_role("row", name="Name Dansk Træ IVS").wait_for()
    assert setup.get_by_text("The preview includes your unsaved changes.").is_visible()
    check_accessibility(page, "leadbridge-setup")
    page.screenshot(path=screenshots / "setup-6-done.png", full_page=True)
    tab_to(page, "Save")
    page.keyboard.press("Enter")
    setup.get_by_text("Settings saved (version 1).").wait_for()
    assert setup.get_by_text("No unsaved changes.").is_visible()

    saved = settings(env)
    assert saved["version"] == 1
    assert saved["objects"]["activity"]["direction"] == "to_crm"
    assert {"app_stage": "New", "crm_stage": "1", "crm_status": None, "inbound": False} in saved["status_mapping"][
        "stages"
    ]
    assert saved["owners"]["default_crm_user"] == SO_ADMIN_USER
    schedule = saved["schedule"]
    assert (schedule["frequency"], schedule["start_date"], schedule["start_time"][:5]) == (
        "daily",
        "2026-12-02",
        "08:30",
    )
    assert schedule["next_run_at"]
    assert saved["initial_import"] is True
    assert saved["selective_sync"]["enabled"] is True and saved["selective_sync"]["effective_from"]
    assert saved["selective_sync"]["conditions"] == [{"object": "company", "field": "score", "op": "gte", "value": 50}]
    assert len(saved["field_mappings"]["company"]) == rows  # the added-and-removed mapping was not sent

    # A reload shows what was saved.
    page.reload()
    setup = open_setup(page, env)
    assert (
        setup.get_by_role("group", name="Activity: direction").get_by_role("radio", name="To SuperOffice").is_checked()
    )
    setup.get_by_role("button", name="5. Scheduler").click()
    assert setup.get_by_label("How often").input_value() == "daily"
    assert setup.get_by_text(re.compile(r"^Next run: ")).is_visible()
    setup.get_by_role("button", name="4. Default owners").click()
    assert setup.get_by_label("To SuperOffice: default SuperOffice owner").input_value() == SO_ADMIN_USER


def test_a_stale_save_says_someone_else_changed_the_settings_and_reloads(page: Page, connected: Env) -> None:
    env = connected
    setup = open_setup(page, env)
    setup.get_by_role("button", name="5. Scheduler").click()
    setup.get_by_label("How often").select_option("hourly")
    # Someone else saves meanwhile.
    other = env.http.patch(
        "/settings/superoffice",
        json={"initial_import": True},
        headers={**env.auth(env.stack.demo_tenant_id), "If-Match": '"0"'},
    )
    assert other.status_code == 200, other.text

    setup.get_by_role("button", name="6. Done and ready to go").click()
    setup.get_by_role("button", name="Save").click()

    setup.get_by_role("alert").get_by_text("Someone else changed these settings while you were editing.").wait_for()
    assert settings(env)["schedule"]["frequency"] == "manual"
    setup.get_by_role("button", name="Reload settings").click()
    setup.get_by_text("No unsaved changes.").wait_for()
    expect(setup.get_by_role("alert")).to_have_count(0)
    setup.get_by_role("button", name="5. Scheduler").click()
    assert setup.get_by_label("Import the existing SuperOffice data on the first run").is_checked()
    assert setup.get_by_label("How often").input_value() == "manual"


def test_a_refused_value_is_shown_next_to_its_control_and_its_step_is_marked(
    page: Page, connected: Env, screenshots: Path
) -> None:
    env = connected
    setup = open_setup(page, env)
    setup.get_by_role("button", name="5. Scheduler").click()
    setup.get_by_label("Time zone").fill("Europe/Atlantis")
    setup.get_by_label("Time zone").press("Tab")
    setup.get_by_role("button", name="6. Done and ready to go").click()
    setup.get_by_role("button", name="Save").click()

    setup.get_by_role("heading", name="Scheduler").wait_for()
    zone = setup.get_by_label("Time zone")
    assert zone.get_attribute("aria-invalid") == "true"
    error = setup.locator('[data-error-for="schedule.timezone"]')
    assert "Europe/Atlantis" in error.inner_text()
    assert setup.get_by_text("SuperOffice refused 1 setting(s).").is_visible()
    assert zone.get_attribute("aria-describedby") == error.get_attribute("id")
    assert setup.get_by_role("button", name="5. Scheduler ⚠ (has errors)").get_attribute("aria-current") == "step"
    assert setup.get_by_role("button", name=re.compile("^1. Objects and directions$")).is_visible()
    page.screenshot(path=screenshots / "setup-refused.png", full_page=True)
    assert settings(env)["version"] == 0


def test_leaving_with_unsaved_changes_asks_first(page: Page, connected: Env) -> None:
    setup = open_setup(page, connected)
    setup.get_by_role("group", name="Deal: direction").get_by_role("radio", name="Off", exact=True).check()
    asked: list[str] = []

    def stay(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", stay)
    with page.expect_event("dialog"):  # the hashchange runs after the click returns
        page.get_by_role("link", name="Sync log").click()
    assert asked == ["You have unsaved changes to the SuperOffice setup. Leave without saving?"]
    page.wait_for_url(re.compile(r"#setup$"))  # the demo app put its address back: still on the setup page
    assert setup.is_visible() and page.get_by_role("heading", name="Sync log").is_hidden()


def test_a_member_sees_the_setup_read_only_in_danish(page: Page, connected: Env) -> None:
    page.goto(f"{connected.stack.gateway_url}/ui/#integrations")
    page.get_by_label("Signed in as").select_option("member")
    page.get_by_label("Language").select_option("da")
    page.get_by_role("link", name="Setup").click()
    setup = page.locator("leadbridge-setup")
    setup.get_by_text("Kun en administrator kan ændre opsætningen. Du ser den skrivebeskyttet.").wait_for()
    assert setup.get_by_role("heading", name="Objekter og retninger").is_visible()
    assert setup.get_by_role("radio", name="Begge veje").first.is_disabled()
    for step in ("2. Statusmapping", "3. Selektiv synkronisering", "4. Standardejere", "5. Planlægning",
                 "6. Færdig og klar"):
        setup.get_by_role("button", name=step).click()
        assert all(control.is_disabled() for control in setup.locator("select, input").all())
    expect(setup.get_by_role("button", name="Gem")).to_have_count(0)
    check_accessibility(page, "leadbridge-setup")
