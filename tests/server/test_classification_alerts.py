"""Rejected lines in a running service raise a classification-failure system error, over real HTTP (parsing in an
ingest worker): one alert per log type and hour counting every rejected line, with the lines as samples, in the
API, the console (escaped) and the service log; the accepted lines are stored as usual."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
from tests.server.harness import LiveServer, run_server

from threatmatch.server.settings import ServerSettings


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = ServerSettings(run_scheduler=False, ingest_workers=1)
    with run_server(tmp_path_factory.mktemp("home"), settings) as server:
        yield server


GOOD = orjson.dumps({"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventName": "GetObject",
                     "eventSource": "s3.amazonaws.com", "sourceIPAddress": "192.0.2.1"})
HOSTILE = b'{"eventName": "<script>alert(1)</script>"'


def test_rejected_lines_raise_one_system_error_per_log_type(live: LiveServer,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="threatmatch.server")
    first = live.client.post("/api/v1/ingest/AWS.CloudTrail", content=b"\n".join([GOOD, HOSTILE, b"[1, 2]"])).json()
    assert (first["accepted"], first["rejected"], first["alerts"]) == (1, 2, 1)
    clean = live.client.post("/api/v1/ingest/AWS.CloudTrail", content=GOOD).json()
    assert (clean["rejected"], clean["alerts"]) == (0, 0)  # nothing rejected, nothing raised
    second = live.client.post("/api/v1/ingest/AWS.CloudTrail", content=b"not json").json()
    assert (second["rejected"], second["alerts"]) == (1, 1)  # the same alert, updated

    [alert] = live.client.get("/api/v1/alerts", params={"alert_type": "SYSTEM_ERROR"}).json()["alerts"]
    assert alert["title"] == "Log classification failures: AWS.CloudTrail" and alert["event_count"] == 3
    assert alert["rule_id"] is None
    detail = live.client.get(f"/api/v1/alerts/{alert['alert_id']}").json()
    assert detail["dedup"] == "classification failure"
    assert [(s["line"], s["raw"]) for s in detail["sample_events"]] == [
        (2, HOSTILE.decode()), (3, "[1, 2]"), (1, "not json")]
    assert detail["sample_events"][1]["reason"] == "expected a JSON object, got an array"
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("lines of AWS.CloudTrail")]
    assert len(logged) == 1 and alert["alert_id"] in logged[0]
    stored = live.client.post("/api/v1/search", json={"sql": "SELECT count(*) FROM aws_cloudtrail"}).json()
    assert stored["rows"][0][0] == 2
    kept = live.client.post("/api/v1/search", json={"sql": "SELECT count(*) FROM rejects"}).json()
    assert kept["rows"][0][0] == 3

    client = live.console()
    listing = client.get("/alerts", params={"alert_type": "SYSTEM_ERROR"})
    assert "Log classification failures: AWS.CloudTrail" in listing.text
    page = client.get(f"/alerts/{alert['alert_id']}").text
    assert 'id="system-error-text"' in page and "3 line(s) of" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
