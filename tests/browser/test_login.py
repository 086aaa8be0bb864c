"""Signing in to the console in real Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page
from tests.browser.conftest import shot
from tests.server.harness import LiveServer, run_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("home")) as server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_login_with_a_wrong_token_shows_an_error(live: LiveServer, page: Page) -> None:
    """A wrong token keeps the user on the login page with a visible error."""
    page.goto(live.base_url + "/enrichments")
    page.fill("#token", "tm_wrong")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "This API token is invalid or revoked."


def test_login_lands_on_enrichments(live: LiveServer, page: Page) -> None:
    """Signing in with the API token opens the page that was asked for."""
    page.goto(live.base_url + "/enrichments")
    assert "/login" in page.url
    shot(page, "01-login")
    page.fill("#token", live.token)
    page.click("button[type=submit]")
    page.wait_for_url("**/enrichments")
    assert page.locator("h1").first.inner_text() == "Enrichments"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["tm_session"]["httpOnly"] is True
    assert cookies["tm_session"]["sameSite"] == "Strict"


def test_api_docs_render_offline_under_the_csp(live: LiveServer, page: Page) -> None:
    """/docs renders Swagger UI from files the service serves itself (no CDN; CSP default-src 'self')."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(live.base_url + "/login?next=/docs")
    page.fill("#token", live.token)
    page.click("button[type=submit]")
    page.wait_for_url("**/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/ingest/" in path for path in paths), paths
    assert not [e for e in errors if "Content Security Policy" in e], errors
    shot(page, "15-api-docs")
