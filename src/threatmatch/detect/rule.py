"""The pypanther-shaped rule class, its inline tests and mocks.

Write a rule as a class: metadata in class attributes, behaviour in methods whose defaults chain
(``dedup`` -> ``title`` -> ``display_name`` or ``id``; ``severity`` -> ``default_severity``)::

    class AnomaliC2(Rule):
        id = "Example.C2"
        log_types = ["Zeek.DNS"]
        default_severity = Severity.HIGH

        def rule(self, event):
            return bool(event.deep_get("p_enrichment"))

        tests = [RuleTest(name="hit", expected_result=True, log={...})]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import orjson


class Severity(StrEnum):
    """Alert severities, lowest first."""

    INFO = "INFO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    def __str__(self) -> str:
        return self.value

    @staticmethod
    def rank(value: str) -> int:
        """0 for INFO up to 4 for CRITICAL; -1 for anything else."""
        try:
            return SEVERITY_ORDER.index(value.upper())
        except ValueError:
            return -1


SEVERITY_ORDER = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SEVERITY_DEFAULT = "DEFAULT"


@dataclass
class RuleMock:
    """Replace ``object_name`` (a module global of the rule, else an attribute of the rule) during one test.

    The replacement is a callable returning ``return_value``; ``side_effect`` (an exception, an
    iterable of results, or a function) takes precedence; ``new`` replaces the object outright.
    """

    object_name: str
    return_value: Any = None
    side_effect: Any = None
    new: Any = None


@dataclass
class RuleTest:
    """One inline test: an event (``log``), the expected ``rule()`` result and optional expected outputs."""

    name: str
    expected_result: bool
    log: dict[str, Any] | str
    mocks: list[RuleMock] = field(default_factory=list)
    expected_severity: str | None = None
    expected_title: str | None = None
    expected_dedup: str | None = None
    expected_runbook: str | None = None
    expected_reference: str | None = None
    expected_description: str | None = None
    expected_alert_context: dict[str, Any] | None = None

    def log_data(self) -> dict[str, Any]:
        """The test event as a dict (a JSON string is decoded)."""
        if isinstance(self.log, str):
            decoded = orjson.loads(self.log)
            if not isinstance(decoded, dict):
                raise ValueError(f"test {self.name!r}: Log must be a JSON object")
            return decoded
        return self.log


_COPIED_ATTRS = ("log_types", "tags", "reports", "summary_attributes", "tests", "default_destinations")


class Rule:
    """Base class for rules written as classes (pypanther-compatible attribute and method names)."""

    id: ClassVar[str]
    log_types: ClassVar[list[str]]
    default_severity: ClassVar[Severity | str]
    enabled: ClassVar[bool] = True
    create_alert: ClassVar[bool] = True
    dedup_period_minutes: ClassVar[int] = 60
    threshold: ClassVar[int] = 1
    display_name: ClassVar[str] = ""
    tags: ClassVar[list[str]] = []
    reports: ClassVar[dict[str, list[str]]] = {}
    summary_attributes: ClassVar[list[str]] = []
    tests: ClassVar[list[RuleTest]] = []
    default_description: ClassVar[str] = ""
    default_runbook: ClassVar[str] = ""
    default_reference: ClassVar[str] = ""
    default_destinations: ClassVar[list[str] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each subclass its own copies of mutable defaults, so one rule's edits never leak to another."""
        super().__init_subclass__(**kwargs)
        for attr in _COPIED_ATTRS:
            if attr not in cls.__dict__ and hasattr(cls, attr):
                setattr(cls, attr, copy.copy(getattr(cls, attr)))

    def rule(self, event: Any) -> bool:
        """True when ``event`` should raise an alert. Every rule must override this."""
        raise NotImplementedError(f"rule {type(self).__name__} does not implement rule(event)")

    def severity(self, event: Any) -> str:
        """The alert severity for this event (default: ``default_severity``)."""
        return str(self.default_severity)

    def title(self, event: Any) -> str:
        """The alert title (default: ``display_name``, else ``id``)."""
        return self.display_name or self.id

    def dedup(self, event: Any) -> str:
        """Events with the same dedup string in one dedup period join one alert (default: the title)."""
        return self.title(event)

    def destinations(self, event: Any) -> list[str] | None:
        """Where the alert goes (default: ``default_destinations``)."""
        return self.default_destinations

    def runbook(self, event: Any) -> str:
        """What the responder should do (default: ``default_runbook``)."""
        return self.default_runbook

    def reference(self, event: Any) -> str:
        """Background link (default: ``default_reference``)."""
        return self.default_reference

    def description(self, event: Any) -> str:
        """What the rule detects (default: ``default_description``)."""
        return self.default_description

    def alert_context(self, event: Any) -> dict[str, Any]:
        """Extra key/values attached to the alert (default: none)."""
        return {}
