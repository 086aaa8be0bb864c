"""Indicator search (Panther's "Indicator Search") over real HTTP: events holding given values in any p_any_* field,
enriched or not, through the API and the console's Events page."""

from __future__ import annotations

import orjson
import pytest
from tests.server.harness import LiveServer

SCHEMA = b"""schema: Custom.Proxy2
fields:
  - {name: time, type: timestamp, timeFormat: rfc3339, isEventTime: true}
  - {name: client, type: string, indicators: [ip]}
  - {name: host, type: string, indicators: [domain]}
  - {name: user, type: string, indicators: [username]}
"""
EVENTS = [
    {"time": "2026-01-01T00:00:00Z", "client": "2001:DB8::7", "host": "Evil.Example", "user": "alice"},
    {"time": "2026-01-01T00:00:01Z", "client": "198.51.100.7", "host": "good.example", "user": "bob"},
    {"time": "2026-01-01T00:00:02Z", "client": "198.51.100.8", "host": "other.example", "user": "Carol"},
]


@pytest.fixture(scope="module", autouse=True)
def events(live: LiveServer) -> None:
    assert live.client.post("/api/v1/logtypes", content=SCHEMA).status_code == 201
    body = b"\n".join(orjson.dumps(event) for event in EVENTS)
    assert live.client.post("/api/v1/ingest/Custom.Proxy2", content=body).json()["accepted"] == 3


def _clients(live: LiveServer, indicator: str) -> list[str]:
    answer = live.client.get("/api/v1/events", params={"indicator": indicator, "log_type": "Custom.Proxy2"})
    assert answer.status_code == 200, answer.text
    return sorted(event["event"]["client"] for event in answer.json()["events"])


@pytest.mark.parametrize(("indicator", "clients"), [
    ("198.51.100.7", ["198.51.100.7"]),
    ("2001:db8:0:0::7", ["2001:DB8::7"]),  # addresses compared in canonical form
    ("EVIL.example", ["2001:DB8::7"]),  # domains without case
    ("carol", ["198.51.100.8"]),  # user names too
    ("198.51.100.8, good.example\n203.0.113.1", ["198.51.100.7", "198.51.100.8"]),  # several at once
    ("203.0.113.1", []),
    ("x') OR 1=1 --", []),  # a value, never SQL
])
def test_indicator_search_finds_events_in_any_indicator_field(live: LiveServer, indicator: str,
                                                              clients: list[str]) -> None:
    assert _clients(live, indicator) == clients


def test_too_many_indicators_is_a_clear_error(live: LiveServer) -> None:
    answer = live.client.get("/api/v1/events", params={"indicator": " ".join(f"10.0.0.{n}" for n in range(101))})
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == "101 indicators to search: at most 100 at once; split the list"


def test_the_events_page_searches_indicators(live: LiveServer) -> None:
    console = live.console()
    page = console.get("/events", params={"indicator": "evil.example <script>"})
    assert page.status_code == 200 and 'id="indicator"' in page.text
    assert "2001:db8::7" in page.text.lower() and "198.51.100.8" not in page.text
    assert "<script>" not in page.text and "evil.example &lt;script&gt;" in page.text  # the field shows it escaped
