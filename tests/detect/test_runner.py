"""Rules run under Panther's contract: bool results, limits, fallbacks, and errors that never stop the run."""

from __future__ import annotations

from pathlib import Path

from tests.detect.rulefiles import event, write_rule

from threatmatch.detect import load_rules
from threatmatch.detect.runner import MAX_STRING, TRUNCATED


def _results(tmp_path: Path, body: str, events: list[dict[str, object]], **spec: object) -> list:  # type: ignore[type-arg]
    write_rule(tmp_path, "r", body, **spec)
    return load_rules([tmp_path]).run(events)


def test_non_bool_is_an_error(tmp_path: Path) -> None:
    """rule() returning a truthy non-bool is an error result, not a match."""
    [result] = _results(tmp_path, "def rule(event):\n    return 'yes'\n", [event()])
    assert not result.matched and "expected bool" in (result.error or "")


def test_exception_does_not_stop_other_events_or_rules(tmp_path: Path) -> None:
    """An exception becomes an error result for that event; other events and rules still run."""
    write_rule(tmp_path, "boom", "def rule(event):\n    return 1 / event['n'] > 0\n", RuleID="Boom")
    write_rule(tmp_path, "ok", "def rule(event):\n    return True\n", RuleID="Ok")
    results = load_rules([tmp_path]).run([event(n=0), event(n=1)])
    assert [(r.rule_id, r.matched, r.error is not None) for r in results] == [
        ("Boom", False, True), ("Ok", True, False), ("Boom", True, False), ("Ok", True, False)]
    assert results[0].error is not None and results[0].error.startswith("ZeroDivisionError")


def test_rules_only_see_their_log_types(tmp_path: Path) -> None:
    """Events of other log types never reach a rule."""
    results = _results(tmp_path, "def rule(event):\n    return True\n",
                       [event(), {"p_log_type": "Other"}, {}, {"p_log_type": ["not", "a", "name"]}, event()])
    assert len(results) == 2


def test_strings_are_truncated(tmp_path: Path) -> None:
    """Titles longer than 1000 characters are cut and marked."""
    [result] = _results(tmp_path, "def rule(e):\n    return True\ndef title(e):\n    return 'x' * 5000\n", [event()])
    assert result.title is not None and len(result.title) == MAX_STRING and result.title.endswith(TRUNCATED)


def test_dedup_fallbacks(tmp_path: Path) -> None:
    """dedup falls back to the title, then to defaultDedupString:<RuleID>."""
    [with_title] = _results(tmp_path / "a", "def rule(e):\n    return True\ndef title(e):\n    return 'T'\n", [event()])
    [bare] = _results(tmp_path / "b", "def rule(e):\n    return True\n", [event()], RuleID="Bare")
    [empty] = _results(tmp_path / "c", "def rule(e):\n    return True\ndef dedup(e):\n    return ''\n", [event()],
                       RuleID="Empty")
    assert with_title.dedup == "T"
    assert bare.dedup == "defaultDedupString:Bare" and bare.title is None
    assert empty.dedup == "defaultDedupString:Empty"


def test_severity_rules(tmp_path: Path) -> None:
    """DEFAULT means the rule's severity; an unknown value falls back to it and records the error."""
    body = "def rule(e):\n    return True\ndef severity(e):\n    return e['s']\n"
    default, bogus, low = _results(tmp_path, body, [event(s="default"), event(s="urgent"), event(s="low")],
                                   Severity="High")
    assert default.severity == "HIGH" and not default.aux_errors
    assert bogus.severity == "HIGH" and "severity" in bogus.aux_errors
    assert low.severity == "LOW"


def test_alert_context_limits(tmp_path: Path) -> None:
    """alert_context must be a mapping of at most 200 KB; otherwise an _error entry replaces it."""
    body = "def rule(e):\n    return True\ndef alert_context(e):\n    return e['ctx']\n"
    big, wrong, views = _results(
        tmp_path, body, [event(ctx={"x": "y" * 300_000}), event(ctx=["list"]), event(ctx={"nested": {"a": [1]}})])
    assert "_error" in big.alert_context and "bigger than maximum" in big.alert_context["_error"]
    assert "_error" in wrong.alert_context and "alert_context" in wrong.aux_errors
    assert views.alert_context == {"nested": {"a": [1]}}


def test_destinations_capped(tmp_path: Path) -> None:
    """At most ten destinations are kept."""
    body = "def rule(e):\n    return True\ndef destinations(e):\n    return [str(i) for i in range(15)]\n"
    [result] = _results(tmp_path, body, [event()])
    assert result.destinations == [str(i) for i in range(10)]


def test_aux_error_falls_back(tmp_path: Path) -> None:
    """A failing title still yields an alert title (display name, else rule id)."""
    body = "def rule(e):\n    return True\ndef title(e):\n    raise KeyError('x')\n"
    [result] = _results(tmp_path, body, [event()], RuleID="T1", DisplayName="Nice name")
    assert result.matched and result.title == "Nice name" and "title" in result.aux_errors
