"""A real browser for the UI tests: Debian's Chromium (`/usr/bin/chromium`, which `make test` installs when missing),
driven headless by the Python `playwright` package over its own driver; no browser is ever downloaded.

- `browser` (module): a launched Chromium. Without /usr/bin/chromium the tests are skipped, except in CI (`CI` set),
  where `make test` must have installed it, so there a missing browser fails.
- `built_ui` (every test): the UI bundle must be built (`make ui`); skipped without it, except in CI.
- `page` (function): a fresh browser context (own cookies and storage) and page; JavaScript errors on the page fail
  the test.
- `screenshots` (session): where screens are saved: `UI_SCREENSHOTS_DIR` (e.g. `docs/ui` to refresh the docs' images)
  or a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.browser_ui import MANIFEST

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
# Headless, no sandbox (containers run as root), and none of the browser's own network traffic (updates, sync, QUIC).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: `make test` installs Debian's chromium first")
        pytest.skip(f"{CHROMIUM} is not installed (`make chromium` installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(autouse=True)
def built_ui() -> None:
    """The bundle the demo page loads; `make test` builds it first, so in CI its absence fails."""
    if not MANIFEST.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MANIFEST} is missing in CI: `make test` builds the UI first")
        pytest.skip("the UI bundle is not built: `make ui`")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(20_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("UI_SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("ui-screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
