"""What every browser test of the UI shares: the built bundle and axe-core (both made by `make ui`), and the
accessibility check."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from local.template import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
