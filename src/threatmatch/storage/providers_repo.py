"""Stored provider settings (token encrypted at rest) and each provider's sync status."""

from __future__ import annotations

import builtins
import difflib
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from threatmatch.errors import ConfigError, NotFoundError
from threatmatch.providers.kinds import AnyConfig, config_from_settings
from threatmatch.storage.db import register_schema, transaction
from threatmatch.storage.secrets import SecretBox

register_schema(
    "providers_repo",
    """CREATE TABLE IF NOT EXISTS providers (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        settings TEXT NOT NULL,
        token BLOB NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS provider_status (
        name TEXT PRIMARY KEY REFERENCES providers (name) ON DELETE CASCADE,
        last_attempt TEXT,
        last_success TEXT,
        last_error TEXT,
        last_error_at TEXT,
        duration_s REAL,
        row_count INTEGER,
        counts TEXT,
        next_run TEXT,
        running_since TEXT
    )""",
)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 text with seconds (``2026-01-01T10:00:00Z``)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ProviderStatus:
    """What the last syncs of a provider did. Times are UTC ISO text; ``counts`` holds the last success's
    ``type``/``status`` breakdowns and its ``fetched``/``rejected``/``duplicates`` totals."""

    name: str
    last_attempt: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    duration_s: float | None = None
    row_count: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    next_run: str | None = None
    running_since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProviderSchedule(NamedTuple):
    """The part of a provider the scheduler needs (no token, no decryption)."""

    name: str
    kind: str
    refresh_minutes: int


class ProviderRepo:
    """Provider configurations in SQLite. Secrets (a ThreatStream API token, a feed's header value) are stored
    encrypted with ``secretbox`` and only ever returned inside the config (a ``Secret``)."""

    def __init__(self, conn: sqlite3.Connection, secretbox: SecretBox) -> None:
        self._conn = conn
        self._box = secretbox

    def add(self, config: AnyConfig, *, replace: bool = False) -> None:
        """Store a provider; an existing name is an error unless ``replace`` (its status is then kept)."""
        settings = config.public()
        now = iso(datetime.now(UTC))
        secret = self._box.encrypt(config.secret.reveal())
        with transaction(self._conn):
            exists = self._conn.execute("SELECT 1 FROM providers WHERE name = ?", (config.name,)).fetchone()
            if exists and not replace:
                raise ConfigError(f"a provider named {config.name!r} already exists; add --replace to update it "
                                  "or choose another name")
            self._conn.execute(
                "INSERT INTO providers (name, kind, settings, token, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, settings = excluded.settings,"
                " token = excluded.token, updated_at = excluded.updated_at",
                (config.name, config.kind, orjson.dumps(settings).decode(), secret, now, now))
            self._conn.execute("INSERT INTO provider_status (name) VALUES (?) ON CONFLICT(name) DO NOTHING",
                               (config.name,))

    def names(self) -> builtins.list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM providers ORDER BY name")]

    def get(self, name: str) -> AnyConfig:
        """The provider's configuration with its decrypted secret (``NotFoundError`` when unknown)."""
        row = self._conn.execute("SELECT kind, settings, token FROM providers WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._not_found(name)
        return self._config(name, row[0], row[1], row[2])

    def list(self) -> list[AnyConfig]:
        """Every provider, by name."""
        rows = self._conn.execute("SELECT name, kind, settings, token FROM providers ORDER BY name").fetchall()
        return [self._config(r[0], r[1], r[2], r[3]) for r in rows]

    def schedules(self) -> builtins.list[ProviderSchedule]:
        """Name, kind and refresh period of every provider."""
        rows = self._conn.execute("SELECT name, kind, settings FROM providers ORDER BY name").fetchall()
        return [ProviderSchedule(r[0], r[1], int(orjson.loads(r[2])["refresh_minutes"])) for r in rows]

    def public(self, name: str) -> dict[str, Any]:
        """A provider's settings without its token (no decryption needed)."""
        row = self._conn.execute("SELECT settings FROM providers WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._not_found(name)
        settings: dict[str, Any] = orjson.loads(row[0])
        return settings

    def remove(self, name: str) -> None:
        with transaction(self._conn):
            if self._conn.execute("DELETE FROM providers WHERE name = ?", (name,)).rowcount == 0:
                raise self._not_found(name)
            self._conn.execute("DELETE FROM provider_status WHERE name = ?", (name,))

    # ---- status ----------------------------------------------------------------------------------------
    def status(self, name: str) -> ProviderStatus:
        row = self._conn.execute(
            "SELECT last_attempt, last_success, last_error, last_error_at, duration_s, row_count, counts, next_run,"
            " running_since FROM provider_status WHERE name = ?", (name,)).fetchone()
        if row is None:
            if self._conn.execute("SELECT 1 FROM providers WHERE name = ?", (name,)).fetchone() is None:
                raise self._not_found(name)
            return ProviderStatus(name)
        return ProviderStatus(name, row[0], row[1], row[2], row[3], row[4], row[5],
                              orjson.loads(row[6]) if row[6] else {}, row[7], row[8])

    def record_start(self, name: str, at: datetime) -> None:
        self._update(name, running_since=iso(at), last_attempt=iso(at))

    def record_success(self, name: str, at: datetime, *, duration_s: float, row_count: int,
                       counts: dict[str, Any], refresh_minutes: int) -> None:
        """A completed sync started at ``at``: clears the running mark, keeps the last error for history."""
        self._update(name, last_success=iso(at + timedelta(seconds=duration_s)), duration_s=round(duration_s, 3),
                     row_count=row_count, counts=orjson.dumps(counts).decode(), running_since=None,
                     next_run=iso(at + timedelta(minutes=refresh_minutes)), last_error=None, last_error_at=None)

    def record_failure(self, name: str, at: datetime, *, duration_s: float, error: str,
                       refresh_minutes: int) -> None:
        """A failed sync started at ``at`` (the table in use is unchanged; counts stay those of the last success)."""
        self._update(name, last_error=error, last_error_at=iso(at + timedelta(seconds=duration_s)),
                     duration_s=round(duration_s, 3), running_since=None,
                     next_run=iso(at + timedelta(minutes=refresh_minutes)))

    def _update(self, name: str, **values: Any) -> None:
        columns = ", ".join(f"{column} = ?" for column in values)
        with transaction(self._conn):
            self._conn.execute("INSERT INTO provider_status (name) VALUES (?) ON CONFLICT(name) DO NOTHING", (name,))
            self._conn.execute(f"UPDATE provider_status SET {columns} WHERE name = ?", (*values.values(), name))

    # ---- internals -------------------------------------------------------------------------------------
    def _config(self, name: str, kind: str, settings_json: str, token: bytes) -> AnyConfig:
        return config_from_settings(name, kind, orjson.loads(settings_json), self._box.decrypt(token))

    def _not_found(self, name: str) -> NotFoundError:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (
            f"; configured providers: {', '.join(names)}" if names else
            "; add one with `threatmatch providers add-threatstream` or `threatmatch providers add-feed`")
        return NotFoundError(f"no provider named {name!r}{hint}")
