"""Panther-compatible detections over enriched events: rules, their tests, and alerts."""

from __future__ import annotations

from threatmatch.detect.alerts import AlertManager
from threatmatch.detect.event import ImmutableDict, ImmutableList, LookupFn, PantherEvent
from threatmatch.detect.loader import load_rules
from threatmatch.detect.packs import builtin_rules_dir
from threatmatch.detect.pipeline import run_detections
from threatmatch.detect.rule import Rule, RuleMock, RuleTest, Severity
from threatmatch.detect.ruleset import LoadedRule, RuleSet
from threatmatch.detect.runner import RuleResult, run_rule
from threatmatch.detect.testing import TestOutcome, run_tests

__all__ = [
    "AlertManager",
    "ImmutableDict",
    "ImmutableList",
    "LoadedRule",
    "LookupFn",
    "PantherEvent",
    "Rule",
    "RuleMock",
    "RuleResult",
    "RuleSet",
    "RuleTest",
    "Severity",
    "TestOutcome",
    "builtin_rules_dir",
    "load_rules",
    "run_detections",
    "run_rule",
    "run_tests",
]
