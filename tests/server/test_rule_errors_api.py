"""A rule that raises while the service ingests: as in Panther, the error becomes a RULE_ERROR alert (with the
error text and the events it failed on), is counted in the ingest answer and in /metrics, and the other rules
and the events themselves are unaffected. Over real HTTP, with the rules running in an ingest worker process."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.detect.rulefiles import write_rule
from tests.server.harness import LiveServer, run_server

from threatmatch.server.settings import ServerSettings

ATTACK = "<script>alert(1)</script>"
FAILING = """\
def rule(event):
    # fails on every event whose userAgent is not a known key: the error message holds event data
    agent = event.get("userAgent")
    if "<" in agent:
        raise ValueError(f"unexpected agent {agent}")
    return {"aws-cli": False}[agent]
"""
FINE = """\
def rule(event):
    return event.get("eventName") == "ConsoleLogin"
"""


def cloudtrail(n: int, agent: str, name: str = "GetObject") -> bytes:
    return orjson.dumps({"eventVersion": "1.08", "eventTime": f"2024-05-01T10:00:{n % 60:02d}Z", "eventName": name,
                         "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10",
                         "userAgent": agent, "recipientAccountId": "111122223333"})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    rules = tmp_path_factory.mktemp("rules")
    write_rule(rules, "failing", FAILING, RuleID="Test.Failing", DisplayName="Known agents only",
               LogTypes=["AWS.CloudTrail"], Severity="High")
    write_rule(rules, "fine", FINE, RuleID="Test.ConsoleLogin", LogTypes=["AWS.CloudTrail"], Severity="Low")
    settings = ServerSettings(run_scheduler=False, ingest_workers=1, rule_paths=(rules,))
    with run_server(tmp_path_factory.mktemp("home"), settings) as server:
        yield server


def _ingest(live: LiveServer, lines: list[bytes]) -> dict[str, Any]:
    answer = live.client.post("/api/v1/ingest/AWS.CloudTrail", content=b"\n".join(lines),
                              headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _metric(live: LiveServer, rule_id: str) -> float:
    text = live.client.get("/metrics").text
    found = re.search(rf'^threatmatch_rule_errors_total\{{rule_id="{re.escape(rule_id)}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_failing_rule_raises_a_rule_error_alert(live: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    """25 events the rule fails on (more than an alert keeps as samples) and one it decides: the answer counts
    25 rule errors, every event is stored, the other rule still alerts, one RULE_ERROR alert counts all 25
    with ten samples carrying their own p_rule_error, and the service log says it once."""
    lines = [cloudtrail(n, f"agent-{n}") for n in range(25)] + [cloudtrail(99, "aws-cli", "ConsoleLogin")]
    before = _metric(live, "Test.Failing")
    caplog.set_level(logging.WARNING, logger="threatmatch.server")
    report = _ingest(live, lines)
    assert (report["accepted"], report["rejected"], report["rule_errors"]) == (26, 0, 25)
    assert report["alerts"] == 2  # the error alert and the other rule's match
    assert _metric(live, "Test.Failing") - before == 25

    errors = live.client.get("/api/v1/alerts", params={"alert_type": "RULE_ERROR"}).json()["alerts"]
    assert [(a["rule_id"], a["alert_type"], a["event_count"]) for a in errors] == [("Test.Failing", "RULE_ERROR", 25)]
    assert errors[0]["error"] == "KeyError: 'agent-0'"
    assert errors[0]["title"] == "Rule error in Known agents only: KeyError: 'agent-0'"
    matches = live.client.get("/api/v1/alerts", params={"alert_type": "rule_match"}).json()["alerts"]
    assert [a["rule_id"] for a in matches] == ["Test.ConsoleLogin"]

    logged = [r.getMessage() for r in caplog.records if "raised an error" in r.getMessage()]
    assert logged == [f"rule Test.Failing raised an error on events of AWS.CloudTrail: \"KeyError: 'agent-0'\" "
                      f"(GET /api/v1/alerts/{errors[0]['alert_id']})"]
    _ingest(live, [cloudtrail(30, "agent-30")])  # the same alert, updated: not logged again
    assert len([r for r in caplog.records if "raised an error" in r.getMessage()]) == 1
    alert = live.client.get(f"/api/v1/alerts/{errors[0]['alert_id']}").json()
    samples = alert["sample_events"]
    assert len(samples) == 10
    assert [s["p_rule_error"] for s in samples] == [f"KeyError: 'agent-{n}'" for n in range(10)]
    assert [s["userAgent"] for s in samples] == [f"agent-{n}" for n in range(10)]
    stored = live.client.post("/api/v1/search", json={"sql": "SELECT count(*) FROM aws_cloudtrail"}).json()
    assert stored["rows"][0][0] >= 26


def test_an_unknown_alert_type_is_refused(live: LiveServer) -> None:
    answer = live.client.get("/api/v1/alerts", params={"alert_type": "policy"})
    assert answer.status_code == 422
    assert "alert_type must be one of RULE_MATCH, RULE_ERROR, SYSTEM_ERROR (got 'policy')" in answer.text


def test_the_console_shows_a_rule_error_as_text(live: LiveServer) -> None:
    """An error message quotes event data (attacker-controlled): the console lists and shows it inert."""
    report = _ingest(live, [cloudtrail(1, ATTACK)])
    assert report["rule_errors"] == 1
    client = live.console()
    listing = client.get("/alerts", params={"alert_type": "RULE_ERROR"})
    assert listing.status_code == 200
    assert 'class="badge bad rule-error"' in listing.text and "Known agents only" in listing.text
    assert "Test.ConsoleLogin" not in listing.text  # the filter shows rule errors only
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert ATTACK not in listing.text and escaped in listing.text
    errors = live.client.get("/api/v1/alerts", params={"alert_type": "RULE_ERROR"}).json()["alerts"]
    [raised] = [a for a in errors if a["error"].startswith("ValueError")]
    assert raised["error"] == f"ValueError: unexpected agent {ATTACK}"
    detail = client.get(f"/alerts/{raised['alert_id']}")
    assert detail.status_code == 200 and 'id="rule-error-text"' in detail.text
    assert ATTACK not in detail.text and escaped in detail.text


def test_the_ingest_client_reports_rule_errors(live: LiveServer, tmp_path: Path) -> None:
    """`threatmatch ingest --url` adds the rule errors of every request to its summary."""
    from threatmatch.server.client import IngestClient

    data = tmp_path / "trail.jsonl"
    data.write_bytes(b"\n".join(cloudtrail(n, f"other-{n}") for n in range(3)) + b"\n")
    summary = IngestClient(live.base_url, live.token).send_files("AWS.CloudTrail", (data,), batch_bytes=1 << 20)
    assert (summary.accepted, summary.rule_errors) == (3, 3)
