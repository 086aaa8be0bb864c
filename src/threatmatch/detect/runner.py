"""Run rules over events under Panther's rule contract.

- ``rule(event)`` must return a bool; anything else, or an exception, is an error result for that
  (rule, event) pair and the run carries on with the next one.
- Generated strings (title, dedup, description, reference, runbook) are cut to 1000 characters
  ending in ``"... (truncated)"``; ``alert_context`` must be a mapping of at most 200 KB of JSON;
  at most 10 destinations; severity is INFO/LOW/MEDIUM/HIGH/CRITICAL or DEFAULT (= the rule's).
- dedup falls back to the title, then to ``defaultDedupString:<RuleID>``.
- In batch mode an auxiliary function that fails falls back to its default (the error is kept in
  ``aux_errors``); in test mode the same failure fails the test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from threatmatch.detect.event import ImmutableDict, ImmutableList, LookupFn, PantherEvent
from threatmatch.detect.rule import SEVERITY_DEFAULT, SEVERITY_ORDER
from threatmatch.detect.ruleset import LoadedRule, RuleSet

MAX_STRING = 1000
MAX_ALERT_CONTEXT_BYTES = 200 * 1024
MAX_DESTINATIONS = 10
TRUNCATED = "... (truncated)"
ALERT_CONTEXT_ERROR_KEY = "_error"


@dataclass(slots=True)
class RuleResult:
    """What one rule said about one event."""

    rule_id: str
    event: dict[str, Any]
    matched: bool = False
    error: str | None = None
    title: str | None = None
    dedup: str | None = None
    severity: str | None = None
    alert_context: dict[str, Any] | None = None
    description: str | None = None
    reference: str | None = None
    runbook: str | None = None
    destinations: list[str] | None = None
    aux_errors: dict[str, str] = field(default_factory=dict)
    #: How many (rule, event) evaluations this result stands for: more than 1 only for a rule error that also
    #: counts later errors of the same kind whose events were not kept (``alerts.collapse_errors``).
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the event)."""
        return {
            "rule_id": self.rule_id,
            "matched": self.matched,
            "error": self.error,
            "title": self.title,
            "dedup": self.dedup,
            "severity": self.severity,
            "alert_context": self.alert_context,
            "aux_errors": dict(self.aux_errors),
            "count": self.count,
            "p_row_id": self.event.get("p_row_id"),
        }


def describe(exc: BaseException) -> str:
    """``ExceptionType: message`` for an error result."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def truncate(value: str, limit: int = MAX_STRING) -> str:
    """Cut ``value`` to ``limit`` characters, marking the cut."""
    if len(value) <= limit:
        return value
    return value[: limit - len(TRUNCATED)] + TRUNCATED


def _json_default(value: Any) -> Any:
    if isinstance(value, ImmutableDict):
        return dict(value.raw_view())
    if isinstance(value, ImmutableList):
        return list(value._data)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> bytes:
    """Serialise rule output (event views, sets and tuples allowed); TypeError for anything else."""
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def _call(rule: LoadedRule, name: str, event: PantherEvent) -> Any:
    return rule.function(name)(event)


def _string(rule: LoadedRule, name: str, event: PantherEvent, result: RuleResult) -> str | None:
    """Run a string-returning aux function; None when it fails (the error is recorded)."""
    try:
        value = _call(rule, name, event)
        if not isinstance(value, str):
            raise TypeError(f"{name}() returned {type(value).__name__}, expected str")
    except Exception as exc:
        result.aux_errors[name] = describe(exc)
        return None
    return truncate(value)


def _severity(rule: LoadedRule, event: PantherEvent, result: RuleResult) -> str:
    try:
        value = _call(rule, "severity", event)
        if not isinstance(value, str):
            raise TypeError(f"severity() returned {type(value).__name__}, expected str")
        upper = str(value).upper()
        if upper == SEVERITY_DEFAULT:
            return rule.severity
        if upper not in SEVERITY_ORDER:
            raise ValueError(f"severity() returned {value!r}, expected one of {', '.join(SEVERITY_ORDER)} or DEFAULT")
    except Exception as exc:
        result.aux_errors["severity"] = describe(exc)
        return rule.severity
    return upper


def _alert_context(rule: LoadedRule, event: PantherEvent, result: RuleResult) -> dict[str, Any]:
    try:
        value = _call(rule, "alert_context", event)
        if not isinstance(value, Mapping):
            raise TypeError(f"alert_context() returned {type(value).__name__}, expected a mapping")
        encoded = to_json(value)
    except Exception as exc:
        result.aux_errors["alert_context"] = describe(exc)
        return {ALERT_CONTEXT_ERROR_KEY: describe(exc)}
    if len(encoded) > MAX_ALERT_CONTEXT_BYTES:
        return {
            ALERT_CONTEXT_ERROR_KEY: f"alert_context size is [{len(encoded)}] characters, "
            f"bigger than maximum of [{MAX_ALERT_CONTEXT_BYTES}] characters"
        }
    decoded: dict[str, Any] = orjson.loads(encoded)
    return decoded


def _destinations(rule: LoadedRule, event: PantherEvent, result: RuleResult) -> list[str] | None:
    default = list(rule.destinations) if rule.destinations is not None else None
    try:
        value = _call(rule, "destinations", event)
        if value is None:
            return default
        if not isinstance(value, (list, tuple, ImmutableList)) or not all(isinstance(x, str) for x in value):
            raise TypeError(f"destinations() returned {type(value).__name__}, expected a list of strings")
    except Exception as exc:
        result.aux_errors["destinations"] = describe(exc)
        return default
    return list(value)[:MAX_DESTINATIONS]


def run_rule(rule: LoadedRule, event: PantherEvent) -> RuleResult:
    """Evaluate ``rule`` on ``event``; the aux functions run only when it matched. Never raises."""
    try:
        outcome = rule.function("rule")(event)
    except Exception as exc:
        return RuleResult(rule.id, event._data, error=describe(exc))  # type: ignore[arg-type]
    if outcome is False:
        return RuleResult(rule.id, event._data)  # type: ignore[arg-type]
    return _decided(rule, event, outcome)


def _decided(rule: LoadedRule, event: PantherEvent, outcome: Any) -> RuleResult:
    """The result for a ``rule()`` that returned ``outcome`` (anything but False): a match or a type error."""
    if outcome is not True:
        error = f"FunctionReturnTypeError: rule() returned {type(outcome).__name__}, expected bool"
        return RuleResult(rule.id, event._data, error=error)  # type: ignore[arg-type]
    result = RuleResult(rule.id, event._data, matched=True)  # type: ignore[arg-type]
    _fill_outputs(rule, event, result)
    return result


def _fill_outputs(rule: LoadedRule, event: PantherEvent, result: RuleResult) -> None:
    defined = rule.defined
    title = _string(rule, "title", event, result) if "title" in defined else None
    if title is None and "title" in result.aux_errors:
        title = rule.display_name or rule.id
    result.title = title
    result.description = _maybe(rule, "description", event, result, rule.description)
    result.reference = _maybe(rule, "reference", event, result, rule.reference)
    result.runbook = _maybe(rule, "runbook", event, result, rule.runbook)
    result.severity = _severity(rule, event, result) if "severity" in defined else rule.severity
    if "destinations" in defined:
        result.destinations = _destinations(rule, event, result)
    else:
        result.destinations = list(rule.destinations) if rule.destinations is not None else None
    dedup = _string(rule, "dedup", event, result) if "dedup" in defined else None
    result.dedup = dedup or title or f"defaultDedupString:{rule.id}"
    if "alert_context" in defined:
        result.alert_context = _alert_context(rule, event, result)


def _maybe(rule: LoadedRule, name: str, event: PantherEvent, result: RuleResult, default: str) -> str:
    if name not in rule.defined:
        return default
    value = _string(rule, name, event, result)
    return default if value is None else value


def _rule_function(rule: LoadedRule) -> Callable[[PantherEvent], Any]:
    """The rule's ``rule()``; when it cannot be looked up, a function failing the same way on each event."""
    try:
        function: Callable[[PantherEvent], Any] = rule.function("rule")
    except Exception:
        return lambda event: rule.function("rule")(event)
    return function


def run_rules(
    ruleset: RuleSet,
    events: list[dict[str, Any]],
    *,
    lookup: LookupFn | None = None,
    keep: Callable[[RuleResult], bool] | None = None,
) -> list[RuleResult]:
    """Run each event through the enabled rules for its ``p_log_type``; returns matches and errors only."""
    results: list[RuleResult] = []
    models = ruleset.datamodels
    # per log type, its data model and (rule, its rule() function) pairs, looked up once per call: a clean
    # non-match, the common case, then costs one call and one identity test
    plans: dict[str | None, tuple[Any, list[tuple[LoadedRule, Callable[[PantherEvent], Any]]]]] = {}
    for raw in events:
        log_type = raw.get("p_log_type")
        key = log_type if log_type.__class__ is str else None
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = (models.for_log_type(key),
                                 [(rule, _rule_function(rule)) for rule in ruleset.for_log_type(key)])
        model, pairs = plan
        if not pairs:
            continue
        event = PantherEvent(raw, model, lookup)
        for rule, function in pairs:
            try:
                outcome = function(event)
            except Exception as exc:
                result = RuleResult(rule.id, raw, error=describe(exc))
            else:
                if outcome is False:
                    continue
                result = _decided(rule, event, outcome)
            if keep is None or keep(result):
                results.append(result)
    return results
