"""What every browser test of the UI shares: the built bundle and axe-core (both made by `make ui`), and the
accessibility check."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from local.template import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

MANIFEST = REPO_ROOT / "ui" / "dist" / "manifest.json"
AXE = REPO_ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"


def check_accessibility(page: Page, *elements: str) -> None:
    """axe-core in the page: no serious or critical violation in the named components (default: every leadbridge
    element on the page; the demo app's own look aside)."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async (names) => {
        const found = names.length ? names : [...new Set([...document.querySelectorAll('*')]
            .map(e => e.tagName.toLowerCase()).filter(t => t.startsWith('leadbridge-')))];
        const r = await axe.run({include: found.map(n => [n])}, {resultTypes: ['violations']});
        return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
                           .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}));
    }""",
        list(elements),
    )
    assert result == [], json.dumps(result, indent=1)


def crm_card(page: Page, crm_label: str) -> Locator:
    """The integrations list's card of one CRM (its heading is the CRM's name)."""
    integrations = page.locator("leadbridge-integrations")
    return integrations.get_by_role("listitem").filter(has=page.get_by_role("heading", name=crm_label))


def sign_in_in_popup(page: Page, open_popup: Callable[[], None], *, account_label: str, account: str,
                     allow: str) -> None:  # fmt: skip
    """Connect's popup: `open_popup` opens it (a click, or Enter on the focused button); on the CRM sandbox's sign-in
    page, choose `account` under `account_label` and press `allow`. The return page reports to the app and closes
    itself."""
    with page.expect_popup() as opened:
        open_popup()
    popup = opened.value
    popup.get_by_label(account_label).select_option(account)
    with popup.expect_event("close"):
        popup.get_by_role("button", name=allow).click()


def show_sync_log(page: Page, lead_id: str, obj: str | None = None) -> Locator:
    """The demo app's Sync log page, filtered to one lead (and object)."""
    page.get_by_role("link", name="Sync log").click()
    log = page.locator("leadbridge-sync-log")
    log.get_by_label("Lead").fill(lead_id)
    if obj is not None:
        log.get_by_label("Object").select_option(obj)
    log.get_by_role("button", name="Show").click()
    return log
