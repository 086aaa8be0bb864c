"""Names and paths inside the data lake (pure).

Layout under ``home.lake``::

    events/log_type=<Log.Type>/dt=YYYY-MM-DD/hour=HH/part-<uuid>.parquet   enriched events
    alerts/dt=YYYY-MM-DD/hour=HH/part-<uuid>.parquet                        alerts
    rejects/dt=YYYY-MM-DD/hour=HH/part-<uuid>.parquet                       lines ingest rejected
    lookups/<view name>/gen-<generation>.parquet                           lookup-table exports

SQL view names are the *lower-snake* form of a name: lower-case it, turn every run of characters other than
ASCII letters and digits into one ``_``, and trim ``_`` at both ends (``AWS.CloudTrail`` -> ``aws_cloudtrail``,
``Okta.SystemLog`` -> ``okta_systemlog``, ``Amazon.EKS.Audit`` -> ``amazon_eks_audit``). A name that would start
with a digit gets a ``t_`` prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from threatmatch.errors import ConfigError

EVENTS = "events"
ALERTS = "alerts"
REJECTS = "rejects"
LOOKUPS = "lookups"
ALL_EVENTS_VIEW = "all_events"
RESERVED_VIEWS = frozenset({ALERTS, REJECTS, ALL_EVENTS_VIEW})

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_SAFE_LOG_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HOUR_DIR = re.compile(r"^hour=(\d{2})$")
_DAY_DIR = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


def snake(name: str) -> str:
    """Lower-snake form of ``name`` used for SQL view names (see the module docstring for the rule)."""
    out = _NON_ALNUM.sub("_", name.lower()).strip("_")
    if not out:
        raise ConfigError(f"cannot derive an SQL name from {name!r}: it has no letters or digits")
    return f"t_{out}" if out[0].isdigit() else out


def log_type_view(log_type: str) -> str:
    """View name of a log type; one that collides with a built-in view gets a ``_log`` suffix."""
    name = snake(log_type)
    return f"{name}_log" if name in RESERVED_VIEWS else name


def lookup_view(table: str, kind: str = "threatstream") -> str:
    """View name of a lookup table: ``anomali_<snake>`` for ThreatStream tables, ``lookup_<snake>`` otherwise.

    The prefix is not doubled: a table named ``Anomali ThreatStream`` becomes ``anomali_threatstream``.
    """
    prefix = "anomali_" if kind == "threatstream" else "lookup_"
    name = snake(table)
    return name if name.startswith(prefix) else prefix + name


def check_log_type(log_type: str) -> str:
    """Return ``log_type`` if it is safe as a directory name, else raise ConfigError saying how to fix it."""
    if not _SAFE_LOG_TYPE.match(log_type):
        raise ConfigError(
            f"log type {log_type!r} cannot be stored in the data lake: use letters, digits, '.', '_' or '-' "
            "(at most 128 characters, starting with a letter or digit), e.g. 'Custom.MyApp'"
        )
    return log_type


@dataclass(frozen=True, order=True)
class HourKey:
    """One hour partition: the UTC hour that every event in it falls in."""

    day: str  # YYYY-MM-DD
    hour: int  # 0..23

    @classmethod
    def of(cls, moment: datetime) -> HourKey:
        """The partition holding ``moment`` (naive = UTC)."""
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return cls(f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}", moment.hour)

    @property
    def start(self) -> datetime:
        """First instant of the hour (aware, UTC)."""
        return datetime.fromisoformat(self.day).replace(hour=self.hour, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """First instant after the hour (aware, UTC)."""
        return self.start + timedelta(hours=1)

    def relpath(self) -> str:
        """``dt=YYYY-MM-DD/hour=HH``."""
        return f"dt={self.day}/hour={self.hour:02d}"


def parse_hour_dir(day_dir: str, hour_dir: str) -> HourKey | None:
    """The HourKey named by ``dt=...`` / ``hour=...`` directory names, or None when they are not ours."""
    day = _DAY_DIR.match(day_dir)
    hour = _HOUR_DIR.match(hour_dir)
    if not day or not hour or int(hour.group(1)) > 23:
        return None
    try:
        datetime.fromisoformat(day.group(1))
    except ValueError:
        return None
    return HourKey(day.group(1), int(hour.group(1)))


def events_dir(lake: Path, log_type: str) -> Path:
    """Directory holding every partition of one log type."""
    return lake / EVENTS / f"log_type={log_type}"


def alerts_dir(lake: Path) -> Path:
    """Directory holding every alert partition."""
    return lake / ALERTS


def rejects_dir(lake: Path) -> Path:
    """Directory holding every partition of rejected lines."""
    return lake / REJECTS


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A DuckDB string literal in single quotes."""
    return "'" + text.replace("'", "''") + "'"
