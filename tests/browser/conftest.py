"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against a real server.

When Chromium is absent the whole folder is skipped with a loud message: `make test` installs it
(scripts/ensure-chromium.sh) and only skips when the package cannot be installed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# The README's screenshots are refreshed on purpose (THREATMATCH_UPDATE_SCREENSHOTS=1); an ordinary test run
# still takes every screenshot, into a scratch folder, so it never dirties the work tree.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENSHOTS = (DOCS_SCREENSHOTS if os.environ.get("THREATMATCH_UPDATE_SCREENSHOTS") == "1"
               else Path(tempfile.gettempdir()) / "threatmatch-screenshots")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

if not CHROMIUM.exists():
    banner = ("\n" + "!" * 78 + f"\n!! BROWSER TESTS SKIPPED: {CHROMIUM} is missing. Install Debian's "
              "`chromium` package\n!! (make test runs scripts/ensure-chromium.sh) to run the console tests.\n"
              + "!" * 78 + "\n")
    sys.stderr.write(banner)
    pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Dialog, Page, sync_playwright  # noqa: E402  (after the skip on purpose)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run."""
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as <name>.png (docs/screenshots/ when THREATMATCH_UPDATE_SCREENSHOTS=1)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def signed_in(browser: Browser, base_url: str, token: str) -> Iterator[Page]:
    """A page signed in to the console at ``base_url``. Any JavaScript dialog but a Delete confirmation (which is
    accepted) fails the test on exit: an injected alert() shows up here."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=base_url)
    tab = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept() if dialog.type == "confirm" else dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.goto("/login")
    tab.fill("#token", token)
    tab.click("button[type=submit]")
    tab.wait_for_url("**/enrichments")
    try:
        yield tab
    finally:
        context.close()
    assert not [m for m in dialogs if "Delete" not in m], f"unexpected dialogs: {dialogs}"
