"""Drop-off alarms: a system error when a log type stops receiving events (Panther's log source alarms). Pure.

A log type with an alarm of N minutes that receives no event for N minutes (counted from its last event, or from
when the service started or the alarm was set, whichever is later) gets one ``SYSTEM_ERROR`` alert, ``No data
received: <log type>``; it stays open while the silence lasts, and the first event afterwards closes it (the alert
is updated with ``alert_context.resumed_at``). The caller passes ``now`` and the alarms of the moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from threatmatch.detect.alerts import SYSTEM_ERROR
from threatmatch.timefmt import panther_ts

__all__ = ["DEDUP", "DropOffAlarms"]

DEDUP = "no data"
SEVERITY = "MEDIUM"
_TICK = timedelta(milliseconds=1)  # the resolution of Panther timestamps


class DropOffAlarms:
    """When each log type last received an event, and the drop-off alerts open."""

    def __init__(self, started: datetime) -> None:
        self._started = started
        self._last: dict[str, datetime] = {}
        self._open: dict[str, dict[str, Any]] = {}
        self._opened_at: dict[str, datetime] = {}

    def last_event(self, log_type: str) -> datetime | None:
        return self._last.get(log_type)

    def alarming(self, log_type: str) -> bool:
        return log_type in self._open

    def received(self, log_type: str, now: datetime) -> dict[str, Any] | None:
        """``log_type`` received events at ``now``; the alert this closes (updated copy), if one was open."""
        self._last[log_type] = now
        alert = self._open.pop(log_type, None)
        if alert is None:
            return None
        # strictly after the alert opened (its latest state must win): the watcher's clock and an ingest request's
        # may be read in either order
        stamp = panther_ts(max(now, self._opened_at.pop(log_type) + _TICK))
        alert["updated_at"] = stamp
        alert["alert_context"] = {**alert["alert_context"], "resumed_at": stamp}
        return dict(alert)

    def check(self, alarms: Mapping[str, int], now: datetime, since: Mapping[str, datetime] | None = None
              ) -> list[dict[str, Any]]:
        """The alerts opened at ``now`` for log types silent for their alarm's minutes (``since``: when each alarm
        was set, the earliest moment its silence counts from)."""
        opened = []
        for log_type, minutes in alarms.items():
            if log_type in self._open:
                continue
            start = max(self._started, (since or {}).get(log_type, self._started))
            last = self._last.get(log_type)
            quiet_from = max(last, start) if last is not None else start
            if now - quiet_from < timedelta(minutes=minutes):
                continue
            alert = self._open[log_type] = self._alert(log_type, minutes, last, quiet_from, now)
            self._opened_at[log_type] = now
            opened.append(dict(alert))
        return opened

    @staticmethod
    def _alert(log_type: str, minutes: int, last: datetime | None, quiet_from: datetime,
               now: datetime) -> dict[str, Any]:
        stamp = panther_ts(now)
        seen = f"the last one arrived at {panther_ts(last)} UTC" if last is not None else \
            f"none since {panther_ts(quiet_from)} UTC"
        text = (f"No events of {log_type} arrived for {minutes} minutes ({seen}). Check that the sender still runs "
                "and can reach the service; the alert closes with the next event.")
        digest = hashlib.sha256(f"{SYSTEM_ERROR}\x00{DEDUP}\x00{log_type}\x00{now.isoformat()}".encode())
        return {
            "alert_id": digest.hexdigest()[:32], "alert_type": SYSTEM_ERROR, "rule_id": None,
            "title": f"No data received: {log_type}", "severity": SEVERITY, "dedup": DEDUP, "error": text,
            "created_at": stamp, "updated_at": stamp, "first_event_time": None, "last_event_time": None,
            "event_count": 0, "log_types": [log_type], "sample_events": [],
            "alert_context": {"log_type": log_type, "alarm_minutes": minutes,
                              "last_event_at": panther_ts(last) if last is not None else None},
            "description": "A log type with a drop-off alarm received no events for the alarm's period.",
            "runbook": "", "tags": [], "reports": {},
        }
