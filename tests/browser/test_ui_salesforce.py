"""The demo lead app with Salesforce, in a real browser (seed 004's journey): connect Salesforce in the popup through
the sandbox's login page, choose the Lead object in the setup (the person follows, the field mapping lists the Lead's
fields before anything is saved), set selective sync (only leads with a high enough score are created in Salesforce)
and an inbound filter, preview a lead with those unsaved changes, save, export a lead (it becomes one Salesforce
Lead), read it in the sync log, run a sync and open its entries from the run, and disconnect. A switch whose
hand-made mappings do not fit the Lead is refused, and the default mappings offered are used with one click.
Everything goes over real HTTP to the local gateway and the Salesforce sandbox (`sfc` of
tests/support/salesforce_connect.py: the sandbox and the connected app the functions use).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

from tests.support.browser_ui import check_accessibility, crm_card, show_sync_log, sign_in_in_popup
from tests.support.salesforce_connect import ADMIN_EMAIL, SfConnect

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

# The demo page's first lead (ui/demo/demo.js): score 82.
LEAD_ID, COMPANY = "lead-dansk-trae", "Dansk Træ IVS"


def settings(sfc: SfConnect) -> dict[str, Any]:
    response = sfc.http.get("/settings/salesforce", headers=sfc.auth(sfc.stack.demo_tenant_id, "member"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def connect_salesforce(page: Page, sfc: SfConnect) -> Locator:
    page.goto(f"{sfc.stack.gateway_url}/ui/#integrations")
    card = crm_card(page, "Salesforce")
    card.get_by_text("Not connected").wait_for()
    # The sandbox's Salesforce login page, in the popup that leadbridge's connect page sent there.
    sign_in_in_popup(page, card.get_by_role("button", name="Connect").click, account_label="Log in as",
                     account=ADMIN_EMAIL, allow="Allow")  # fmt: skip
    card.get_by_text("Connected", exact=True).wait_for()
    page.locator("leadbridge-integrations").get_by_text("Salesforce is connected.").wait_for()
    assert sfc.status(sfc.stack.demo_tenant_id)["status"] == "connected"
    return card


def open_setup(page: Page) -> Locator:
    page.get_by_role("link", name="Setup").click()
    setup = page.locator("leadbridge-setup")
    setup.get_by_role("heading", name="Objects and directions").wait_for()
    page.get_by_role("heading", name="Settings · Salesforce setup").wait_for()
    return setup


def test_lead_mode_selective_sync_export_log_run_and_disconnect(
    page: Page, sfc: SfConnect, screenshots: Path
) -> None:
    card = connect_salesforce(page, sfc)
    setup = open_setup(page)

    # 1. Lead instead of Account/Contact/Opportunity (seed 004 step 3): the person follows, and the mapping lists
    # every field of the Lead (step 4) before the choice is saved.
    company = setup.locator('li[data-object="company"]')
    company.get_by_role("combobox", name="Company: object in Salesforce").select_option("Lead")
    assert setup.get_by_role("combobox", name="Person: object in Salesforce").input_value() == "Lead"
    assert company.get_by_text("Switched from Account to Lead.").is_visible()
    company.get_by_role("button", name=re.compile("^View mapping")).click()
    mapping = setup.get_by_role("group", name=re.compile("^Company field mapping"))
    picker = mapping.get_by_role("combobox", name="Salesforce field of mapping 1", exact=True)
    picker.locator("option", has_text="Company (Company)").wait_for(state="attached")
    assert picker.locator("option", has_text="Lead Status (Status)").count() == 1
    assert picker.locator("option", has_text="(AccountNumber)").count() == 0  # an Account's field, not a Lead's
    page.screenshot(path=screenshots / "salesforce-1-lead-object.png", full_page=True)

    # 3. Selective sync (seed 004 step 5): only leads scoring 90 or more are created in Salesforce; only
    # Technology companies come in from it.
    setup.get_by_role("button", name="3. Selective sync").click()
    setup.get_by_label("Only create leads in Salesforce that match these rules").check()
    rules = setup.locator('section[data-rules="selective_sync"]')
    rules.get_by_role("button", name="Add condition").click()
    rules.get_by_role("combobox", name="Field of condition 1").select_option("score")
    rules.get_by_role("combobox", name="Comparison of condition 1").select_option("gte")
    rules.get_by_role("textbox", name="Value of condition 1").fill("90")
    rules.get_by_role("textbox", name="Value of condition 1").press("Tab")
    inbound = setup.locator('section[data-rules="inbound_filter"]')
    inbound.get_by_role("button", name="Add condition").click()
    field = inbound.get_by_role("combobox", name="Field of condition 1")
    field.locator("option", has_text="Industry (Industry)").wait_for(state="attached")  # the Lead's fields
    field.select_option("Industry")
    inbound.get_by_role("textbox", name="Value of condition 1").fill("Technology")
    inbound.get_by_role("textbox", name="Value of condition 1").press("Tab")
    check_accessibility(page, "leadbridge-setup")
    page.screenshot(path=screenshots / "salesforce-3-selective-sync.png", full_page=True)

    # 5. Import the existing Salesforce data on the first run (seed 004 step 6), as the filter lets it in.
    setup.get_by_role("button", name="5. Scheduler").click()
    setup.get_by_label("Import the existing Salesforce data on the first run").check()

    # 6. The preview of the app's lead with the unsaved changes: score 82 is under 90, so it would not be sent.
    setup.get_by_role("button", name="6. Done and ready to go").click()
    assert setup.get_by_text("Company → Lead: Both ways").is_visible()
    assert setup.get_by_text("1 condition(s) decide which Salesforce records come in").is_visible()
    assert setup.get_by_text("Existing Salesforce data is imported on the first run").is_visible()
    setup.get_by_role("button", name="Preview with a sample lead").click()
    preview = setup.get_by_role("region", name=f"What exporting {COMPANY} would write to Salesforce")
    preview.get_by_text("This lead would not be sent").wait_for()
    assert setup.get_by_text("The preview includes your unsaved changes.").is_visible()
    # 70 lets it through: the preview shows the one Lead it would become.
    setup.get_by_role("button", name="3. Selective sync").click()
    rules.get_by_role("textbox", name="Value of condition 1").fill("70")
    rules.get_by_role("textbox", name="Value of condition 1").press("Tab")
    setup.get_by_role("button", name="6. Done and ready to go").click()
    setup.get_by_role("button", name="Preview with a sample lead").click()
    lead_record = preview.locator("table", has=page.locator("caption", has_text="Company → Lead"))
    lead_record.get_by_role("row", name=f"Company {COMPANY}").wait_for()
    page.screenshot(path=screenshots / "salesforce-6-preview.png", full_page=True)
    assert settings(sfc)["version"] == 0  # previewing saved nothing

    setup.get_by_role("button", name="Save").click()
    setup.get_by_text("Settings saved (version 1).").wait_for()
    saved = settings(sfc)
    assert (saved["objects"]["company"]["crm_object"], saved["objects"]["person"]["crm_object"]) == ("Lead", "Lead")
    assert "Company" in {m["crm_field"] for m in saved["field_mappings"]["company"]}  # the Lead defaults followed
    assert saved["selective_sync"]["enabled"] is True and saved["initial_import"] is True
    assert saved["selective_sync"]["conditions"] == [{"object": "company", "field": "score", "op": "gte", "value": 70}]
    assert saved["inbound_filter"]["conditions"] == [
        {"object": "company", "crm_field": "Industry", "op": "eq", "value": "Technology"}
    ]

    # Export the lead: one Salesforce Lead holding its first contact.
    page.get_by_role("link", name="Saved leads").click()
    page.get_by_role("link", name=f"{COMPANY} ·").click()
    export = page.locator("leadbridge-export-button")
    export.get_by_role("button", name="Export to Salesforce").click()
    match = export.get_by_role("region", name=f"Export {COMPANY} to Salesforce")
    match.get_by_role("button", name="Create & sync").click()
    export.get_by_text("Created in Salesforce.").wait_for()
    assert export.get_by_role("link", name="Open in Salesforce").first.get_attribute("href")
    leads = sfc.sandbox.all_records(sfc.org_id, "Lead")
    assert [(lead["Company"], lead["LastName"]) for lead in leads] == [(COMPANY, "Jensen")]
    assert sfc.sandbox.all_records(sfc.org_id, "Account") == []
    page.screenshot(path=screenshots / "salesforce-export.png", full_page=True)

    # The sync log has the export.
    log = show_sync_log(page, LEAD_ID)
    created = log.locator("tbody").filter(has_text="create").filter(has_text=f"Salesforce #{leads[0]['Id']}")
    expect(created.first).to_be_visible()

    # Two Leads made in Salesforce; the first run imports the Technology one and holds the other back (the inbound
    # filter). The run is followed to the end, and "Show in the sync log" opens the log narrowed to the run.
    tech = sfc.sandbox.create(sfc.org_id, "Lead", {"Company": "Nordic Robotics A/S", "LastName": "Berg",
                                                   "Industry": "Technology"})  # fmt: skip
    retail = sfc.sandbox.create(sfc.org_id, "Lead", {"Company": "Butik Hansen", "LastName": "Hansen",
                                                     "Industry": "Retail"})  # fmt: skip
    page.get_by_role("link", name="Sync", exact=True).click()
    run = page.locator("leadbridge-run")
    run.get_by_role("button", name="Sync now").click()
    run.get_by_text(re.compile("^Succeeded")).wait_for()
    run.get_by_role("button", name="Show in the sync log").click()
    run_id = log.locator("p.run-filter").get_attribute("data-run")
    assert run_id and log.get_by_text(f"Only the entries of run {run_id}.").is_visible()
    came_in = log.locator("tbody").filter(has_text=f"Salesforce #{tech}")
    held_back = log.locator("tbody").filter(has_text=f"Salesforce #{retail}")
    # A Lead read as the app's person is its own company too: each has two entries, with one outcome.
    expect(came_in.get_by_text("Succeeded", exact=True).first).to_be_visible()
    expect(came_in.get_by_text("Skipped", exact=True)).to_have_count(0)
    expect(held_back.get_by_text("Skipped", exact=True).first).to_be_visible()
    expect(held_back.get_by_text("Succeeded", exact=True)).to_have_count(0)
    assert "Industry" in held_back.locator(".muted").last.inner_text()  # the condition it failed
    expect(log.locator("tbody").filter(has_text=f"Salesforce #{leads[0]['Id']}")).to_have_count(0)  # not echoed
    check_accessibility(page, "leadbridge-sync-log", "leadbridge-run")
    page.screenshot(path=screenshots / "salesforce-run-log.png", full_page=True)
    log.get_by_role("button", name="Show every run").click()
    expect(log.locator("p.run-filter")).to_have_count(0)

    # Disconnect.
    page.get_by_role("link", name="Integrations").click()
    card.get_by_role("button", name="Disconnect").click()
    card.get_by_role("button", name="Disconnect").click()
    card.get_by_text("Not connected").wait_for()
    assert sfc.status(sfc.stack.demo_tenant_id)["status"] == "disconnected"


def test_a_switch_the_hand_made_mappings_do_not_fit_offers_the_default_mappings(page: Page, sfc: SfConnect) -> None:
    connect_salesforce(page, sfc)
    setup = open_setup(page)
    company = setup.locator('li[data-object="company"]')
    # A mapping by hand to an Account field, then the switch to Lead.
    company.get_by_role("button", name=re.compile("^View mapping")).click()
    mapping = setup.get_by_role("group", name=re.compile("^Company field mapping"))
    mapping.get_by_role("combobox", name="Salesforce field of mapping 1", exact=True).locator(
        "option", has_text="(AccountNumber)"
    ).wait_for(state="attached")
    mapping.get_by_role("button", name="Add mapping").click()
    rows = mapping.locator("tbody tr").count()
    mapping.get_by_role("combobox", name=f"App field(s) of mapping {rows}").fill("org_number")
    mapping.get_by_role("combobox", name=f"App field(s) of mapping {rows}").press("Tab")
    mapping.get_by_role("combobox", name=f"Salesforce field of mapping {rows}", exact=True).select_option(
        "AccountNumber"
    )
    company.get_by_role("combobox", name="Company: object in Salesforce").select_option("Lead")
    setup.get_by_role("button", name="6. Done and ready to go").click()
    setup.get_by_role("button", name="Save").click()

    # Refused: the Account field is named next to its control, and the Lead's default mappings are offered.
    alert = setup.get_by_role("alert")
    alert.get_by_text("Salesforce's objects were switched: use the default mappings of the new objects?").wait_for()
    refused = setup.locator(f'[data-error-for="field_mappings.company[{rows - 1}].crm_field"]')
    assert "AccountNumber" in refused.inner_text()
    assert settings(sfc)["version"] == 0

    alert.get_by_role("button", name="Use the default mappings").click()
    setup.get_by_text("The default mappings of the new objects are in place. Review them and save.").wait_for()
    picker = mapping.get_by_role("combobox", name="Salesforce field of mapping 1", exact=True)
    assert picker.input_value() in {"Company", "LastName", "FirstName", "Street"}
    setup.get_by_role("button", name="6. Done and ready to go").click()
    setup.get_by_role("button", name="Save").click()
    setup.get_by_text("Settings saved (version 1).").wait_for()
    saved = settings(sfc)
    assert saved["objects"]["company"]["crm_object"] == "Lead"
    assert "AccountNumber" not in {m["crm_field"] for m in saved["field_mappings"]["company"]}
