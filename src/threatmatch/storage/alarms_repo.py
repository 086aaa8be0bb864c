"""Stored drop-off alarms: per log type, how many minutes without an event make an alert."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import NamedTuple

from threatmatch.errors import ConfigError
from threatmatch.storage.db import register_schema, transaction
from threatmatch.timefmt import panther_ts

register_schema(
    "alarms_repo",
    """CREATE TABLE IF NOT EXISTS log_type_alarms (
        log_type TEXT PRIMARY KEY,
        minutes INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)

MIN_MINUTES = 5
MAX_MINUTES = 7 * 24 * 60


class Alarm(NamedTuple):
    """One alarm: minutes without an event, and when it was set (UTC)."""

    minutes: int
    set_at: datetime


class AlarmRepo:
    """The drop-off alarms of one database connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def all(self) -> dict[str, Alarm]:
        """Every alarm by log type."""
        return {str(log_type): Alarm(int(minutes), _when(set_at)) for log_type, minutes, set_at in self._conn.execute(
            "SELECT log_type, minutes, updated_at FROM log_type_alarms ORDER BY log_type")}

    def get(self, log_type: str) -> Alarm | None:
        row = self._conn.execute("SELECT minutes, updated_at FROM log_type_alarms WHERE log_type = ?",
                                 (log_type,)).fetchone()
        return Alarm(int(row[0]), _when(row[1])) if row is not None else None

    def set(self, log_type: str, minutes: int, now: datetime) -> None:
        """Alarm when ``log_type`` receives no event for ``minutes`` (``MIN_MINUTES`` to ``MAX_MINUTES``)."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
            raise ConfigError(f"minutes must be a whole number from {MIN_MINUTES} to {MAX_MINUTES} (7 days), "
                              f"got {minutes!r}")
        with transaction(self._conn):
            self._conn.execute("INSERT INTO log_type_alarms (log_type, minutes, updated_at) VALUES (?, ?, ?) "
                               "ON CONFLICT (log_type) DO UPDATE SET minutes = excluded.minutes, "
                               "updated_at = excluded.updated_at", (log_type, minutes, panther_ts(now)))

    def remove(self, log_type: str) -> bool:
        """Stop alarming on ``log_type``; whether it had an alarm."""
        with transaction(self._conn):
            return self._conn.execute("DELETE FROM log_type_alarms WHERE log_type = ?", (log_type,)).rowcount > 0


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
