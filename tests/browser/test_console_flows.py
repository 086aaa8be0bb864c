"""The Panther flows in real headless Chromium against a real server and the real ThreatStream emulator.

Tests run in file order and share one signed-in page: create the provider, sync, edit enriched log
types, browse stored data, ingest the sample logs, find an enriched event and its alert, and check
that attacker-controlled indicator text renders as text. Each page is screenshotted (into
docs/screenshots/ when THREATMATCH_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect
from tests.browser.conftest import shot, signed_in
from tests.detect.rulefiles import write_rule
from tests.server.harness import LiveServer, Receiver, run_server

from threatmatch.emulator.testing import EmulatorHandle, run_emulator
from threatmatch.server.client import IngestClient
from threatmatch.server.demo import DEMO_INDICATORS, sample_files
from threatmatch.server.settings import ServerSettings

pytestmark = pytest.mark.browser

PROVIDER = "Anomali ThreatStream"
XSS_SOURCE = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">"
XSS_URL = "http://evil.example/<script>window.__xss=3</script>"
XSS_IP = "192.0.2.99"


BROKEN_RULE = """\
def rule(event):
    if event.get("eventName") == "BreakTheRule":
        raise ValueError("cannot handle " + event["userIdentity"]["userName"])
    return False
"""
XSS_USER = "<img src=x onerror=\"window.__xss = 4\">"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, EmulatorHandle]]:
    rules = tmp_path_factory.mktemp("rules")  # a rule that fails only on a marker event (the last test sends it)
    write_rule(rules, "broken", BROKEN_RULE, RuleID="Test.BrokenOnMarker", LogTypes=["AWS.CloudTrail"])
    settings = ServerSettings(run_scheduler=False, rule_paths=(rules,))
    with run_emulator(indicators=400, seed=11) as emulator, \
            run_server(tmp_path_factory.mktemp("home"), settings) as live:
        for fields in DEMO_INDICATORS:
            emulator.add(**fields)
        emulator.add(value=XSS_IP, type="ip", itype="c2_ip", confidence=99, status="active", source=XSS_SOURCE)
        emulator.add(value=XSS_URL, type="url", itype="mal_url", confidence=80, status="active")
        yield live, emulator


@pytest.fixture(scope="module")
def page(browser: Browser, world: tuple[LiveServer, EmulatorHandle]) -> Iterator[Page]:
    """One signed-in page; any JavaScript dialog (e.g. an injected alert()) fails the run."""
    live, _ = world
    with signed_in(browser, live.base_url, live.token) as tab:
        yield tab


def test_create_anomali_provider(page: Page, world: tuple[LiveServer, EmulatorHandle]) -> None:
    """Configure → Enrichments → Create New → Anomali: validation, Test connection, Setup, then Save."""
    _, emulator = world
    page.goto("/enrichments")
    shot(page, "02-enrichments-empty")
    page.click("text=Create New")
    page.click("#choose-anomali")
    expect(page.locator("#query")).to_have_attribute("placeholder", 'feed_id=42 and status="active"')
    expect(page.locator("#refresh_minutes")).to_have_value("60")
    labels = page.locator("form label").all_inner_texts()
    assert labels == ["Name", "Anomali subdomain", "Username", "API Token", "ThreatStream indicator query",
                      "Refresh period (min)"]
    page.fill("#refresh_minutes", "30")
    page.fill("#query", 'feed_id=42 and (status="active"')
    page.click("#setup")
    expect(page.locator("#error-name")).to_contain_text("Name is required")
    expect(page.locator("#error-refresh_minutes")).to_contain_text("at least 60 minutes")
    expect(page.locator("#error-query")).to_contain_text("position")
    expect(page.locator("#error-api_token")).to_contain_text("API Token is required")
    shot(page, "03-anomali-form-errors")
    page.fill("#name", PROVIDER)
    page.fill("#subdomain", emulator.base_url)
    page.fill("#username", emulator.username)
    page.fill("#api_token", emulator.api_key)
    page.fill("#query", 'status="active"')
    page.fill("#refresh_minutes", "60")
    page.click("#test-connection")
    expect(page.locator("#test-result")).to_contain_text("Connected to")
    assert emulator.api_key not in page.content(), "the API token is never written back into the page"
    expect(page.locator("#token-kept")).to_be_visible()
    shot(page, "04-anomali-test-connection")
    page.click("#setup")
    expect(page.locator("h1")).to_contain_text(f"Review · {PROVIDER}")
    shot(page, "05-anomali-setup-review")
    page.click("#save")
    expect(page.locator("#provider-name")).to_have_text(PROVIDER)
    expect(page.locator(".flash-ok")).to_contain_text("Saved enrichment provider")
    assert emulator.api_key not in page.content()


def test_sync_now(page: Page, world: tuple[LiveServer, EmulatorHandle]) -> None:
    """Sync now pulls the indicators; the page shows counts, last refresh and the log-type tile."""
    page.click("#sync-now")
    expect(page.locator(".flash-ok")).to_contain_text("Synced")
    rows = int(page.locator("#rows").inner_text())
    assert rows > 0
    expect(page.locator("#enriched-log-types h2")).to_contain_text("Enriched Log Types")
    shot(page, "06-provider-synced")


def test_edit_enriched_log_types(page: Page) -> None:
    """Edit: trash two log types and Save; then Add Log Type with a JSON-path selector and Save."""
    page.click("#edit-log-types")
    for log_type in ("Okta.SystemLog", "GitHub.Audit"):
        page.click(f"tr[data-log-type='{log_type}'] [data-remove-row]")
    expect(page.locator("tr[data-log-type='Okta.SystemLog']")).to_have_count(0)
    page.click("#save-log-types")
    expect(page.locator(".flash-ok")).to_contain_text("2 removed")
    tile = page.locator("#enriched-log-types")
    expect(tile).not_to_contain_text("GitHub.Audit")
    expect(tile).not_to_contain_text("Okta.SystemLog")
    page.click("#edit-log-types")
    page.select_option("#add", "Okta.SystemLog")
    page.click("#add-log-type")
    selectors = page.locator("select[name='selectors:Okta.SystemLog']")
    selectors.select_option(["$.client.ipAddress"])
    shot(page, "07-enriched-log-types-editor")
    page.click("#save-log-types")
    expect(page.locator(".flash-ok")).to_contain_text("Saved Enriched Log Types")
    okta_row = page.locator("#enriched-log-types tr", has_text="Okta.SystemLog")
    expect(okta_row).to_contain_text("$.client.ipAddress")
    expect(page.locator("#enriched-log-types")).not_to_contain_text("GitHub.Audit")
    shot(page, "08-provider-log-types-saved")


def test_invalid_selector_selection_is_refused(page: Page) -> None:
    """Saving a row with no selector keeps the editor open with a precise message."""
    page.click("#edit-log-types")
    page.locator("select[name='selectors:Okta.SystemLog']").select_option([])
    page.click("#save-log-types")
    expect(page.locator("#log-types-error")).to_contain_text("Okta.SystemLog: give at least one selector")
    page.go_back()
    page.goto(page.url.replace("/logtypes/edit", ""))


def test_browse_stored_data(page: Page) -> None:
    """View stored data lists the rows and filters by type and by match value."""
    page.click("#view-data")
    expect(page.locator("#row-total")).to_contain_text("rows")
    page.fill("#type", "ip")
    page.fill("#match", "203.0.113.66")
    page.click("#apply-filters")
    table = page.locator("#rows-table tbody tr")
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text("c2_ip")
    page.fill("#match", "")
    page.select_option("#status", "active")
    page.fill("#min_confidence", "90")
    page.click("#apply-filters")
    for text in page.locator("#rows-table tbody td.num").all_inner_texts():
        assert int(text) >= 90
    shot(page, "09-stored-data")


def test_script_indicator_renders_inertly(page: Page) -> None:
    """An indicator value containing <script> is shown as text and never executes."""
    page.fill("#min_confidence", "")
    page.select_option("#status", "")
    page.fill("#type", "url")
    page.fill("#match", XSS_URL)
    page.click("#apply-filters")
    expect(page.locator("#rows-table tbody tr")).to_have_count(1)
    expect(page.locator("#rows-table")).to_contain_text("<script>window.__xss=3</script>")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#rows-table script").count() == 0
    shot(page, "10-script-indicator-inert")


def test_ingest_then_find_enriched_event_and_alert(page: Page, world: tuple[LiveServer, EmulatorHandle]) -> None:
    """Ingest the sample logs with the CLI's client, then find the enriched event and its alert."""
    live, _ = world
    client = IngestClient(live.base_url, live.token)
    for log_type, path in sample_files():
        summary = client.send_files(log_type, (path,), batch_bytes=4096)
        assert summary.rejected == 0 and summary.accepted > 0 and not summary.failed_requests
    xss_event = ('{"eventVersion":"1.08","eventTime":"2025-05-21T09:00:00Z","eventName":"ConsoleLogin",'
                 '"eventSource":"signin.amazonaws.com","awsRegion":"us-east-1","sourceIPAddress":"' + XSS_IP + '",'
                 '"userIdentity":{"type":"IAMUser","userName":"<b>mallory</b>"}}')
    assert client.post_lines("AWS.CloudTrail", [xss_event.encode()])["accepted"] == 1
    page.goto("/events")
    page.select_option("#provider", PROVIDER)
    page.fill("#value", "203.0.113.66")
    page.click("#search-events")
    events = page.locator("details.event")
    expect(events).to_have_count(2)
    events.first.locator("summary").click()
    enrichment = events.first.locator("pre.p-enrichment")
    expect(enrichment).to_contain_text('"p_match": "203.0.113.66"')
    expect(enrichment).to_contain_text('"itype": "c2_ip"')
    shot(page, "11-events-enriched")
    page.goto("/events")
    page.fill("#indicator", "203.0.113.66, " + XSS_IP)  # indicator search: any p_any_* field, enriched or not
    page.click("#search-events")
    expect(page.locator("details.event")).to_have_count(3)
    page.goto("/alerts")
    c2 = page.locator("#alerts-table tr", has_text="ThreatMatch.Anomali.C2Indicator").first
    expect(c2).to_be_visible()
    shot(page, "12-alerts")
    c2.locator("a").click()
    expect(page.locator("#sample-events")).to_contain_text('"p_match"')
    shot(page, "13-alert-detail")


def test_script_in_enrichment_is_inert(page: Page) -> None:
    """A <script> inside an enrichment row (the indicator's source) and an HTML user name render as text."""
    page.goto("/events?value=" + XSS_IP)
    event = page.locator("details.event").first
    event.locator("summary").click()
    expect(event.locator("pre.p-enrichment")).to_contain_text("<script>window.__xss = 1</script>")
    expect(event).to_contain_text("<b>mallory</b>")
    assert page.evaluate("window.__xss") is None
    assert page.locator("details.event script, details.event img, details.event b").count() == 0
    shot(page, "14-script-in-enrichment-inert")
    page.goto("/alerts")
    assert page.evaluate("window.__xss") is None


def test_token_never_appears_in_any_page(page: Page, world: tuple[LiveServer, EmulatorHandle]) -> None:
    """Neither the provider's API token nor the console's API token appears in any page or API answer."""
    live, emulator = world
    secrets = (emulator.api_key, live.token)
    for path in ("/enrichments", "/enrichments/" + PROVIDER, "/enrichments/" + PROVIDER + "/logtypes/edit",
                 "/enrichments/" + PROVIDER + "/data", "/events", "/alerts", "/logtypes"):
        page.goto(path)
        html = page.content()
        assert not any(s in html for s in secrets), path
    for path in ("/api/v1/providers", f"/api/v1/providers/{PROVIDER}", f"/api/v1/providers/{PROVIDER}/status",
                 f"/api/v1/providers/{PROVIDER}/rows?limit=1000", "/api/v1/alerts", "/metrics", "/openapi.json"):
        text = live.client.get(path).text
        assert not any(s in text for s in secrets), path


def test_schema_keys_not_applied_are_shown(page: Page, world: tuple[LiveServer, EmulatorHandle]) -> None:
    """A custom log type whose schema sets a Panther key threatmatch does not apply says so on the Log types page."""
    live, _ = world
    body = b"schema: Custom.Warned\nfields:\n  - {name: a, type: string, lowerCase: true}\n"
    assert live.client.post("/api/v1/logtypes", content=body).status_code == 201
    page.goto("/logtypes")
    row = page.locator("#logtypes-table tbody tr", has_text="Custom.Warned")
    expect(row.locator(".schema-warning")).to_have_text(
        "not applied fields[0].lowerCase: not applied by threatmatch: the value keeps its case")
    expect(page.locator("#logtypes-table .schema-warning")).to_have_count(1)  # the built-in schemas have none


def test_a_rule_error_is_listed_apart_and_shown_inertly(page: Page, world: tuple[LiveServer, EmulatorHandle]) -> None:
    """A rule that raises makes a "Rule error" alert: the Alerts page filters it apart from rule matches, and its
    error text, which quotes event data, renders as text."""
    live, _ = world
    line = ('{"eventVersion":"1.08","eventTime":"2025-05-21T10:00:00Z","eventName":"BreakTheRule",'
            '"eventSource":"signin.amazonaws.com","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1",'
            '"userIdentity":{"type":"IAMUser","userName":' + orjson.dumps(XSS_USER).decode() + '}}')
    answer = IngestClient(live.base_url, live.token).post_lines("AWS.CloudTrail", [line.encode()])
    assert (answer["accepted"], answer["rule_errors"]) == (1, 1)
    page.goto("/alerts")
    page.select_option("#alert_type", "RULE_ERROR")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#alerts-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".rule-error")).to_have_text("Rule error")
    expect(rows.first).to_contain_text("ValueError: cannot handle " + XSS_USER)
    page.select_option("#alert_type", "RULE_MATCH")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#alerts-table .rule-error")).to_have_count(0)
    page.goto("/alerts?alert_type=RULE_ERROR")
    page.locator("#alerts-table tbody tr a").first.click()
    expect(page.locator("#rule-error-text")).to_have_text("ValueError: cannot handle " + XSS_USER)
    expect(page.locator("#sample-events")).to_contain_text('"p_rule_error"')
    assert page.evaluate("window.__xss") is None
    assert page.locator("#rule-error img, #sample-events img, #alert-title img").count() == 0
    shot(page, "16-rule-error-alert")


def test_detections_page_links_to_a_rules_errors(page: Page) -> None:
    """Detections lists the built-in pack and the service's --rules folder; a rule's "errors" link opens its rule
    error alerts."""
    page.goto("/alerts")
    page.click("nav >> text=Detections")
    rows = page.locator("#rules-table tbody tr")
    expect(rows.filter(has_text="ThreatMatch.Anomali.C2Indicator")).to_have_count(1)
    broken = rows.filter(has_text="Test.BrokenOnMarker")
    expect(broken).to_contain_text("AWS.CloudTrail")
    expect(page.locator("#rule-issues")).to_have_count(0)  # every rule file of this service loaded
    shot(page, "17-detections")
    broken.locator("a.rule-errors-link").click()
    expect(page.locator("#rule_id")).to_have_value("Test.BrokenOnMarker")
    expect(page.locator("#alerts-table tbody tr")).to_have_count(1)
    expect(page.locator("#alerts-table .rule-error")).to_have_count(1)


def test_a_custom_log_type_is_tested_on_sample_lines_then_saved(page: Page) -> None:
    """Log types → New log type: a schema with a mistake is refused with its path; the fixed one, tested on sample
    lines, shows the event it makes and the rejected line (raw text inert); Save adds it to the list."""
    schema = ("schema: Custom.Firewall\nparser:\n  fastmatch:\n    match: ['%{time} %{action} src=%{src} dst=%{dst}']\n"
              "fields:\n  - {name: time, type: timestamp, timeFormat: rfc3339, isEventTime: true}\n"
              "  - {name: action, type: string, validate: {allow: [DROP, ACCEPT]}}\n"
              "  - {name: src, type: string, indicators: [ip]}\n  - {name: dst, type: string, indicators: [ip]}\n")
    hostile = '2026-01-01T00:00:01Z <img src=x onerror="window.__xss = 5"> src=192.0.2.1 dst=192.0.2.2'
    page.goto("/logtypes")
    page.click("#new-logtype")
    page.fill("#schema", schema.replace("%{dst}']", "%{dest}']"))
    page.fill("#sample", "2026-01-01T00:00:00Z DROP src=198.51.100.7 dst=10.0.0.5\n" + hostile)
    page.click("#test-schema")
    expect(page.locator("#schema-error")).to_contain_text(
        "parser.fastmatch.match[0]: %{dest} is not a top-level field of this schema")
    page.fill("#schema", schema)
    page.click("#test-schema")
    expect(page.locator("#trial-summary")).to_have_text("2 line(s): 1 event(s), 1 rejected.")
    expect(page.locator("#trial-events")).to_contain_text('"p_any_ip_addresses"')
    reject = page.locator("#trial-rejects tbody tr")
    expect(reject).to_have_count(1)
    expect(reject).to_contain_text('is not in validate.allow ("DROP", "ACCEPT")')
    expect(reject.locator("td.mono")).to_have_text(hostile)
    assert page.evaluate("window.__xss") is None and page.locator("#trial img").count() == 0
    shot(page, "18-new-log-type")
    page.click("#save-schema")
    page.wait_for_url("**/logtypes")
    expect(page.locator(".flash, [role=status]").first).to_contain_text("Added log type Custom.Firewall")
    expect(page.locator("#logtypes-table tbody tr", has_text="Custom.Firewall")).to_contain_text("fastmatch")
    page.click("#logtypes-table >> text=Custom.Firewall")
    expect(page.locator("#logtype-format")).to_have_text("fastmatch")
    action = page.locator("#fields-table tbody tr", has_text="action")
    expect(action).to_contain_text("validate allow DROP, ACCEPT")
    expect(page.locator("#fields-table tbody tr", has_text="time")).to_contain_text("event time; format rfc3339")


def test_an_alert_destination_is_added_tested_and_removed(page: Page) -> None:
    """Alert destinations: add a webhook with a secret header (never shown again), send it a test alert (it
    arrives, header included), remove it."""
    receiver = Receiver()
    try:
        page.goto("/alerts")
        page.click("nav >> text=Alert destinations")
        page.fill("#name", "SOC webhook")
        page.fill("#url", receiver.url + "/hook")
        page.select_option("#min_severity", "HIGH")
        page.fill("#header_name", "Authorization")
        page.fill("#header_value", "Bearer console-secret")
        page.click("#add-destination")
        expect(page.locator(".flash")).to_contain_text("Added destination SOC webhook")
        row = page.locator("#destinations-table tbody tr", has_text="SOC webhook")
        expect(row).to_contain_text("HIGH")
        expect(row).to_contain_text("Authorization: ••••")
        assert "console-secret" not in page.content()
        shot(page, "19-alert-destinations")
        row.locator(".test-destination").click()
        expect(page.locator(".flash")).to_contain_text("Test alert to SOC webhook: delivered: HTTP 204.")
        [(headers, body)] = receiver.posts("/hook", 1)
        assert headers["Authorization"] == "Bearer console-secret" and body["title"] == "Test alert for destination " \
                                                                                        "SOC webhook"
        page.locator("#destinations-table tbody tr", has_text="SOC webhook").locator(".remove-destination").click()
        expect(page.locator(".flash")).to_contain_text("Removed destination SOC webhook.")
        expect(page.locator("#destinations-table")).not_to_contain_text("SOC webhook")
    finally:
        receiver.server.shutdown()
