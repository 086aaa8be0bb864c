"""Alerts: dedup by (rule, dedup string) within DedupPeriodMinutes, Threshold, and the alert record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.detect.rulefiles import event, write_rule

from threatmatch.detect import AlertManager, load_rules, run_detections

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BODY = (
    "def rule(e):\n    return True\n"
    "def dedup(e):\n    return e['user']\n"
    "def title(e):\n    return 'login ' + e['user']\n"
)


def _setup(tmp_path: Path, **spec: object) -> tuple:  # type: ignore[type-arg]
    write_rule(tmp_path, "r", BODY, RuleID="R", **spec)
    ruleset = load_rules([tmp_path])
    return ruleset, AlertManager(ruleset, max_samples=2)


def test_dedup_within_period(tmp_path: Path) -> None:
    """Matches with one dedup string inside the period update one alert; another string opens another."""
    ruleset, manager = _setup(tmp_path, DedupPeriodMinutes=30)
    events = [event(user="a", p_event_time=f"2024-01-01 00:0{i}:00.000") for i in range(3)] + [event(user="b")]
    _, alerts = run_detections(events, ruleset, manager, T0)
    by_dedup = {a["dedup"]: a for a in alerts}
    assert set(by_dedup) == {"a", "b"}
    first = by_dedup["a"]
    assert first["event_count"] == 3 and len(first["sample_events"]) == 2
    assert first["first_event_time"] == "2024-01-01 00:00:00.000"
    assert first["last_event_time"] == "2024-01-01 00:02:00.000"
    assert first["rule_id"] == "R" and first["title"] == "login a" and first["severity"] == "MEDIUM"
    assert first["sample_events"][0]["user"] == "a"


def test_new_alert_after_period(tmp_path: Path) -> None:
    """After the dedup period a new alert (new id) starts."""
    ruleset, manager = _setup(tmp_path, DedupPeriodMinutes=30)
    _, [first] = run_detections([event(user="a")], ruleset, manager, T0)
    _, [same] = run_detections([event(user="a")], ruleset, manager, T0 + timedelta(minutes=29))
    _, [later] = run_detections([event(user="a")], ruleset, manager, T0 + timedelta(minutes=31))
    assert same["alert_id"] == first["alert_id"] and same["event_count"] == 2
    assert later["alert_id"] != first["alert_id"] and later["event_count"] == 1


def test_threshold(tmp_path: Path) -> None:
    """No alert until Threshold matches share a dedup window."""
    ruleset, manager = _setup(tmp_path, Threshold=3)
    _, alerts = run_detections([event(user="a")] * 2, ruleset, manager, T0)
    assert alerts == []
    _, alerts = run_detections([event(user="a")], ruleset, manager, T0 + timedelta(minutes=1))
    assert len(alerts) == 1 and alerts[0]["event_count"] == 3


def test_default_period_is_sixty_minutes(tmp_path: Path) -> None:
    """Without DedupPeriodMinutes the window is 60 minutes."""
    ruleset, manager = _setup(tmp_path)
    _, [a] = run_detections([event(user="a")], ruleset, manager, T0)
    _, [b] = run_detections([event(user="a")], ruleset, manager, T0 + timedelta(minutes=59))
    assert a["alert_id"] == b["alert_id"] and a["dedup_period_minutes"] == 60
    assert manager.expire(T0 + timedelta(minutes=61)) == 1 and manager.alerts() == []


def test_errors_and_non_matches_make_no_alerts(tmp_path: Path) -> None:
    """Rule errors are results but never alerts."""
    write_rule(tmp_path, "e", "def rule(e):\n    raise ValueError('bad')\n", RuleID="E")
    ruleset = load_rules([tmp_path])
    results, alerts = run_detections([event()], ruleset, AlertManager(ruleset), T0)
    assert len(results) == 1 and results[0].error and alerts == []
