"""Adapt rule and data-model classes (ours, or pypanther-shaped ones) into ``LoadedRule`` / ``DataModel``.

Only attributes and methods are read, so a class written against pypanther's ``Rule`` base runs the
same way as one written against ours: ``id``, ``log_types``, ``default_severity``, ``enabled``,
``dedup_period_minutes``, ``threshold``, ``display_name``, ``default_*``, ``tags``, ``reports``,
``tests`` (or ``_tests``, where pypanther's ``panther_managed`` parks them) and the methods
``rule``, ``title``, ``dedup``, ``severity``, ``alert_context``, ``description``, ``reference``,
``runbook``, ``destinations``.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any

from threatmatch.detect.datamodel import DataModel, datamodel_from_mappings
from threatmatch.detect.rule import SEVERITY_ORDER, Rule, RuleMock, RuleTest
from threatmatch.detect.ruleset import AUX_FUNCTIONS, LoadedRule
from threatmatch.errors import RuleError


def _text(value: Any) -> str:
    """Enum members by value (``LogType.OKTA_SYSTEM_LOG`` -> ``Okta.SystemLog``), other values as str."""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def looks_like_rule_class(obj: Any) -> bool:
    """A concrete rule class: ours, or any class with ``id``, ``log_types`` and a ``rule`` method."""
    if not isinstance(obj, type):
        return False
    if issubclass(obj, Rule):
        return obj is not Rule and isinstance(obj.__dict__.get("id", getattr(obj, "id", None)), str)
    return (
        isinstance(getattr(obj, "id", None), str)
        and callable(getattr(obj, "rule", None))
        and isinstance(getattr(obj, "log_types", None), (list, tuple))
        and hasattr(obj, "default_severity")
    )


def looks_like_datamodel_class(obj: Any) -> bool:
    """A data-model class: ``id``, ``log_types`` and a list of ``mappings`` (name + path or method)."""
    return (
        isinstance(obj, type)
        and isinstance(getattr(obj, "id", None), str)
        and isinstance(getattr(obj, "log_types", None), (list, tuple))
        and isinstance(getattr(obj, "mappings", None), (list, tuple))
    )


def adapt_test(test: Any) -> RuleTest:
    """Our RuleTest from any object with pypanther's RuleTest attributes."""
    if isinstance(test, RuleTest):
        return test
    mocks = [
        RuleMock(
            object_name=m.object_name,
            return_value=getattr(m, "return_value", None),
            side_effect=getattr(m, "side_effect", None),
            new=getattr(m, "new", None),
        )
        for m in getattr(test, "mocks", None) or []
    ]
    expected = {
        name: getattr(test, name, None)
        for name in (
            "expected_severity", "expected_title", "expected_dedup", "expected_runbook",
            "expected_reference", "expected_description", "expected_alert_context",
        )
    }
    if expected["expected_severity"] is not None:
        expected["expected_severity"] = _text(expected["expected_severity"])
    return RuleTest(name=test.name, expected_result=test.expected_result, log=test.log, mocks=mocks, **expected)


def adapt_rule_class(cls: type, source: str) -> LoadedRule:
    """Instantiate a rule class and describe it as a LoadedRule; RuleError when its metadata is unusable."""
    where = f"{source}: class {cls.__name__}"
    rule_id = getattr(cls, "id", None)
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise RuleError(f"{where}: set a non-empty string `id`")
    log_types = getattr(cls, "log_types", None)
    if not isinstance(log_types, (list, tuple)) or not log_types:
        raise RuleError(f"{where}: `log_types` must be a non-empty list of log type names")
    severity = _text(getattr(cls, "default_severity", "")).upper()
    if severity not in SEVERITY_ORDER:
        raise RuleError(f"{where}: `default_severity` must be one of {', '.join(SEVERITY_ORDER)}, got {severity!r}")
    try:
        instance = cls()
    except Exception as exc:
        raise RuleError(f"{where}: could not be instantiated: {type(exc).__name__}: {exc}") from exc
    tests = [adapt_test(t) for t in (getattr(cls, "tests", None) or []) + (getattr(cls, "_tests", None) or [])]
    destinations = getattr(cls, "default_destinations", None)
    return LoadedRule(
        id=rule_id.strip(),
        log_types=tuple(_text(x) for x in log_types),
        severity=severity,
        target=instance,
        defined=frozenset(n for n in AUX_FUNCTIONS if callable(getattr(instance, n, None))),
        source=source,
        kind="class",
        enabled=bool(getattr(cls, "enabled", True)),
        dedup_period_minutes=int(getattr(cls, "dedup_period_minutes", 60)),
        threshold=int(getattr(cls, "threshold", 1)),
        display_name=str(getattr(cls, "display_name", "") or ""),
        description=str(getattr(cls, "default_description", "") or ""),
        runbook=str(getattr(cls, "default_runbook", "") or ""),
        reference=str(getattr(cls, "default_reference", "") or ""),
        destinations=tuple(destinations) if destinations is not None else None,
        tags=tuple(getattr(cls, "tags", ()) or ()),
        reports=dict(getattr(cls, "reports", {}) or {}),
        summary_attributes=tuple(getattr(cls, "summary_attributes", ()) or ()),
        create_alert=bool(getattr(cls, "create_alert", True)),
        tests=tuple(tests),
        module=sys.modules.get(cls.__module__),
    )


def adapt_datamodel_class(cls: type) -> DataModel:
    """Our DataModel from a pypanther-shaped data-model class (``id``, ``log_types``, ``mappings``)."""
    mappings = [
        (m.name, getattr(m, "path", None), getattr(m, "method", None)) for m in getattr(cls, "mappings", [])
    ]
    return datamodel_from_mappings(
        str(getattr(cls, "id", cls.__name__)),
        [_text(x) for x in getattr(cls, "log_types", [])],
        mappings,
        enabled=bool(getattr(cls, "enabled", True)),
        source=f"{cls.__module__}.{cls.__name__}",
    )
