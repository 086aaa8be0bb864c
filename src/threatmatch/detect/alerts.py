"""Turn rule matches into alerts: dedup by (rule id, dedup string) within DedupPeriodMinutes, honour Threshold.

Pure: the caller passes ``now``. A group opens with its first match; the dedup window runs
``DedupPeriodMinutes`` from that moment. The alert is raised once the group holds ``Threshold``
matches; later matches inside the window update it (event count, last event time, samples).
After the window closes the next match opens a new group (and, past the threshold, a new alert).

Rule errors (``rule()`` raised, or returned something other than a bool) become alerts of their own, as in
Panther: ``alert_type`` ``RULE_ERROR`` (a match alert is ``RULE_MATCH``), one per rule and exception type within
the rule's dedup period, raised at the first error whatever the rule's Threshold or CreateAlert (they say how
to alert on matches; an error means the rule is not looking at those events at all). The alert carries the first
``error`` text, the rule's severity, and sample events each holding its own ``p_rule_error``.

The alert limiter, as in Panther: a rule that opens ``alert_limit`` (1,000) alerts within an hour opens no more
(until the process restarts: rules only change then); one ``SYSTEM_ERROR`` alert says so and counts the matches
that opened no alert since. Alerts already open keep updating, and rule errors keep alerting.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from threatmatch.detect.rule import Severity
from threatmatch.detect.ruleset import LoadedRule, RuleSet
from threatmatch.detect.runner import RuleResult, truncate
from threatmatch.timefmt import panther_ts

DEFAULT_MAX_SAMPLES = 10
RULE_MATCH = "RULE_MATCH"
RULE_ERROR = "RULE_ERROR"
SYSTEM_ERROR = "SYSTEM_ERROR"
MAX_ERROR_TYPE = 100
DEFAULT_ALERT_LIMIT = 1000  # new alerts per rule per hour (Panther's alert limiter)
_HOUR = timedelta(hours=1)


@dataclass
class _Group:
    rule: LoadedRule
    dedup: str
    opened: datetime
    first: RuleResult
    count: int = 0
    first_event_time: str | None = None
    last_event_time: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    log_types: set[str] = field(default_factory=set)
    severity: str = "INFO"
    alert: dict[str, Any] | None = None
    updated: datetime | None = None
    alert_type: str = RULE_MATCH


def error_type(error: str) -> str:
    """What rule errors are grouped by: the exception type of ``describe()``'s ``Type: message`` text."""
    head = error.split(":", 1)[0].strip()
    return head[:MAX_ERROR_TYPE] if head.replace(".", "").replace("_", "").isalnum() else "RuleError"


def collapse_errors(results: Iterable[RuleResult], keep: int = DEFAULT_MAX_SAMPLES) -> list[RuleResult]:
    """Matches and errors of ``results``, keeping the events of at most ``keep`` errors per (rule, exception
    type); each later one is counted in the ``count`` of the last kept one instead (a rule failing on every
    event then costs ``keep`` events, not all of them). Non-matches are dropped."""
    out: list[RuleResult] = []
    kept: dict[tuple[str, str], list[RuleResult]] = {}
    for result in results:
        if result.error is None:
            if result.matched:
                out.append(result)
            continue
        same = kept.setdefault((result.rule_id, error_type(result.error)), [])
        if len(same) < keep:
            same.append(result)
            out.append(result)
        else:
            same[-1].count += result.count
    return out


def _event_time(event: dict[str, Any]) -> str | None:
    value = event.get("p_event_time")
    return value if isinstance(value, str) and value else None


def _span(first: str | None, last: str | None, event: dict[str, Any]) -> tuple[str | None, str | None]:
    """The (first, last) event times of a group widened by ``event``'s ``p_event_time``."""
    moment = _event_time(event)
    if moment is None:
        return first, last
    return (moment if first is None or moment < first else first, moment if last is None or moment > last else last)


class AlertManager:
    """Dedup/threshold state for the alerts of one rule set."""

    def __init__(self, ruleset: RuleSet, *, max_samples: int = DEFAULT_MAX_SAMPLES,
                 alert_limit: int = DEFAULT_ALERT_LIMIT) -> None:
        self._ruleset = ruleset
        self._max_samples = max_samples
        self._alert_limit = alert_limit
        self._groups: dict[tuple[str, str, str], _Group] = {}  # (rule id, dedup, alert type)
        self._opened: dict[str, deque[datetime]] = {}  # rule id -> when its match alerts opened, the last hour
        self._limited: dict[str, dict[str, Any]] = {}  # rule id -> its SYSTEM_ERROR alert

    def process(self, results: Iterable[RuleResult], now: datetime) -> list[dict[str, Any]]:
        """Fold matches into groups; returns the alerts created or updated by this call (current state)."""
        changed: dict[int, dict[str, Any]] = {}
        for result in results:
            failed = result.error is not None
            if not (result.matched or failed):
                continue
            rule = self._ruleset.get(result.rule_id)
            if rule is None or not (rule.create_alert or failed):
                continue
            group = self._group_for(rule, result, now)
            self._absorb(group, result)
            if failed or group.count >= max(rule.threshold, 1):
                if group.alert is None and not failed and not self._may_open(rule, now):
                    del self._groups[(rule.id, group.dedup, group.alert_type)]  # limited: no group kept either
                    limit = self._count_limited(rule, result, now)
                    changed[id(limit)] = dict(limit)  # it is updated in place here: callers get a copy to keep
                    continue
                group.alert = self._render(group, now)
                changed[id(group)] = group.alert
        return list(changed.values())

    def _may_open(self, rule: LoadedRule, now: datetime) -> bool:
        """Whether ``rule`` may open one more match alert at ``now`` (and, if so, count it)."""
        if rule.id in self._limited:
            return False
        opened = self._opened.setdefault(rule.id, deque())
        while opened and now - opened[0] >= _HOUR:
            opened.popleft()
        if len(opened) >= self._alert_limit:
            return False
        opened.append(now)
        return True

    def _count_limited(self, rule: LoadedRule, result: RuleResult, now: datetime) -> dict[str, Any]:
        """The rule's SYSTEM_ERROR alert (opened at its first suppressed match), counting ``result``."""
        alert = self._limited.get(rule.id)
        if alert is None:
            stamp = panther_ts(now)
            text = (f"{rule.display_name or rule.id} opened {self._alert_limit} alerts within an hour: it opens no "
                    "more until the service restarts (for a command-line run: until the run ends); its matches are "
                    "still evaluated and its events stored, alerts already open keep updating. Make the rule or "
                    "its dedup() narrower, then restart.")
            alert = self._limited[rule.id] = {
                "alert_id": _alert_id(rule.id, f"{SYSTEM_ERROR}\x00alert limit", now), "alert_type": SYSTEM_ERROR,
                "rule_id": rule.id, "title": f"Alert limit reached: {rule.display_name or rule.id}",
                "severity": rule.severity, "dedup": "alert limit", "error": text, "created_at": stamp,
                "updated_at": stamp, "first_event_time": None, "last_event_time": None, "event_count": 0,
                "log_types": [], "sample_events": [], "alert_context": {"alert_limit_per_hour": self._alert_limit},
                "description": rule.description, "runbook": rule.runbook, "reference": rule.reference,
                "destinations": list(rule.destinations) if rule.destinations is not None else None,
                "tags": list(rule.tags), "reports": dict(rule.reports),
            }
        alert["event_count"] += result.count
        alert["updated_at"] = panther_ts(now)
        alert["first_event_time"], alert["last_event_time"] = _span(alert["first_event_time"],
                                                                    alert["last_event_time"], result.event)
        log_type = result.event.get("p_log_type")
        if isinstance(log_type, str) and log_type not in alert["log_types"]:
            alert["log_types"] = sorted([*alert["log_types"], log_type])
        return alert

    def _group_for(self, rule: LoadedRule, result: RuleResult, now: datetime) -> _Group:
        if result.error is not None:
            alert_type, dedup = RULE_ERROR, error_type(result.error)
        else:
            alert_type, dedup = RULE_MATCH, result.dedup or f"defaultDedupString:{rule.id}"
        key = (rule.id, dedup, alert_type)
        group = self._groups.get(key)
        window = timedelta(minutes=rule.dedup_period_minutes)
        if group is None or now - group.opened >= window:
            group = _Group(rule=rule, dedup=dedup, opened=now, first=result, alert_type=alert_type)
            self._groups[key] = group
        return group

    def _absorb(self, group: _Group, result: RuleResult) -> None:
        group.count += result.count
        group.first_event_time, group.last_event_time = _span(group.first_event_time, group.last_event_time,
                                                              result.event)
        if len(group.samples) < self._max_samples:
            group.samples.append(result.event if result.error is None else {**result.event,
                                                                            "p_rule_error": truncate(result.error)})
        log_type = result.event.get("p_log_type")
        if isinstance(log_type, str):
            group.log_types.add(log_type)
        severity = result.severity or group.rule.severity  # an error has none: the rule's own
        if Severity.rank(severity) > Severity.rank(group.severity) or group.count == 1:
            group.severity = severity

    def _render(self, group: _Group, now: datetime) -> dict[str, Any]:
        rule, first = group.rule, group.first
        created = group.alert["created_at"] if group.alert else panther_ts(now)
        failed = group.alert_type == RULE_ERROR
        title = first.title or rule.display_name or rule.id
        if failed:
            title = truncate(f"Rule error in {rule.display_name or rule.id}: {first.error}")
        alert = {
            "alert_id": _alert_id(rule.id, f"{RULE_ERROR}\x00{group.dedup}" if failed else group.dedup, group.opened),
            "alert_type": group.alert_type,
            "rule_id": rule.id,
            "title": title,
            "severity": group.severity,
            "dedup": group.dedup,
            "dedup_period_minutes": rule.dedup_period_minutes,
            "threshold": rule.threshold,
            "created_at": created,
            "updated_at": panther_ts(now),
            "first_event_time": group.first_event_time,
            "last_event_time": group.last_event_time,
            "event_count": group.count,
            "log_types": sorted(group.log_types),
            "sample_events": list(group.samples),
            "alert_context": first.alert_context or {},
            "description": first.description or rule.description,
            "runbook": first.runbook or rule.runbook,
            "reference": first.reference or rule.reference,
            "destinations": first.destinations,
            "tags": list(rule.tags),
            "reports": dict(rule.reports),
        }
        if failed:
            alert["error"] = truncate(first.error or "")
        return alert

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert raised so far whose group is still held, and the alert-limit alerts (current state)."""
        held = [group.alert for group in self._groups.values() if group.alert is not None]
        return [*held, *map(dict, self._limited.values())]

    def expire(self, now: datetime) -> int:
        """Forget groups whose dedup window has closed; returns how many were dropped."""
        stale = [
            key
            for key, group in self._groups.items()
            if now - group.opened >= timedelta(minutes=group.rule.dedup_period_minutes)
        ]
        for key in stale:
            del self._groups[key]
        return len(stale)


def _alert_id(rule_id: str, dedup: str, opened: datetime) -> str:
    """Stable 32-hex id of one alert (rule, dedup string, window start)."""
    digest = hashlib.sha256(f"{rule_id}\x00{dedup}\x00{opened.isoformat()}".encode())
    return digest.hexdigest()[:32]
