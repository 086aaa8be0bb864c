"""The detections a running service uses, over real HTTP: `GET /api/v1/rules` and the console's Detections page
list every loaded rule and every rule file the service could not load (it loads them leniently, so without this
a broken file would only be reported once, at `serve` start)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.detect.rulefiles import write_rule
from tests.server.harness import LiveServer, run_server

from threatmatch.detect import builtin_rules_dir, load_rules
from threatmatch.server.settings import ServerSettings

SHOUTY = "<b>Bold</b> login rule"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    rules = tmp_path_factory.mktemp("rules")
    write_rule(rules, "login", "def rule(e):\n    return e.get('eventName') == 'ConsoleLogin'\n",
               RuleID="Custom.Login", DisplayName=SHOUTY, LogTypes=["AWS.CloudTrail"], Severity="High",
               DedupPeriodMinutes=15, Threshold=3, Tags=["custom"])
    write_rule(rules, "filtered", "def rule(e):\n    return False\n", RuleID="Custom.Filtered",
               InlineFilters=[{"KeyPath": "eventName", "Condition": "Equals", "Value": "x"}])
    write_rule(rules, "broken", "def rule(e):\n    return (\n", RuleID="Custom.Broken")
    settings = ServerSettings(run_scheduler=False, ingest_workers=0, rule_paths=(rules,))
    with run_server(tmp_path_factory.mktemp("home"), settings) as server:
        yield server


def test_the_api_lists_every_rule_and_every_load_problem(live: LiveServer) -> None:
    """The built-in pack and the custom folder, in load order, with their metadata; the file that does not load
    is a fatal issue naming the file and the error, the key not applied a warning."""
    answer = live.client.get("/api/v1/rules")
    assert answer.status_code == 200
    data = answer.json()
    ids = [rule["id"] for rule in data["rules"]]
    builtin = [rule.id for rule in load_rules([builtin_rules_dir()])]
    assert ids == [*builtin, "Custom.Filtered", "Custom.Login"]
    login = data["rules"][-1]
    assert {key: login[key] for key in ("display_name", "severity", "log_types", "dedup_period_minutes",
                                        "threshold", "enabled", "create_alert", "tags")} == {
        "display_name": SHOUTY, "severity": "HIGH", "log_types": ["AWS.CloudTrail"], "dedup_period_minutes": 15,
        "threshold": 3, "enabled": True, "create_alert": True, "tags": ["custom"]}
    fatal = [issue for issue in data["issues"] if issue["fatal"]]
    assert len(fatal) == 1 and fatal[0]["path"].endswith("broken.yml") and "broken.py" in fatal[0]["message"]
    assert "SyntaxError" in fatal[0]["message"]
    warnings = [issue for issue in data["issues"] if not issue["fatal"]]
    assert [w["path"].rsplit("/", 1)[-1] for w in warnings] == ["filtered.yml"]
    assert "InlineFilters: not applied by threatmatch" in warnings[0]["message"]


def test_the_api_needs_a_token(live: LiveServer) -> None:
    assert live.anonymous().get("/api/v1/rules").status_code == 401


def test_the_console_lists_rules_and_problems_as_text(live: LiveServer) -> None:
    """The Detections page shows every rule with links to its alerts and errors, and each load problem; a display
    name with markup is shown as text."""
    page = live.console().get("/rules")
    assert page.status_code == 200
    assert page.text.count('<tr>') - 1 == len(live.client.get("/api/v1/rules").json()["rules"])  # + header row
    assert "&lt;b&gt;Bold&lt;/b&gt; login rule" in page.text and SHOUTY not in page.text
    assert 'href="/alerts?rule_id=Custom.Login&amp;alert_type=RULE_ERROR"' in page.text
    issues = re.findall(r'<li class="rule-issue"><span class="badge (\w+)">([^<]+)</span>', page.text)
    assert sorted(issues) == [("bad", "not loaded"), ("warn", "warning")]


def test_the_alerts_page_filters_by_rule(live: LiveServer) -> None:
    """The Detections page's links land on the Alerts page filtered by that rule (here: none yet)."""
    body = b'{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventName":"ConsoleLogin",' \
           b'"eventSource":"signin.amazonaws.com","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1"}'
    for _ in range(3):  # Threshold 3
        assert live.client.post("/api/v1/ingest/AWS.CloudTrail", content=body).json()["accepted"] == 1
    console = live.console()
    matches = console.get("/alerts", params={"rule_id": "Custom.Login", "alert_type": "RULE_MATCH"})
    assert matches.status_code == 200 and matches.text.count("<td class=\"mono\">Custom.Login</td>") == 1
    assert 'value="Custom.Login"' in matches.text
    others = console.get("/alerts", params={"rule_id": "Custom.Filtered"})
    assert "No alerts yet." in others.text
