"""Feed providers over real HTTP: create, test, sync, change, and the console's Feed form; values escaped.

A real HTTP server on loopback publishes the feed files (``tests.providers.feed_server``); the service syncs them
in its sync process as it syncs ThreatStream.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import shared_path
from tests.providers.feed_server import FeedServer, feed_server
from tests.server.harness import LiveServer

KEY = "hdr-s3cr3t-v4lue"


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def feed(**overrides: Any) -> dict[str, Any]:
    body = {"name": "feed", "url": "https://feodotracker.abuse.ch/downloads/ipblocklist.csv", "format": "csv",
            "column": "dst_ip", "itype": "c2_ip", "confidence": 90, "refresh_minutes": 60}
    body.update(overrides)
    return body


class TestApi:
    def test_create_test_sync_and_read_rows(self, live: LiveServer, server: FeedServer) -> None:
        """A CSV feed is created (201), tested, synced; its status counts and rows are those of the real file."""
        body = shared_path("realdata", "intel", "feeds", "abuse.ch", "feodotracker_ipblocklist.csv").read_bytes()
        url = server.publish("/feodo.csv", body)
        created = live.client.post("/api/v1/providers/feeds", json=feed(name="feodo-api", url=url))
        assert created.status_code == 201, created.text
        assert created.json()["kind"] == "feed" and created.json()["column"] == "dst_ip"
        tested = live.client.post("/api/v1/providers/feodo-api/test")
        assert tested.status_code == 200, tested.text
        assert tested.json()["by_type"] == {"ip": 28} and tested.json()["rejected"] == 0
        synced = live.client.post("/api/v1/providers/feodo-api/sync")
        assert synced.status_code == 200, synced.text
        assert synced.json()["rows"] == 28
        status = live.client.get("/api/v1/providers/feodo-api/status").json()
        assert status["rows"] == 28 and status["counts"]["type"] == {"ip": 28}
        rows = live.client.get("/api/v1/providers/feodo-api/rows", params={"match": "192.9.135.73"}).json()["rows"]
        assert rows[0]["malware"] == "Pikabot" and rows[0]["source"] == "feodo-api"
        searched = live.client.post("/api/v1/search", json={
            "sql": "SELECT value, malware FROM lookup_feodo_api WHERE value = '192.9.135.73'"})
        assert searched.status_code == 200 and searched.json()["rows"] == [["192.9.135.73", "Pikabot"]], searched.text
        again = live.client.post("/api/v1/providers/feodo-api/sync").json()  # same bytes: the table stays
        assert again["unchanged"] is True and again["generation"] == synced.json()["generation"]
        assert again["rows"] == 28 and again["status"]["rows"] == 28

    def test_enrichment_from_a_feed_reaches_ingested_events(self, live: LiveServer, server: FeedServer) -> None:
        """An event from a listed address is enriched under the feed's name, as under a ThreatStream provider."""
        url = server.publish("/c2.txt", b"# c2 list\n198.51.100.23 ; seen 2026-11-30\n")
        assert live.client.post("/api/v1/providers/feeds", json=feed(name="c2list", url=url, format="lines",
                                                                     column=None)).status_code == 201
        assert live.client.post("/api/v1/providers/c2list/sync").status_code == 200
        line = ('{"eventTime":"2026-12-01T10:00:00Z","eventName":"GetObject","eventSource":"s3.amazonaws.com",'
                '"sourceIPAddress":"198.51.100.23","awsRegion":"us-east-1"}')
        answer = live.client.post("/api/v1/ingest/AWS.CloudTrail", content=line,
                                  headers={"Content-Type": "application/x-ndjson"})
        assert answer.status_code == 200 and answer.json()["matched"] == 1, answer.text
        found = live.client.get("/api/v1/events", params={"indicator": "198.51.100.23"}).json()
        enrichment = found["events"][0]["p_enrichment"]["c2list"]["p_any_ip_addresses"][0]
        assert enrichment["comment"] == "seen 2026-11-30" and enrichment["p_match"] == "198.51.100.23"

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("url", "ftp://example.com/x", "needs an http(s) scheme"),
        ("format", "xml", "is not one of lines, csv, jsonl"),
        ("column", None, "a csv feed needs --column"),
        ("confidence", 101, "between 0 and 100"),
        ("refresh_minutes", 10, "at least 15 minutes"),
        ("itype", "bad itype!", "--itype"),
        ("name", "<script>", "invalid provider name"),
        ("header_name", "Bad Header", "not an HTTP header name"),
    ])
    def test_bad_field_is_422_naming_it(self, live: LiveServer, field: str, value: Any, message: str) -> None:
        answer = live.client.post("/api/v1/providers/feeds",
                                  json=feed(**{"name": f"bad-{field}", field: value, "header_value": KEY}))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["field"] == field and message in error["message"]
        assert KEY not in answer.text

    def test_header_value_is_write_only_and_patch_keeps_it(self, live: LiveServer, server: FeedServer) -> None:
        """The header value is never returned; a PATCH that leaves it out keeps it (the download still works)."""
        url = server.publish("/keyed.txt", b"203.0.113.40\n")
        server.require_header("/keyed.txt", "Auth-Key", KEY)
        created = live.client.post("/api/v1/providers/feeds", json=feed(
            name="keyed-api", url=url, format="lines", column=None, header_name="Auth-Key", header_value=KEY))
        assert created.status_code == 201, created.text
        patched = live.client.patch("/api/v1/providers/keyed-api", json={"confidence": 55})
        assert patched.status_code == 200 and patched.json()["confidence"] == 55
        tested = live.client.post("/api/v1/providers/keyed-api/test")
        assert tested.status_code == 200 and tested.json()["by_type"] == {"ip": 1}, tested.text
        wrong = live.client.patch("/api/v1/providers/keyed-api", json={"query": 'status="active"'})
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "query"
        assert "feed provider" in wrong.json()["error"]["message"]
        for answer in (created, patched, tested, live.client.get("/api/v1/providers"),
                       live.client.get("/api/v1/providers/keyed-api")):
            assert KEY not in answer.text and "header_value" not in answer.text

    def test_unsaved_settings_can_be_tested(self, live: LiveServer, server: FeedServer) -> None:
        """POST /feeds/test downloads without storing; a 404 is a provider error saying to check the URL."""
        url = server.publish("/probe.txt", b"evil[.]example\n/not-an-indicator\n")
        answer = live.client.post("/api/v1/providers/feeds/test", json=feed(name="probe", url=url, format="lines",
                                                                            column=None))
        assert answer.status_code == 200 and answer.json()["by_type"] == {"domain": 1}
        assert answer.json()["rejected"] == 1
        assert "probe" not in [p["name"] for p in live.client.get("/api/v1/providers").json()["providers"]]
        missing = live.client.post("/api/v1/providers/feeds/test", json=feed(url=server.url("/missing.csv")))
        assert missing.status_code == 502 and "check --url" in missing.json()["error"]["message"]


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


class TestConsole:
    def test_feed_form_saves_and_the_page_shows_settings_escaped(self, live: LiveServer, server: FeedServer) -> None:
        """Create New → Feed: field errors, Test feed, Save; the provider page shows the feed, its rows escape."""
        url = server.publish("/hostile.txt", b"<script>alert(1)</script>.evil.example\n"
                                             b"hxxp://x.example/<img src=x onerror=alert(2)>\n")
        console = live.console()
        choices = console.get("/enrichments/new").text
        assert 'href="/enrichments/new/feed"' in choices
        form = console.get("/enrichments/new/feed")
        token = _csrf(form.text)
        bad = console.post("/enrichments/new/feed", data={"csrf_token": token, "name": "hostile", "url": url,
                                                          "format": "csv", "refresh_minutes": "60", "action": "save"})
        assert bad.status_code == 422 and 'id="error-column"' in bad.text
        tested = console.post("/enrichments/new/feed", data={"csrf_token": token, "name": "", "url": url,
                                                             "format": "lines", "action": "test"})
        assert tested.status_code == 200 and 'id="test-result"' in tested.text
        assert "1 url" in tested.text and "1 line is not an indicator" in tested.text
        saved = console.post("/enrichments/new/feed", data={"csrf_token": token, "name": "hostile", "url": url,
                                                            "format": "lines", "confidence": "70",
                                                            "refresh_minutes": "30", "action": "save"},
                             follow_redirects=True)
        assert saved.status_code == 200 and 'id="settings"' in saved.text and url in saved.text
        assert live.client.post("/api/v1/providers/hostile/sync").status_code == 200
        listing = console.get("/enrichments").text
        assert re.search(r"hostile</a></td>\s*<td>Feed</td>", listing)
        data = console.get("/enrichments/hostile/data").text
        assert "hxxp" not in data and "http://x.example/&lt;img" in data and "<img" not in data  # refanged, escaped
        assert "<script>alert(1)" not in data

    def test_a_feed_is_edited_from_its_page_keeping_its_header_value(self, live: LiveServer,
                                                                       server: FeedServer) -> None:
        """Edit: the form comes filled in (name fixed, header value never shown); Save with the value left empty
        keeps the stored one, the new itype and confidence reach the rows at the next sync; errors name the field."""
        url = server.publish("/edit.txt", b"198.51.100.60\n")
        server.require_header("/edit.txt", "Auth-Key", KEY)
        assert live.client.post("/api/v1/providers/feeds", json=feed(
            name="edit-me", url=url, format="lines", column=None, itype="c2_ip", header_name="Auth-Key",
            header_value=KEY)).status_code == 201
        console = live.console()
        page = console.get("/enrichments/edit-me")
        assert 'href="/enrichments/edit-me/edit"' in page.text
        form = console.get("/enrichments/edit-me/edit")
        assert form.status_code == 200 and 'value="edit-me" placeholder="spamhaus_drop" readonly' in form.text
        assert f'value="{url}"' in form.text and KEY not in form.text and 'id="header_value"' in form.text
        token = _csrf(form.text)
        fields = {"csrf_token": token, "name": "ignored", "url": url, "format": "lines", "itype": "bot_ip",
                  "confidence": "40", "refresh_minutes": "30", "header_name": "Auth-Key", "header_value": ""}
        bad = console.post("/enrichments/edit-me/edit", data={**fields, "confidence": "400", "action": "save"})
        assert bad.status_code == 422 and 'id="error-confidence"' in bad.text and KEY not in bad.text
        tested = console.post("/enrichments/edit-me/edit", data={**fields, "action": "test"})
        assert "1 ip" in tested.text  # the stored header value was used
        saved = console.post("/enrichments/edit-me/edit", data={**fields, "action": "save"}, follow_redirects=True)
        assert saved.status_code == 200 and "the next sync (Sync now, or the schedule) uses them" in saved.text
        settings = live.client.get("/api/v1/providers/edit-me").json()
        assert (settings["name"], settings["itype"], settings["confidence"], settings["refresh_minutes"]) == (
            "edit-me", "bot_ip", 40, 30)
        assert live.client.post("/api/v1/providers/edit-me/sync").json()["rows"] == 1  # header still sent
        row = live.client.get("/api/v1/providers/edit-me/rows").json()["rows"][0]
        assert (row["itype"], row["confidence"]) == ("bot_ip", 40)
        assert console.get("/enrichments/no-such-feed/edit").status_code == 404

    def test_a_threatstream_provider_is_edited_in_the_anomali_form(self, live: LiveServer) -> None:
        """Edit on a ThreatStream provider: the Anomali form filled in (no token shown), Save without a token keeps
        the stored one, a bad query is named on its field."""
        assert live.client.post("/api/v1/providers", json={
            "name": "ts-edit", "subdomain": "api", "username": "analyst@example.com", "api_token": "t0k3n-v4lue",
            "query": 'status="active"'}).status_code == 201
        console = live.console()
        assert 'href="/enrichments/ts-edit/edit"' in console.get("/enrichments/ts-edit").text
        form = console.get("/enrichments/ts-edit/edit")
        assert form.status_code == 200 and "Enrichment Settings · Anomali · ts-edit" in form.text
        assert 'value="status=&#34;active&#34;"' in form.text and "t0k3n-v4lue" not in form.text
        assert "A token is stored; leave this empty to keep it." in form.text and 'id="save"' in form.text
        fields = {"csrf_token": _csrf(form.text), "subdomain": "api", "username": "soc@example.com",
                  "query": 'status="active" and confidence>=60', "refresh_minutes": "120", "api_token": ""}
        bad = console.post("/enrichments/ts-edit/edit", data={**fields, "query": "confidence>>1", "action": "save"})
        assert bad.status_code == 422 and 'id="error-query"' in bad.text
        saved = console.post("/enrichments/ts-edit/edit", data={**fields, "action": "save"}, follow_redirects=True)
        assert saved.status_code == 200 and "Saved the settings of &#39;ts-edit&#39;" in saved.text
        stored = live.service.repo().get("ts-edit")
        assert (stored.username, stored.refresh_minutes) == ("soc@example.com", 120)  # type: ignore[union-attr]
        assert stored.secret.reveal() == "t0k3n-v4lue"

    def test_form_without_csrf_is_refused(self, live: LiveServer) -> None:
        console = live.console()
        answer = console.post("/enrichments/new/feed", data={"name": "x", "url": "https://example.com/f.txt",
                                                             "action": "save"})
        assert answer.status_code == 403
