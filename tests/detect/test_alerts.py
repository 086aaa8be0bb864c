"""Alerts: dedup by (rule, dedup string) within DedupPeriodMinutes, Threshold, and the alert record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.detect.rulefiles import event, write_rule

from threatmatch.detect import AlertManager, load_rules, run_detections
from threatmatch.detect.alerts import collapse_errors, error_type
from threatmatch.detect.runner import run_rules

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


def test_non_matches_make_no_alerts(tmp_path: Path) -> None:
    """A rule that returns False makes neither a result nor an alert."""
    write_rule(tmp_path, "n", "def rule(e):\n    return False\n", RuleID="N")
    ruleset = load_rules([tmp_path])
    results, alerts = run_detections([event()] * 3, ruleset, AlertManager(ruleset), T0)
    assert results == [] and alerts == []


def test_a_rule_error_is_an_alert_of_its_own_type(tmp_path: Path) -> None:
    """As in Panther, a rule that raises sends a "rule error" alert: type RULE_ERROR, the error text, the rule's
    severity, sample events carrying their own p_rule_error; Threshold does not hold it back."""
    write_rule(tmp_path, "e", "def rule(e):\n    return e['missing'] == 1\n", RuleID="E", DisplayName="Needs a key",
               Severity="High", Threshold=5)
    ruleset = load_rules([tmp_path])
    events = [event(n=1, p_event_time="2024-01-01 00:00:01.000"), event(n=2, p_event_time="2024-01-01 00:00:02.000")]
    results, [alert] = run_detections(events, ruleset, AlertManager(ruleset), T0)
    assert [r.error for r in results] == ["KeyError: 'missing'"] * 2
    assert alert["alert_type"] == "RULE_ERROR" and alert["rule_id"] == "E"
    assert alert["title"] == "Rule error in Needs a key: KeyError: 'missing'"
    assert alert["error"] == "KeyError: 'missing'" and alert["dedup"] == "KeyError"
    assert alert["severity"] == "HIGH" and alert["event_count"] == 2
    assert [s["n"] for s in alert["sample_events"]] == [1, 2]
    assert all(s["p_rule_error"] == "KeyError: 'missing'" for s in alert["sample_events"])
    assert "p_rule_error" not in events[0]  # the event itself is untouched (other rules see it as it was)
    assert alert["first_event_time"] == "2024-01-01 00:00:01.000"


def test_rule_errors_group_by_exception_type_apart_from_matches(tmp_path: Path) -> None:
    """Errors of one rule group by exception type (the message may hold a different value per event); a match
    alert of the same rule, even with the same dedup string, is a different alert."""
    write_rule(tmp_path, "m", """\
        def rule(e):
            if e.get('kind') == 'bad-int':
                return int(e['value']) > 0
            if e.get('kind') == 'no-key':
                return e['absent']
            return True
        def dedup(e):
            return 'KeyError'
        """, RuleID="M", CreateAlert=False)
    ruleset = load_rules([tmp_path])
    events = [event(kind="bad-int", value="x"), event(kind="bad-int", value="y"), event(kind="no-key"),
              event(kind="fine")]
    _, alerts = run_detections(events, ruleset, AlertManager(ruleset), T0)
    errors = {a["dedup"]: a for a in alerts if a["alert_type"] == "RULE_ERROR"}
    assert set(errors) == {"ValueError", "KeyError"}
    assert errors["ValueError"]["event_count"] == 2
    assert errors["ValueError"]["error"] == "ValueError: invalid literal for int() with base 10: 'x'"
    assert [s["p_rule_error"][-3:] for s in errors["ValueError"]["sample_events"]] == ["'x'", "'y'"]
    # CreateAlert: false keeps the match from alerting, not the errors
    assert [a for a in alerts if a["alert_type"] == "RULE_MATCH"] == []
    write_rule(tmp_path / "b", "m", "def rule(e):\n    return e['x']\ndef dedup(e):\n    return 'KeyError'\n",
               RuleID="B")
    both = load_rules([tmp_path / "b"])
    _, alerts = run_detections([event(x=True), event()], both, AlertManager(both), T0)
    assert sorted(a["alert_type"] for a in alerts) == ["RULE_ERROR", "RULE_MATCH"]
    assert len({a["alert_id"] for a in alerts}) == 2 and {a["dedup"] for a in alerts} == {"KeyError"}


def test_a_non_bool_answer_is_a_rule_error(tmp_path: Path) -> None:
    """rule() returning something other than a bool is an error, as in Panther."""
    write_rule(tmp_path, "s", "def rule(e):\n    return 'yes'\n", RuleID="S")
    ruleset = load_rules([tmp_path])
    _, [alert] = run_detections([event()], ruleset, AlertManager(ruleset), T0)
    assert alert["alert_type"] == "RULE_ERROR" and alert["dedup"] == "FunctionReturnTypeError"


def test_collapsed_errors_keep_their_count(tmp_path: Path) -> None:
    """``collapse_errors`` keeps the events of the first errors of a kind and counts the rest: the alert counts
    every error, and matches pass through untouched."""
    write_rule(tmp_path, "c", "def rule(e):\n    return 1 / e['d'] > 0\n", RuleID="C")
    ruleset = load_rules([tmp_path])
    events = [event(d=0, i=i) for i in range(25)] + [event(d=1, i=99)]
    results = run_rules(ruleset, events)
    kept = collapse_errors(results, keep=3)
    assert [r.event["i"] for r in kept] == [0, 1, 2, 99]
    assert [r.count for r in kept] == [1, 1, 23, 1] and sum(r.count for r in kept if r.error) == 25
    twice = collapse_errors(collapse_errors(run_rules(ruleset, events), keep=3) + kept, keep=3)  # two batches
    assert sum(r.count for r in twice if r.error) == 50 and len(twice) == 5
    alerts = AlertManager(ruleset).process(kept, T0)
    error = next(a for a in alerts if a["alert_type"] == "RULE_ERROR")
    assert error["event_count"] == 25 and len(error["sample_events"]) == 3


def test_error_type_of_unusual_messages() -> None:
    assert error_type("KeyError: 'a: b'") == "KeyError"
    assert error_type("ZeroDivisionError") == "ZeroDivisionError"
    assert error_type("mod.CustomError: x") == "mod.CustomError"
    assert error_type("<weird> text: x") == "RuleError"


def test_the_alert_limiter_stops_a_storm(tmp_path: Path) -> None:
    """As in Panther, a rule that opens the limit of alerts within an hour opens no more: one SYSTEM_ERROR alert
    says so and counts the matches since; its open alerts keep updating, other rules and its errors still alert,
    and the limit holds after the hour too (until a restart: rules only change then)."""
    write_rule(tmp_path, "storm", """\
        def rule(e):
            return e['user'] != 'broken' or e['missing']
        def dedup(e):
            return e['user']
        """, RuleID="Storm", DisplayName="Noisy rule", Severity="Low")
    write_rule(tmp_path, "quiet", "def rule(e):\n    return e['user'] == 'u0'\n", RuleID="Quiet")
    ruleset = load_rules([tmp_path])
    manager = AlertManager(ruleset, alert_limit=3)
    _, alerts = run_detections([event(user=f"u{i}") for i in range(3)], ruleset, manager, T0)
    assert sorted((a["rule_id"], a["alert_type"]) for a in alerts) == [("Quiet", "RULE_MATCH")] + [
        ("Storm", "RULE_MATCH")] * 3
    later = T0 + timedelta(minutes=10)
    events = [event(user="u3", p_event_time="2024-01-01 00:10:00.000"), event(user="u4"), event(user="u1"),
              event(user="broken")]
    _, alerts = run_detections(events, ruleset, manager, later)
    by_type = {a["alert_type"]: a for a in alerts}
    assert set(by_type) == {"SYSTEM_ERROR", "RULE_MATCH", "RULE_ERROR"}
    limit = by_type["SYSTEM_ERROR"]
    assert limit["rule_id"] == "Storm" and limit["title"] == "Alert limit reached: Noisy rule"
    assert limit["event_count"] == 2 and limit["severity"] == "LOW"  # u3 and u4 opened no alert
    assert limit["first_event_time"] == "2024-01-01 00:00:00.000" and limit["log_types"] == ["Test.Log"]
    assert "opens no more until the service restarts" in limit["error"]
    assert by_type["RULE_MATCH"]["dedup"] == "u1" and by_type["RULE_MATCH"]["event_count"] == 2  # still updated
    assert by_type["RULE_ERROR"]["rule_id"] == "Storm"
    next_hour = T0 + timedelta(hours=2)
    _, alerts = run_detections([event(user="u5"), event(user="u0")], ruleset, manager, next_hour)
    assert sorted((a["rule_id"], a["alert_type"]) for a in alerts) == [("Quiet", "RULE_MATCH"),
                                                                      ("Storm", "SYSTEM_ERROR")]
    # u5, and u0 (its alert's dedup window has closed: it would open a new one) opened no alert either
    assert [a for a in alerts if a["rule_id"] == "Storm"][0]["event_count"] == 4
    assert [a["alert_id"] for a in manager.alerts() if a["alert_type"] == "SYSTEM_ERROR"] == [limit["alert_id"]]


def test_the_limit_counts_alerts_opened_within_an_hour(tmp_path: Path) -> None:
    """Alerts opened more than an hour ago do not count towards the limit."""
    write_rule(tmp_path, "r", "def rule(e):\n    return True\ndef dedup(e):\n    return e['user']\n", RuleID="R")
    ruleset = load_rules([tmp_path])
    manager = AlertManager(ruleset, alert_limit=2)
    for minute, user in ((0, "a"), (30, "b"), (61, "c"), (95, "d")):
        _, alerts = run_detections([event(user=user)], ruleset, manager, T0 + timedelta(minutes=minute))
        assert [a["alert_type"] for a in alerts] == ["RULE_MATCH"], (minute, alerts)
    _, alerts = run_detections([event(user="e")], ruleset, manager, T0 + timedelta(minutes=100))
    assert [a["alert_type"] for a in alerts] == ["SYSTEM_ERROR"]
