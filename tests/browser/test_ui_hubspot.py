"""The demo lead app with HubSpot, in a real browser: connect HubSpot in the popup through the sandbox's install page,
walk the setup (companies, contacts and deals with the portal's properties; the app's stages on the portal's deal
stages; a default owner from the portal's owners), save, export a lead (a company with its contact in HubSpot), read
it in the sync log, and disconnect. Everything goes over real HTTP to the local gateway and the HubSpot sandbox
(`hsc` of tests/support/hubspot_connect.py: the sandbox and the app the functions use).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import expect

from local.sandbox.salesforce.demo import DEMO_ADMIN as SF_DEMO_ADMIN
from tests.support.browser_ui import check_accessibility, crm_card, show_sync_log, sign_in_in_popup
from tests.support.hubspot_connect import ADMIN_EMAIL, PORTAL_NAME, HsConnect, hs_sandbox, hsc

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["hs_sandbox", "hsc"]  # the fixtures this module uses

LEAD_ID, COMPANY = "lead-fjordlys", "Fjordlys Solenergi ApS"  # the demo page's lead with no match anywhere


def test_connect_set_up_export_read_the_log_and_disconnect(page: Page, hsc: HsConnect, screenshots: Path) -> None:
    tenant = hsc.stack.demo_tenant_id
    page.goto(f"{hsc.stack.gateway_url}/ui/#integrations")
    card = crm_card(page, "HubSpot")
    card.get_by_text("Not connected").wait_for()
    # The sandbox's HubSpot install page: choose the account, connect the app.
    sign_in_in_popup(page, card.get_by_role("button", name="Connect").click, account_label="Account",
                     account=ADMIN_EMAIL, allow="Connect app")  # fmt: skip
    card.get_by_text("Connected", exact=True).wait_for()
    assert card.get_by_text(f"Account: {PORTAL_NAME}").is_visible()
    assert hsc.status(tenant)["status"] == "connected"
    page.screenshot(path=screenshots / "hubspot-connected.png", full_page=True)

    # Setup: HubSpot's objects, the company mapping with the portal's own property, the deal stages, an owner.
    page.get_by_role("link", name="Setup").click()
    setup = page.locator("leadbridge-setup")
    page.get_by_role("heading", name="Settings · HubSpot setup").wait_for()
    company = setup.locator('li[data-object="company"]')
    company.get_by_role("button", name=re.compile("^View mapping")).click()
    mapping = setup.get_by_role("group", name=re.compile("^Company field mapping"))
    picker = mapping.get_by_role("combobox", name="HubSpot field of mapping 1", exact=True)
    picker.locator("option", has_text="CVR number (cvr) · custom").wait_for(state="attached")
    setup.get_by_role("button", name="2. Status mapping").click()
    qualified = setup.get_by_role("combobox", name="HubSpot stage or status for Qualified")
    assert qualified.locator("option", has_text="Closed Won (won)").count() == 1
    qualified.select_option(label="Presentation Scheduled")
    setup.get_by_role("button", name="4. Default owners").click()
    setup.get_by_label("To HubSpot: default HubSpot owner").select_option(hsc.owner_ids[ADMIN_EMAIL])
    check_accessibility(page, "leadbridge-setup")
    setup.get_by_role("button", name="6. Done and ready to go").click()
    setup.get_by_role("button", name="Save").click()
    setup.get_by_text("Settings saved (version 1).").wait_for()
    saved = hsc.http.get("/settings/hubspot", headers=hsc.auth(tenant, "member")).json()
    assert {"app_stage": "Qualified", "crm_stage": "presentationscheduled", "crm_status": None,
            "inbound": False} in saved["status_mapping"]["stages"]  # fmt: skip
    assert saved["owners"]["default_crm_user"] == hsc.owner_ids[ADMIN_EMAIL]
    page.screenshot(path=screenshots / "hubspot-setup.png", full_page=True)

    # Export: no match in the portal, so a new company with its contact.
    page.get_by_role("link", name="Saved leads").click()
    page.get_by_role("link", name=f"{COMPANY} ·").click()
    export = page.locator("leadbridge-export-button")
    export.get_by_role("button", name="Export to HubSpot").click()
    preview = export.get_by_role("region", name=f"Export {COMPANY} to HubSpot")
    preview.get_by_text("No match in HubSpot: a new company will be created.").wait_for()
    preview.get_by_role("button", name="Create & sync").click()
    export.get_by_text("Created in HubSpot.").wait_for()
    href = export.get_by_role("link", name="Open in HubSpot").first.get_attribute("href")
    assert href and str(hsc.hub_id) in href
    [made] = [r for r in hsc.sandbox.records(hsc.hub_id, "companies") if r.properties.get("name") == COMPANY]
    assert made.properties.get("hubspot_owner_id") == hsc.owner_ids[ADMIN_EMAIL]
    contacts = [r.properties.get("email") for r in hsc.sandbox.records(hsc.hub_id, "contacts")]
    assert contacts == ["freja@fjordlys-sol.dk"]
    page.screenshot(path=screenshots / "hubspot-export.png", full_page=True)

    # The sync log: the company created, with the fields written.
    log = show_sync_log(page, LEAD_ID, "company")
    created = log.locator("tbody").filter(has_text=f"{LEAD_ID} → HubSpot #{made.id}")
    expect(created).to_have_count(1)
    created.get_by_role("button", name="Details").click()
    assert log.get_by_role("heading", name="Fields written").is_visible()
    assert created.get_by_role("code").filter(has_text="name").count() >= 1

    # Disconnect.
    page.get_by_role("link", name="Integrations").click()
    card.get_by_role("button", name="Disconnect").click()
    card.get_by_role("button", name="Disconnect").click()
    card.get_by_text("Not connected").wait_for()
    assert hsc.status(tenant)["status"] == "disconnected"


def test_with_two_crms_connected_the_app_says_which_one_the_wizard_sets_up(
    page: Page, hsc: HsConnect
) -> None:
    # Salesforce through the stack's own sandbox (its demo org, as `make run` has it), HubSpot through this module's.
    page.goto(f"{hsc.stack.gateway_url}/ui/#integrations")
    hubspot, salesforce = crm_card(page, "HubSpot"), crm_card(page, "Salesforce")
    sign_in_in_popup(page, hubspot.get_by_role("button", name="Connect").click, account_label="Account",
                     account=ADMIN_EMAIL, allow="Connect app")  # fmt: skip
    hubspot.get_by_text("Connected", exact=True).wait_for()
    sign_in_in_popup(page, salesforce.get_by_role("button", name="Connect").click, account_label="Log in as",
                     account=SF_DEMO_ADMIN, allow="Allow")  # fmt: skip
    salesforce.get_by_text("Connected", exact=True).wait_for()

    page.get_by_role("link", name="Setup").click()
    choice = page.get_by_label("CRM to set up")
    expect(choice.locator("option")).to_have_text(["HubSpot", "Salesforce"])
    page.get_by_role("heading", name="Settings · HubSpot setup").wait_for()
    setup = page.locator("leadbridge-setup")
    company = setup.locator('li[data-object="company"]')
    expect(company.get_by_role("combobox", name="Company: object in Salesforce")).to_have_count(0)

    choice.select_option("salesforce")
    page.get_by_role("heading", name="Settings · Salesforce setup").wait_for()
    # Salesforce's own choice of object (Account or Lead) is shown: the wizard reads that CRM's settings.
    expect(company.get_by_role("combobox", name="Company: object in Salesforce")).to_have_value("Account")
    assert hsc.status(hsc.stack.demo_tenant_id)["status"] == "connected"
