"""Alert destinations (webhooks): where new alerts are sent. An optional header (e.g. a bearer token) is encrypted at
rest and never returned."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from threatmatch.detect.rule import SEVERITY_ORDER
from threatmatch.errors import ConfigError, NotFoundError
from threatmatch.storage.db import register_schema, transaction
from threatmatch.storage.secrets import SecretBox
from threatmatch.timefmt import panther_ts

register_schema(
    "destinations_repo",
    """CREATE TABLE IF NOT EXISTS destinations (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        min_severity TEXT NOT NULL,
        header_name TEXT,
        header_value BLOB,
        created_at TEXT NOT NULL
    )""",
)

SEVERITIES = SEVERITY_ORDER
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
_HEADER = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True)
class Destination:
    """One webhook destination as shown (the header's value is never part of it)."""

    name: str
    url: str
    min_severity: str
    header_name: str | None
    created_at: str


class DestinationRepo:
    """The destinations of one database connection."""

    def __init__(self, conn: sqlite3.Connection, secretbox: SecretBox) -> None:
        self._conn = conn
        self._box = secretbox

    def add(self, name: str, url: str, *, min_severity: str = "INFO", header_name: str | None = None,
            header_value: str | None = None, now: datetime) -> Destination:
        """Store a new webhook destination; ``ConfigError`` names the bad value."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"destination name {name!r}: use 1-64 letters, digits, spaces, _ . - (starting with a "
                              "letter or digit)")
        if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
            raise ConfigError(f"url {url!r}: give the webhook's full http:// or https:// address")
        severity = str(min_severity).upper()
        if severity not in SEVERITIES:
            raise ConfigError(f"min_severity {min_severity!r}: one of {', '.join(SEVERITIES)}")
        if (header_name is None) != (header_value is None):
            raise ConfigError("give both header_name and header_value (e.g. Authorization and 'Bearer ...'), or "
                              "neither")
        if header_name is not None and not _HEADER.fullmatch(header_name):
            raise ConfigError(f"header_name {header_name!r}: letters, digits and - only")
        secret = self._box.encrypt(header_value) if header_value is not None else None
        with transaction(self._conn):
            if self._conn.execute("SELECT 1 FROM destinations WHERE name = ?", (name,)).fetchone():
                raise ConfigError(f"a destination named {name!r} exists: remove it first or choose another name")
            self._conn.execute("INSERT INTO destinations (name, url, min_severity, header_name, header_value, "
                               "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                               (name, url, severity, header_name, secret, panther_ts(now)))
        return Destination(name, url, severity, header_name, panther_ts(now))

    def list(self) -> list[Destination]:
        return [Destination(*row) for row in self._conn.execute(
            "SELECT name, url, min_severity, header_name, created_at FROM destinations ORDER BY name")]

    def get(self, name: str) -> Destination:
        for destination in self.list():
            if destination.name == name:
                return destination
        raise NotFoundError(f"no destination named {name!r} (see GET /api/v1/destinations)")

    def header(self, name: str) -> tuple[str, str] | None:
        """The destination's header and its decrypted value, for sending only."""
        row = self._conn.execute("SELECT header_name, header_value FROM destinations WHERE name = ?",
                                 (name,)).fetchone()
        if row is None or row[0] is None:
            return None
        return str(row[0]), self._box.decrypt(bytes(row[1]))

    def remove(self, name: str) -> None:
        with transaction(self._conn):
            if self._conn.execute("DELETE FROM destinations WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"no destination named {name!r} (see GET /api/v1/destinations)")
