"""System-error alerts for lines a log type rejected (Panther's classification failures). Pure: pass ``now``.

A log type whose lines stop parsing (the sender changed its format, a schema's ``validate`` rule no longer holds,
a shipper truncates lines) loses no data here (every rejected line is kept in the lake's ``rejects`` view), but
nobody may look there: Panther raises a system error when logs fail to classify, and so does this. One
``SYSTEM_ERROR`` alert per log type and hour window (opened by the first rejected line, ``DEDUP_MINUTES``), its
count the rejected lines since, ``error`` the first reason, and the first ``DEFAULT_MAX_SAMPLES`` rejected lines as
sample events (``line``, ``reason``, ``raw`` cut at ``MAX_RAW`` characters). Its ``dedup`` is ``DEDUP``; it has no
rule (``rule_id`` None).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from threatmatch.detect.alerts import DEFAULT_MAX_SAMPLES, SYSTEM_ERROR
from threatmatch.detect.runner import truncate
from threatmatch.timefmt import panther_ts

__all__ = ["DEDUP", "DEDUP_MINUTES", "SEVERITY", "ClassificationAlerts"]

DEDUP = "classification failure"
DEDUP_MINUTES = 60
SEVERITY = "MEDIUM"
MAX_RAW = 2048


@dataclass
class _Window:
    opened: datetime
    alert: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)


class ClassificationAlerts:
    """The open classification-failure alert of each log type."""

    def __init__(self, *, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self._max_samples = max_samples
        self._windows: dict[str, _Window] = {}

    def process(self, log_type: str, rejected: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, Any] | None:
        """Count ``rejected`` lines of ``log_type`` (``line``, ``reason``, ``raw`` each); the alert they opened or
        updated (a copy), None when there were none."""
        lines = list(rejected)
        if not lines:
            return None
        window = self._windows.get(log_type)
        stamp = panther_ts(now)
        if window is None or now - window.opened >= timedelta(minutes=DEDUP_MINUTES):
            window = self._windows[log_type] = _Window(now, self._open(log_type, lines[0], now, stamp))
        alert = window.alert
        alert["event_count"] += len(lines)
        alert["updated_at"] = alert["last_event_time"] = stamp
        for line in lines[:max(0, self._max_samples - len(window.samples))]:
            raw = line.get("raw")
            text = raw if isinstance(raw, str) else "" if raw is None else str(raw)
            window.samples.append({"p_log_type": log_type, "p_event_time": stamp, "line": line.get("line"),
                                   "reason": line.get("reason"),
                                   "raw": text if len(text) <= MAX_RAW else text[:MAX_RAW] + "..."})
        alert["sample_events"] = list(window.samples)
        return dict(alert)

    @staticmethod
    def _open(log_type: str, first: Mapping[str, Any], now: datetime, stamp: str) -> dict[str, Any]:
        reason = truncate(str(first.get("reason") or "rejected"))
        text = (f"Lines sent as {log_type} were rejected: they did not parse, or broke the log type's schema. "
                f"First reason: {reason}. Every rejected line is kept with its reason: SELECT * FROM rejects "
                f"WHERE log_type = '{log_type}'. Fix the sender or the schema, then send those lines again.")
        digest = hashlib.sha256(f"{SYSTEM_ERROR}\x00{DEDUP}\x00{log_type}\x00{now.isoformat()}".encode())
        return {
            "alert_id": digest.hexdigest()[:32], "alert_type": SYSTEM_ERROR, "rule_id": None,
            "title": f"Log classification failures: {log_type}", "severity": SEVERITY, "dedup": DEDUP,
            "dedup_period_minutes": DEDUP_MINUTES, "error": text, "created_at": stamp, "updated_at": stamp,
            "first_event_time": stamp, "last_event_time": stamp, "event_count": 0, "log_types": [log_type],
            "sample_events": [], "alert_context": {"log_type": log_type, "first_reason": reason},
            "description": "Lines of this log type failed to classify (Panther's log classification failure).",
            "runbook": f"SELECT line, reason, raw FROM rejects WHERE log_type = '{log_type}' ORDER BY received_at",
            "tags": [], "reports": {},
        }

    def alerts(self) -> list[dict[str, Any]]:
        """The alert of every window still open (current state)."""
        return [dict(window.alert) for window in self._windows.values()]
