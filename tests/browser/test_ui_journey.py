"""The embeddable UI in a real browser, as a person uses the demo lead app that `make run` serves at {gateway}/ui/:
connect SuperOffice in the popup through the sandbox's sign-in page, export a lead that matches a company, read the
export in the sync log, and disconnect; members see the integrations read-only. Everything goes over real HTTP to the
local gateway and the SuperOffice sandbox (`env` of tests/support/superoffice_connect.py: the sandbox and the OAuth
app the functions use). Every control is reached and used from the keyboard, found by its role and accessible name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from local.tokens import LocalIssuer
from tests.support.browser_ui import MANIFEST, check_accessibility, crm_card, show_sync_log, sign_in_in_popup
from tests.support.superoffice_connect import ADMIN_EMAIL, CTX, Env

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

# The demo page's first lead (ui/demo/demo.js): its org number matches the company made in the CRM below.
LEAD_ID, COMPANY, ORG_NUMBER = "lead-dansk-trae", "Dansk Træ IVS", "16728806"


def demo(page: Page, env: Env, screen: str = "") -> None:
    page.goto(f"{env.stack.gateway_url}/ui/{screen}")


def press_tab_until(page: Page, name: str, *, described_by: str | None = None) -> None:
    """Tab through the page (into the components' shadow roots) until the focused control has this text (and, when
    given, is described by that element: which CRM's "Connect" it is)."""
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            let el = document.activeElement;
            while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
            return el ? [(el.textContent || '').trim(), el.getAttribute('aria-describedby')] : ['', null];
        }""")
        if focused[0] == name and (described_by is None or focused[1] == described_by):
            return
    raise AssertionError(f"no control named {name!r} is reachable with Tab")


def connect_superoffice(page: Page, integrations: Locator) -> None:
    card = crm_card(page, "SuperOffice")

    def connect_with_the_keyboard() -> None:
        press_tab_until(page, "Connect", described_by="lb-crm-superoffice")
        page.keyboard.press("Enter")

    # The sandbox's SuperOffice sign-in page, in the popup that leadbridge's connect page sent there.
    sign_in_in_popup(page, connect_with_the_keyboard, account_label="Sign in as", account=ADMIN_EMAIL, allow="Allow")
    card.get_by_text("Connected", exact=True).wait_for()
    integrations.get_by_text("SuperOffice is connected.").wait_for()


def test_connect_export_with_a_match_and_read_the_sync_log(page: Page, env: Env, screenshots: Path) -> None:
    env.sandbox.create(CTX, "contact", {"Name": COMPANY, "OrgNr": ORG_NUMBER, "Domains": ["dansktrae.dk"]})
    demo(page, env, "#integrations")
    integrations = page.locator("leadbridge-integrations")
    superoffice = integrations.get_by_role("listitem").filter(has=page.get_by_role("heading", name="SuperOffice"))
    superoffice.get_by_text("Not connected").wait_for()
    check_accessibility(page)

    connect_superoffice(page, integrations)

    assert superoffice.get_by_text("Account: Connect Test AS").is_visible()
    assert env.status(env.stack.demo_tenant_id)["status"] == "connected"
    page.screenshot(path=screenshots / "integrations.png", full_page=True)

    # A saved lead: "Export to SuperOffice" finds the company by its org number and offers to link it.
    page.get_by_role("link", name="Saved leads").click()
    page.get_by_role("link", name=f"{COMPANY} ·").click()
    export = page.locator("leadbridge-export-button")
    export.get_by_text("Not synced yet").wait_for()
    press_tab_until(page, "Export to SuperOffice")
    page.keyboard.press("Enter")
    preview = export.get_by_role("region", name=f"Export {COMPANY} to SuperOffice")
    preview.get_by_text("The company already exists in SuperOffice.").wait_for()
    chosen = preview.get_by_role("radio", name=COMPANY)
    assert chosen.is_checked()
    assert preview.get_by_text("100% match").is_visible()
    assert preview.get_by_text("Same organisation number").is_visible()
    check_accessibility(page)
    page.screenshot(path=screenshots / "export-match.png", full_page=True)
    crm_id = chosen.get_attribute("value")
    assert crm_id

    page.keyboard.press("Enter")  # "Sync to selected" has the focus once the candidates are shown

    export.get_by_text("Linked to the existing company in SuperOffice.").wait_for()
    assert export.get_by_role("link", name="Open in SuperOffice").first.get_attribute("href")
    assert export.get_by_text("1 contact person(s) exported").is_visible()
    export.get_by_text(re.compile(r"^Synced \d")).wait_for()  # the lead's sync status, read again after the export
    company = env.sandbox.get(CTX, "contact", int(crm_id))
    assert company["Name"] == COMPANY
    page.screenshot(path=screenshots / "export-result.png", full_page=True)

    # The sync log shows the export: the company linked, its fields, and the person created.
    log = show_sync_log(page, LEAD_ID, "company")
    linked = log.locator("tbody").filter(has_text="link").filter(has_text="export")
    linked.wait_for()
    assert linked.get_by_text(f"{LEAD_ID} → SuperOffice #{crm_id}").is_visible()
    linked.get_by_role("button", name="Details").click()
    assert log.get_by_role("heading", name="Fields written").is_visible()
    check_accessibility(page)
    page.screenshot(path=screenshots / "sync-log.png", full_page=True)

    # Only failed entries: there are none.
    log.get_by_label("Outcome").select_option("failed")
    log.get_by_role("button", name="Show").click()
    log.get_by_text("No sync log entries match.").wait_for()

    # Disconnect, confirmed inline.
    page.get_by_role("link", name="Integrations").click()
    superoffice.get_by_role("button", name="Disconnect").click()
    superoffice.get_by_text("Disconnect SuperOffice? Nothing is deleted in the CRM").wait_for()
    superoffice.get_by_role("button", name="Disconnect").click()
    integrations.get_by_text("SuperOffice is disconnected.").wait_for()
    superoffice.get_by_text("Not connected").wait_for()
    assert env.status(env.stack.demo_tenant_id)["status"] == "disconnected"


def test_members_see_the_integrations_read_only_and_danish_texts(page: Page, env: Env) -> None:
    demo(page, env, "#integrations")
    page.get_by_label("Signed in as").select_option("member")
    page.get_by_label("Language").select_option("da")
    integrations = page.locator("leadbridge-integrations")
    integrations.get_by_text("Kun en administrator kan forbinde eller fjerne CRM-systemer.").wait_for()
    assert integrations.get_by_role("heading", name="CRM-integrationer").is_visible()
    assert integrations.get_by_role("button").count() == 0
    assert integrations.get_by_text("Ikke forbundet").count() == 3


def test_a_blocked_popup_says_so(page: Page, env: Env) -> None:
    page.add_init_script("window.open = () => null;")  # what a popup blocker does to window.open
    demo(page, env, "#integrations")
    superoffice = page.locator("leadbridge-integrations").get_by_role("listitem").filter(
        has=page.get_by_role("heading", name="SuperOffice"))
    superoffice.get_by_role("button", name="Connect").click()
    page.locator("leadbridge-integrations").get_by_text("The browser blocked the popup.").wait_for()
    assert env.status(env.stack.demo_tenant_id)["status"] == "disconnected"


def test_the_gateway_serves_the_demo_page_with_the_demo_tenants_tokens_and_only_ui_files(env: Env) -> None:
    base = env.stack.gateway_url
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/ui").headers["location"] == "/ui/"
        page = http.get("/ui/")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        script = json.loads(MANIFEST.read_text(encoding="utf-8"))["script"]
        assert f'<script defer src="dist/{script}"></script>' in page.text
        config = json.loads(page.text.split("window.LEADBRIDGE_DEMO = ", 1)[1].split(";</script>", 1)[0])
        assert config["apiUrl"] == base and config["tenant"] == env.stack.demo_tenant_id
        issuer: LocalIssuer = env.stack.issuer
        for token, role in ((config["adminToken"], "admin"), (config["memberToken"], "member")):
            claims = issuer.verify(token, issuer=issuer.issuer, audience=(issuer.audience,))
            assert claims["tenant_id"] == env.stack.demo_tenant_id and claims["role"] == role
        bundle = http.get(f"/ui/dist/{script}")
        assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
        assert http.get("/ui/demo.js").status_code == 200
        for outside in ("/ui/dist/../../pyproject.toml", "/ui/../local/tokens.py", "/ui/%2e%2e/pyproject.toml",
                        "/ui/dist/missing.js"):
            assert http.get(outside).status_code == 404, outside


def test_a_lead_without_a_match_is_created_in_the_crm(page: Page, env: Env) -> None:
    assert env.connect(env.stack.demo_tenant_id)["status"] == "connected"  # over HTTP, as the first test clicks it
    demo(page, env, "#lead/lead-fjordlys")
    export = page.locator("leadbridge-export-button")
    export.get_by_role("button", name="Export to SuperOffice").click()
    preview = export.get_by_role("region", name="Export Fjordlys Solenergi ApS to SuperOffice")
    preview.get_by_text("No match in SuperOffice: a new company will be created.").wait_for()
    assert preview.get_by_role("radio", name="Create a new company").is_checked()

    preview.get_by_role("button", name="Create & sync").click()

    export.get_by_text("Created in SuperOffice.").wait_for()
    href = export.get_by_role("link", name="Open in SuperOffice").first.get_attribute("href")
    assert href and href.startswith("http")
    status = env.http.get("/leads/lead-fjordlys/sync-status", headers=env.auth(env.stack.demo_tenant_id, "member"))
    crm_id = int(status.json()["company"]["crm_id"])
    assert env.sandbox.get(CTX, "contact", crm_id)["Name"] == "Fjordlys Solenergi ApS"


def test_without_a_connected_crm_the_export_button_says_what_to_do(page: Page, env: Env) -> None:
    demo(page, env, f"#lead/{LEAD_ID}")
    export = page.locator("leadbridge-export-button")
    export.get_by_text("Connect a CRM to export leads.").wait_for()
    assert export.get_by_role("button", name="Export to CRM").is_disabled()


def test_declining_at_the_crm_says_so_and_leaves_it_unconnected(page: Page, env: Env) -> None:
    demo(page, env, "#integrations")
    integrations = page.locator("leadbridge-integrations")
    superoffice = integrations.get_by_role("listitem").filter(has=page.get_by_role("heading", name="SuperOffice"))
    with page.expect_popup() as opened:
        superoffice.get_by_role("button", name="Connect").click()
    popup = opened.value
    popup.get_by_label("Sign in as").select_option(ADMIN_EMAIL)
    with popup.expect_event("close"):
        popup.get_by_role("button", name="Deny").click()

    integrations.get_by_text("SuperOffice was not connected: you declined access in the CRM").wait_for()
    assert superoffice.get_by_text("Not connected").is_visible()
    assert env.status(env.stack.demo_tenant_id)["status"] == "disconnected"


def test_possible_matches_are_chosen_with_the_arrow_keys(page: Page, env: Env) -> None:
    env.sandbox.create(CTX, "contact", {"Name": "Skandinavisk Data A/S", "Domains": ["skandinaviskdata.dk"]})
    assert env.connect(env.stack.demo_tenant_id)["status"] == "connected"
    demo(page, env, "#lead/lead-skandinavisk-data")
    export = page.locator("leadbridge-export-button")
    export.get_by_role("button", name="Export to SuperOffice").click()
    preview = export.get_by_role("region", name="Export Skandinavisk Data to SuperOffice")
    preview.get_by_text("Possible matches in SuperOffice: choose one, or create a new company.").wait_for()
    candidate = preview.get_by_role("radio", name="Skandinavisk Data A/S")
    create = preview.get_by_role("radio", name="Create a new company")
    assert candidate.is_checked()
    assert preview.get_by_role("button", name="Sync to selected").is_visible()

    candidate.focus()
    page.keyboard.press("ArrowDown")  # the radio group moves to "Create a new company"

    preview.get_by_role("button", name="Create & sync").wait_for()
    assert create.is_checked() and not candidate.is_checked()
    page.keyboard.press("ArrowUp")
    preview.get_by_role("button", name="Sync to selected").wait_for()
    assert candidate.is_checked()
