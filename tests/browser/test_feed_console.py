"""Create New → Feed in real headless Chromium: form errors, Test feed, Save, Sync now, stored data rendered inertly.

The feed is the real Spamhaus DROP file plus two hostile lines, served by a real HTTP server on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.browser.conftest import shot, signed_in
from tests.conftest import shared_path
from tests.providers.feed_server import FeedServer, feed_server
from tests.server.harness import LiveServer, run_server

from threatmatch.server.settings import ServerSettings

pytestmark = pytest.mark.browser

HOSTILE = b"hxxp://evil.example/<img src=x onerror=\"window.__xss=1\">\n<script>window.__xss=2</script>\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, FeedServer]]:
    with feed_server() as feeds, run_server(tmp_path_factory.mktemp("home"),
                                            ServerSettings(run_scheduler=False)) as live:
        drop = shared_path("realdata", "intel", "feeds", "spamhaus", "drop.txt").read_bytes()
        feeds.publish("/drop.txt", drop + HOSTILE)
        yield live, feeds


@pytest.fixture(scope="module")
def page(browser: Browser, world: tuple[LiveServer, FeedServer]) -> Iterator[Page]:
    live, _ = world
    with signed_in(browser, live.base_url, live.token) as tab:
        yield tab


def test_create_test_save_sync_and_browse_a_feed(page: Page, world: tuple[LiveServer, FeedServer]) -> None:
    """The whole flow: a missing column is named, Test feed says what the download holds, Save and Sync now store
    the rows, and the hostile lines show as text (or not at all) without running."""
    _, feeds = world
    page.click("text=Create New")
    page.click("#choose-feed")
    page.fill("#name", "Spamhaus DROP")
    page.fill("#url", feeds.url("/drop.txt"))
    page.select_option("#format", "csv")
    page.click("#save")
    expect(page.locator("#error-column")).to_contain_text("a csv feed needs --column")
    page.select_option("#format", "lines")
    page.fill("#itype", "bot_ip")
    page.click("#test-feed")
    expect(page.locator("#test-result")).to_contain_text("989 cidr, 1 url")
    expect(page.locator("#test-result")).to_contain_text("1 line is not an indicator")
    shot(page, "20-feed-form")
    page.click("#save")
    expect(page.locator(".flash")).to_contain_text("Saved feed provider 'Spamhaus DROP'")
    expect(page.locator("#settings")).to_contain_text(feeds.url("/drop.txt"))
    page.click("#sync-now")
    expect(page.locator("#rows")).to_have_text("990")
    expect(page.locator("#last-counts")).to_contain_text("received 991: 990 stored, 0 duplicates, 1 rejected")
    page.click("#reject-samples summary")
    expect(page.locator("#reject-samples")).to_contain_text("line 991: '<script>window.__xss=2</script>' is not")
    assert page.evaluate("window.__xss") is None
    shot(page, "21-feed-provider")
    page.click("#view-data")
    page.fill("input[name=match]", "http://evil.example/<img")
    page.keyboard.press("Enter")
    expect(page.locator("table")).to_contain_text('http://evil.example/<img')
    assert page.evaluate("window.__xss") is None
    page.goto("/enrichments")
    expect(page.locator("#providers")).to_contain_text("Feed")
    page.click("text=Spamhaus DROP")
    page.click("#edit-provider")
    expect(page.locator("#name")).to_have_value("Spamhaus DROP")
    page.fill("#confidence", "65")
    page.click("#save")
    expect(page.locator(".flash")).to_contain_text("Saved the settings of 'Spamhaus DROP'")
    expect(page.locator("#settings")).to_contain_text("65")
