"""Run rules' own tests, as ``panther_analysis_tool test`` does.

Each test event is wrapped like a live event (with the data model of its ``p_log_type``), the
test's mocks replace module globals of the rule (else attributes of the rule object) for the
duration of the test with ``unittest.mock.MagicMock`` objects (rules written for Panther test for
that type), the rule runs in test mode (an auxiliary-function failure fails the test),
and ``rule()``'s bool is compared with ``ExpectedResult`` plus any expected title/dedup/... values.
Lookups answer from the event's ``_mocked_lookup_data_``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import MagicMock

import orjson

from threatmatch.detect.event import PantherEvent
from threatmatch.detect.rule import RuleMock, RuleTest
from threatmatch.detect.ruleset import LoadedRule, RuleSet
from threatmatch.detect.runner import RuleResult, run_rule

_MISSING = object()


@contextmanager
def applied_mocks(rule: LoadedRule, mocks: Iterable[RuleMock]) -> Iterator[None]:
    """Replace each mocked name on the rule's module (or, failing that, the rule object); restore after."""
    undo: list[tuple[Any, str, Any]] = []
    try:
        for mock in mocks:
            replacement = mock.new
            if replacement is None:
                replacement = MagicMock(return_value=mock.return_value, side_effect=mock.side_effect)
            holder = _holder(rule, mock.object_name)
            previous = holder.__dict__.get(mock.object_name, _MISSING) if hasattr(holder, "__dict__") else _MISSING
            setattr(holder, mock.object_name, replacement)
            undo.append((holder, mock.object_name, previous))
        yield
    finally:
        for holder, name, previous in reversed(undo):
            if previous is _MISSING:
                delattr(holder, name)
            else:
                setattr(holder, name, previous)


def _holder(rule: LoadedRule, name: str) -> Any:
    if rule.module is not None and hasattr(rule.module, name):
        return rule.module
    if rule.kind == "class" and hasattr(rule.target, name):
        return rule.target
    raise AttributeError(f"mock target {name!r} is neither a global of the rule's module nor an attribute of the rule")


@dataclass
class TestOutcome:
    """The verdict on one rule test."""

    __test__ = False  # not a pytest test class

    rule_id: str
    test_name: str
    passed: bool
    reason: str = ""
    result: RuleResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"rule_id": self.rule_id, "test": self.test_name, "passed": self.passed, "reason": self.reason}


def run_test(rule: LoadedRule, test: RuleTest, ruleset: RuleSet | None = None) -> TestOutcome:
    """Run one test of ``rule``; never raises."""
    try:
        log = test.log_data()
    except (ValueError, orjson.JSONDecodeError) as exc:
        return TestOutcome(rule.id, test.name, False, f"Log is not a JSON object: {exc}")
    model = ruleset.datamodels.for_log_type(log.get("p_log_type")) if ruleset is not None else None
    event = PantherEvent(log, model)
    try:
        with applied_mocks(rule, test.mocks):
            result = run_rule(rule, event)
    except AttributeError as exc:
        return TestOutcome(rule.id, test.name, False, f"mock failed: {exc}")
    return TestOutcome(rule.id, test.name, *_verdict(test, result), result=result)


def _verdict(test: RuleTest, result: RuleResult) -> tuple[bool, str]:
    if result.error is not None:
        return False, f"rule() raised {result.error}"
    if result.matched != test.expected_result:
        return False, f"expected rule() to return {test.expected_result}, got {result.matched}"
    if result.aux_errors:
        name, message = next(iter(result.aux_errors.items()))
        return False, f"{name}() failed: {message}"
    for label, expected, actual in (
        ("severity", test.expected_severity, result.severity),
        ("title", test.expected_title, result.title),
        ("dedup", test.expected_dedup, result.dedup),
        ("runbook", test.expected_runbook, result.runbook),
        ("reference", test.expected_reference, result.reference),
        ("description", test.expected_description, result.description),
        ("alert_context", test.expected_alert_context, result.alert_context),
    ):
        if expected is None:
            continue
        same = str(expected) == str(actual) if label == "severity" else expected == actual
        if not same:
            return False, f"expected {label} {expected!r}, got {actual!r}"
    return True, ""


def run_tests(ruleset: RuleSet, rule_ids: Iterable[str] | None = None) -> list[TestOutcome]:
    """Run every inline test of every rule (or of ``rule_ids``), in load order."""
    wanted = set(rule_ids) if rule_ids is not None else None
    outcomes: list[TestOutcome] = []
    for rule in ruleset:
        if wanted is not None and rule.id not in wanted:
            continue
        for test in rule.tests:
            outcomes.append(run_test(rule, test, ruleset))
    return outcomes
