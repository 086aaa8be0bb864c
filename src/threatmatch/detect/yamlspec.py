"""Validate panther-analysis YAML specs (rules and data models); errors name the field path.

Only the fields we act on are type-checked; other keys panther_analysis_tool accepts are allowed,
and keys nobody knows produce a warning (likely a typo). Accepted keys that would change what a rule alerts
on in Panther but are not applied here (``NOT_APPLIED``: InlineFilters, DynamicSeverities...) produce a
warning too, saying what decides instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from threatmatch.detect.rule import SEVERITY_ORDER, RuleMock, RuleTest

RULE_KEYS = frozenset(
    {
        "AnalysisType", "Enabled", "Filename", "RuleID", "LogTypes", "Severity", "Description", "DisplayName",
        "DedupPeriodMinutes", "Threshold", "Tags", "Reports", "Reference", "Runbook", "SummaryAttributes",
        "OutputIds", "CreateAlert", "Tests", "InlineFilters", "DynamicSeverities", "AlertTitle", "AlertContext",
        "GroupBy", "Status", "OnlyUseBaseRiskScore", "Detection", "BaseVersion", "Suppressions", "ScheduledQueries",
    }
)
# Keys that change what a rule alerts on in Panther, which threatmatch accepts but does not apply: a rule using
# one runs differently here, so loading it says so (and what to write instead) rather than ignoring it silently.
NOT_APPLIED = {
    "InlineFilters": "rule() sees every event of the rule's log types; test the same conditions at its start",
    "DynamicSeverities": "alerts get Severity, or what the module's severity() returns",
    "AlertTitle": "the title comes from the module's title() (else the rule's name)",
    "AlertContext": "the context comes from the module's alert_context()",
    "GroupBy": "alerts are grouped by the module's dedup() (else the title)",
}
DATAMODEL_KEYS = frozenset(
    {"AnalysisType", "DataModelID", "DisplayName", "Enabled", "Filename", "LogTypes", "Mappings"}
)


class SpecErrors(Exception):
    """Every problem found in one spec file (``path: message`` strings)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class RuleSpec:
    """A validated rule YAML."""

    rule_id: str
    filename: str
    log_types: list[str]
    severity: str
    enabled: bool
    dedup_period_minutes: int = 60
    threshold: int = 1
    display_name: str = ""
    description: str = ""
    runbook: str = ""
    reference: str = ""
    tags: list[str] = field(default_factory=list)
    reports: dict[str, list[str]] = field(default_factory=dict)
    summary_attributes: list[str] = field(default_factory=list)
    destinations: list[str] | None = None
    create_alert: bool = True
    tests: list[RuleTest] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Check:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.problems: list[str] = []

    def get(
        self, key: str, kind: Callable[[Any], bool], expect: str, *, required: bool = False, default: Any = None
    ) -> Any:
        if key not in self.doc or self.doc[key] is None:
            if required:
                self.problems.append(f"{key}: required field is missing")
            return default
        value = self.doc[key]
        if not kind(value):
            self.problems.append(f"{key}: expected {expect}, got {type(value).__name__} {value!r}"[:300])
            return default
        return value


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_int(minimum: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _is_reports(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(x, list) and all(isinstance(i, (str, int, float)) for i in x)
        for k, x in v.items()
    )


def unknown_keys(doc: dict[str, Any], known: frozenset[str]) -> list[str]:
    """Warnings for keys no spec defines, suggesting the right case when that is the slip."""
    folded = {k.lower(): k for k in known}
    warnings = []
    for key in doc:
        if key not in known:
            hint = f" (did you mean {folded[str(key).lower()]}?)" if str(key).lower() in folded else ""
            warnings.append(f"{key}: unknown field, ignored{hint}")
    return warnings


def not_applied(doc: dict[str, Any]) -> list[str]:
    """Warnings for the keys of ``NOT_APPLIED`` a rule sets (an empty value changes nothing: no warning)."""
    return [f"{key}: not applied by threatmatch: {why}" for key, why in NOT_APPLIED.items()
            if doc.get(key) not in (None, [], {}, "")]


def parse_rule(doc: dict[str, Any]) -> RuleSpec:
    """Validate a rule YAML document; raises SpecErrors listing every problem."""
    check = _Check(doc)
    rule_id = check.get("RuleID", lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string", required=True)
    if "Detection" in doc and "Filename" not in doc:
        check.problems.append("Detection: simple detections are not supported; put the logic in a Filename .py module")
    filename = check.get("Filename", _is_str, "a .py file name", required="Detection" not in doc)
    log_types = check.get("LogTypes", lambda v: _is_str_list(v) and bool(v), "a non-empty list of log type names",
                          required=True)
    severity = check.get("Severity", lambda v: isinstance(v, str) and v.upper() in SEVERITY_ORDER,
                         "one of Info, Low, Medium, High, Critical", required=True)
    enabled = check.get("Enabled", _is_bool, "true or false", required=True)
    spec_kwargs = {
        "dedup_period_minutes": check.get("DedupPeriodMinutes", _is_int(0), "an integer >= 0", default=60),
        "threshold": check.get("Threshold", _is_int(1), "an integer >= 1", default=1),
        "display_name": check.get("DisplayName", _is_str, "a string", default=""),
        "description": check.get("Description", _is_str, "a string", default=""),
        "runbook": check.get("Runbook", _is_str, "a string", default=""),
        "reference": check.get("Reference", _is_str, "a string", default=""),
        "tags": check.get("Tags", _is_str_list, "a list of strings", default=[]),
        "reports": {
            k: [str(i) for i in x]
            for k, x in check.get("Reports", _is_reports, "a mapping of framework to a list of ids", default={}).items()
        },
        "summary_attributes": check.get("SummaryAttributes", _is_str_list, "a list of strings", default=[]),
        "destinations": check.get("OutputIds", _is_str_list, "a list of strings", default=None),
        "create_alert": check.get("CreateAlert", _is_bool, "true or false", default=True),
    }
    tests = _parse_tests(doc.get("Tests"), check.problems)
    if check.problems:
        raise SpecErrors(check.problems)
    return RuleSpec(
        rule_id=rule_id.strip(), filename=filename or "", log_types=list(log_types), severity=severity.upper(),
        enabled=enabled, tests=tests, warnings=unknown_keys(doc, RULE_KEYS) + not_applied(doc), **spec_kwargs,
    )


def _parse_tests(raw: Any, problems: list[str]) -> list[RuleTest]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"Tests: expected a list of tests, got {type(raw).__name__}")
        return []
    tests = []
    for i, item in enumerate(raw):
        where = f"Tests[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with Name, ExpectedResult and Log")
            continue
        name: Any = item.get("Name")
        expected: Any = item.get("ExpectedResult")
        log: Any = item.get("Log")
        before = len(problems)
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.Name: expected a non-empty string")
        if not isinstance(expected, bool):
            problems.append(f"{where}.ExpectedResult: expected true or false, got {expected!r}"[:200])
        if not isinstance(log, (dict, str)):
            problems.append(f"{where}.Log: expected a mapping (or a JSON string), got {type(log).__name__}")
        mocks = _parse_mocks(item.get("Mocks"), f"{where}.Mocks", problems)
        if len(problems) == before:
            tests.append(RuleTest(name=name, expected_result=expected, log=log, mocks=mocks))
    return tests


def _parse_mocks(raw: Any, where: str, problems: list[str]) -> list[RuleMock]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{where}: expected a list of {{objectName, returnValue}}")
        return []
    mocks = []
    for j, mock in enumerate(raw):
        if not isinstance(mock, dict) or not isinstance(mock.get("objectName"), str):
            problems.append(f"{where}[{j}].objectName: expected a string naming the object to mock")
            continue
        mocks.append(RuleMock(object_name=mock["objectName"], return_value=mock.get("returnValue")))
    return mocks


@dataclass
class DataModelSpec:
    """A validated data-model YAML."""

    model_id: str
    log_types: list[str]
    enabled: bool
    filename: str | None
    mappings: list[tuple[str, str | None, str | None]]
    warnings: list[str] = field(default_factory=list)


def parse_datamodel(doc: dict[str, Any]) -> DataModelSpec:
    """Validate a datamodel YAML document; raises SpecErrors listing every problem."""
    check = _Check(doc)
    model_id = check.get("DataModelID", lambda v: isinstance(v, str) and bool(v), "a non-empty string", required=True)
    log_types = check.get("LogTypes", lambda v: _is_str_list(v) and bool(v), "a non-empty list of log type names",
                          required=True)
    enabled = check.get("Enabled", _is_bool, "true or false", required=True)
    filename = check.get("Filename", _is_str, "a .py file name")
    raw = check.get("Mappings", lambda v: isinstance(v, list), "a list of {Name, Path | Method}", required=True,
                    default=[])
    mappings: list[tuple[str, str | None, str | None]] = []
    for i, item in enumerate(raw):
        where = f"Mappings[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            check.problems.append(f"{where}.Name: expected a string")
            continue
        path, method = item.get("Path"), item.get("Method")
        if (path is None) == (method is None) or not isinstance(path or method, str):
            check.problems.append(f"{where}: needs exactly one of Path (a JSON path) or Method (a function name)")
            continue
        if method is not None and not filename:
            check.problems.append(f"{where}.Method: a Method mapping needs the model's Filename module")
            continue
        mappings.append((item["Name"], path, method))
    if check.problems:
        raise SpecErrors(check.problems)
    return DataModelSpec(model_id, list(log_types), enabled, filename, mappings, unknown_keys(doc, DATAMODEL_KEYS))
