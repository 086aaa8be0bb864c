"""The alert limiter in a running service, over real HTTP (rules in an ingest worker): a rule that opens its limit of
alerts within the hour opens no more; one SYSTEM_ERROR alert says so, counts the matches since, shows in the API,
the console and the service log; every event is still stored."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
from tests.detect.rulefiles import write_rule
from tests.server.harness import LiveServer, run_server

from threatmatch.server.settings import ServerSettings

NOISY = """\
def rule(event):
    return event.get("eventName") == "GetObject"


def dedup(event):
    return event.get("requestID")
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    rules = tmp_path_factory.mktemp("rules")
    write_rule(rules, "noisy", NOISY, RuleID="Test.Noisy", DisplayName="One alert per request",
               LogTypes=["AWS.CloudTrail"], Severity="Low")
    settings = ServerSettings(run_scheduler=False, ingest_workers=1, rule_paths=(rules,), alert_limit_per_hour=2)
    with run_server(tmp_path_factory.mktemp("home"), settings) as server:
        yield server


def _line(n: int) -> bytes:
    return orjson.dumps({"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventName": "GetObject",
                         "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1",
                         "requestID": f"R{n}"})


def test_a_rule_past_the_limit_opens_no_more_alerts(live: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="threatmatch.server")
    answer = live.client.post("/api/v1/ingest/AWS.CloudTrail", content=b"\n".join(_line(n) for n in range(5)))
    assert answer.status_code == 200 and answer.json()["accepted"] == 5
    alerts = live.client.get("/api/v1/alerts", params={"rule_id": "Test.Noisy"}).json()["alerts"]
    assert sorted(a["alert_type"] for a in alerts) == ["RULE_MATCH", "RULE_MATCH", "SYSTEM_ERROR"]
    [limit] = live.client.get("/api/v1/alerts", params={"alert_type": "SYSTEM_ERROR"}).json()["alerts"]
    assert limit["title"] == "Alert limit reached: One alert per request" and limit["event_count"] == 3
    assert limit["error"].startswith("One alert per request opened 2 alerts within an hour")
    more = live.client.post("/api/v1/ingest/AWS.CloudTrail", content=_line(9))
    assert more.json()["alerts"] == 1  # the limit alert, updated
    [limit] = live.client.get("/api/v1/alerts", params={"alert_type": "system_error"}).json()["alerts"]
    assert limit["event_count"] == 4
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alert limit:")]
    assert len(logged) == 1 and limit["alert_id"] in logged[0]
    stored = live.client.post("/api/v1/search", json={"sql": "SELECT count(*) FROM aws_cloudtrail"}).json()
    assert stored["rows"][0][0] == 6

    client = live.console()
    listing = client.get("/alerts", params={"alert_type": "SYSTEM_ERROR"})
    assert 'class="badge warn system-error"' in listing.text and "Alert limit reached" in listing.text
    detail = client.get(f"/alerts/{limit['alert_id']}")
    assert 'id="system-error-text"' in detail.text and "4 match(es) of rule" in detail.text
