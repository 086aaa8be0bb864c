"""Loaded rules in one shape, whichever way they were written (YAML + module, or a Rule class).

A ``LoadedRule`` keeps the rule's metadata and the object its functions live on (``target``: the
rule module for YAML rules, the rule instance for classes). Functions are looked up by name at call
time so test mocks that replace a module global or an instance attribute take effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from threatmatch.detect.datamodel import DataModels
from threatmatch.detect.rule import RuleTest
from threatmatch.errors import RuleError

ANY_LOG_TYPE = "*"
"""A threatmatch extension: a rule listing ``"*"`` in its log types runs on events of every log type."""

AUX_FUNCTIONS = ("title", "dedup", "severity", "alert_context", "description", "reference", "runbook", "destinations")


@dataclass(eq=False)
class LoadedRule:
    """One rule ready to run: metadata, the object holding its functions, and its inline tests."""

    id: str
    log_types: tuple[str, ...]
    severity: str
    target: Any
    defined: frozenset[str]
    source: str
    kind: str = "yaml"
    enabled: bool = True
    dedup_period_minutes: int = 60
    threshold: int = 1
    display_name: str = ""
    description: str = ""
    runbook: str = ""
    reference: str = ""
    destinations: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    reports: Mapping[str, list[str]] = field(default_factory=dict)
    summary_attributes: tuple[str, ...] = ()
    create_alert: bool = True
    tests: tuple[RuleTest, ...] = ()
    module: ModuleType | None = None

    def function(self, name: str) -> Any:
        """The callable named ``name`` on the rule's target (looked up now, so mocks apply)."""
        return getattr(self.target, name)

    def summary(self) -> dict[str, Any]:
        """Metadata for listings and the console."""
        return {
            "id": self.id,
            "kind": self.kind,
            "enabled": self.enabled,
            "severity": self.severity,
            "log_types": list(self.log_types),
            "dedup_period_minutes": self.dedup_period_minutes,
            "threshold": self.threshold,
            "tags": list(self.tags),
            "tests": len(self.tests),
            "display_name": self.display_name,
            "source": self.source,
        }


@dataclass
class LoadIssue:
    """A file that could not be loaded (or was skipped), with the reason."""

    path: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RuleSet:
    """The rules and data models loaded from one or more directories."""

    def __init__(
        self,
        rules: Iterable[LoadedRule] = (),
        datamodels: DataModels | None = None,
        issues: Iterable[LoadIssue] = (),
    ) -> None:
        self.datamodels = datamodels or DataModels()
        self.issues: list[LoadIssue] = list(issues)
        self._rules: dict[str, LoadedRule] = {}
        self._by_log_type: dict[str, list[LoadedRule]] = {}
        self._wildcard: list[LoadedRule] = []
        self._resolved: dict[str, list[LoadedRule]] = {}
        for rule in rules:
            self.add(rule)

    def add(self, rule: LoadedRule) -> None:
        """Register ``rule``; a second rule with the same id is an error naming both files."""
        existing = self._rules.get(rule.id)
        if existing is not None:
            raise RuleError(
                f"duplicate rule id {rule.id!r}: defined in {existing.source} and in {rule.source}; "
                "rename one of them (RuleID / id)"
            )
        self._rules[rule.id] = rule
        self._resolved.clear()
        if rule.enabled:
            if ANY_LOG_TYPE in rule.log_types:
                self._wildcard.append(rule)
            for log_type in rule.log_types:
                if log_type != ANY_LOG_TYPE:
                    self._by_log_type.setdefault(log_type, []).append(rule)

    def __iter__(self) -> Iterator[LoadedRule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, rule_id: str) -> LoadedRule | None:
        """The rule with ``rule_id``, if loaded."""
        return self._rules.get(rule_id)

    def for_log_type(self, log_type: Any) -> list[LoadedRule]:
        """Enabled rules that apply to ``log_type`` (its own, then the ``"*"`` rules), in load order."""
        if not isinstance(log_type, str):
            return []
        found = self._resolved.get(log_type)
        if found is None:
            specific = self._by_log_type.get(log_type, [])
            found = [r for r in self._rules.values() if r in specific or r in self._wildcard]
            self._resolved[log_type] = found
        return found

    @property
    def fatal_issues(self) -> list[LoadIssue]:
        """Load problems that mean a rule or model is missing."""
        return [issue for issue in self.issues if issue.fatal]

    def run(self, events: list[dict[str, Any]], *, lookup: Any = None) -> list[Any]:
        """Run every applicable enabled rule over ``events``; returns the matches and errors (``RuleResult``)."""
        from threatmatch.detect.runner import run_rules

        return run_rules(self, events, lookup=lookup)
