"""Which log types each enrichment provider enriches, and with which selectors.

Default (no stored row): every provider is enabled for every log type, with the log type's
``p_any_*`` indicator fields as selectors. Stored rows in ``enrichment_settings`` override that per
provider x log type: ``enabled`` and, when not NULL, an explicit selector list. ``reset`` deletes
overrides, going back to the default.

``EnrichmentConfig`` is the storage side (SQLite); ``EnrichmentSettings`` is the frozen in-memory
snapshot the ``Enricher`` compiles from (pure, no database access on the hot path).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from threatmatch.enrich.selectors import P_ANY_FIELDS, LogTypeLike, parse_selectors
from threatmatch.errors import StorageError
from threatmatch.storage.db import register_schema, transaction
from threatmatch.timefmt import panther_ts

register_schema(
    "enrichment_settings",
    """CREATE TABLE IF NOT EXISTS enrichment_settings (
        provider   TEXT NOT NULL,
        log_type   TEXT NOT NULL,
        enabled    INTEGER NOT NULL DEFAULT 1,
        selectors  TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (provider, log_type)
    )""",
)


@dataclass(frozen=True)
class Override:
    """A stored setting for one provider x log type. ``selectors`` None = the log type's defaults."""

    provider: str
    log_type: str
    enabled: bool
    selectors: tuple[str, ...] | None
    updated_at: str = ""


@dataclass(frozen=True)
class LogTypeSetting:
    """The effective setting of one provider for one log type (what `enrichments show` lists)."""

    log_type: str
    enabled: bool
    selectors: tuple[str, ...]
    customized: bool


@dataclass(frozen=True)
class EnrichmentSettings:
    """Frozen snapshot of all overrides (pure lookups for the Enricher)."""

    overrides: Mapping[tuple[str, str], Override] = field(default_factory=dict)

    def resolve(self, provider: str, log_type: str, defaults: Sequence[str]) -> LogTypeSetting:
        """Effective setting: the override when stored, else enabled with ``defaults``."""
        found = self.overrides.get((provider, log_type))
        if found is None:
            return LogTypeSetting(log_type, True, tuple(defaults), False)
        selectors = found.selectors if found.selectors is not None else tuple(defaults)
        return LogTypeSetting(log_type, found.enabled, selectors, True)


def default_selectors(log_type: LogTypeLike | None) -> tuple[str, ...]:
    """A log type's indicator fields; every known ``p_any_*`` field for an unknown log type."""
    if log_type is None:
        return P_ANY_FIELDS
    return tuple(log_type.indicator_fields)


class EnrichmentConfig:
    """Enrichment settings stored in the embedded database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _now(self) -> str:
        return panther_ts(datetime.now(UTC))

    def overrides(self, provider: str | None = None) -> list[Override]:
        """Stored overrides, for one provider or all, sorted by provider then log type."""
        sql = "SELECT provider, log_type, enabled, selectors, updated_at FROM enrichment_settings"
        args: tuple[str, ...] = ()
        if provider is not None:
            sql += " WHERE provider = ?"
            args = (provider,)
        try:
            rows = self._conn.execute(sql + " ORDER BY provider, log_type", args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read enrichment settings: {exc}") from exc
        return [Override(row[0], row[1], bool(row[2]), tuple(orjson.loads(row[3])) if row[3] else None, row[4])
                for row in rows]

    def settings(self) -> EnrichmentSettings:
        """Snapshot of every override for the Enricher."""
        return EnrichmentSettings({(o.provider, o.log_type): o for o in self.overrides()})

    def show(self, provider: str, log_types: Iterable[LogTypeLike]) -> list[LogTypeSetting]:
        """The "Enriched Log Types" table of ``provider``: one effective setting per log type."""
        snapshot = EnrichmentSettings({(o.provider, o.log_type): o for o in self.overrides(provider)})
        return [snapshot.resolve(provider, lt.name, default_selectors(lt)) for lt in log_types]

    def _upsert(self, provider: str, log_type: str, *, enabled: bool | None = None,
                selectors: tuple[str, ...] | None = None, set_selectors: bool = False) -> None:
        try:
            with transaction(self._conn):
                row = self._conn.execute(
                    "SELECT enabled, selectors FROM enrichment_settings WHERE provider = ? AND log_type = ?",
                    (provider, log_type)).fetchone()
                current_enabled = bool(row[0]) if row else True
                current_selectors = row[1] if row else None
                new_enabled = current_enabled if enabled is None else enabled
                new_selectors = (orjson.dumps(list(selectors)).decode() if selectors is not None else None) \
                    if set_selectors else current_selectors
                self._conn.execute(
                    "INSERT INTO enrichment_settings (provider, log_type, enabled, selectors, updated_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, log_type) DO UPDATE SET "
                    "enabled = excluded.enabled, selectors = excluded.selectors, updated_at = excluded.updated_at",
                    (provider, log_type, int(new_enabled), new_selectors, self._now()))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot save enrichment settings for {provider} / {log_type}: {exc}") from exc

    def set_selectors(self, provider: str, log_type: LogTypeLike, selectors: Sequence[str]) -> tuple[str, ...]:
        """Validate ``selectors`` against ``log_type`` and store them (SelectorError when invalid)."""
        parsed = parse_selectors(selectors, log_type)
        texts = tuple(selector.text for selector in parsed)
        self._upsert(provider, log_type.name, selectors=texts, set_selectors=True)
        return texts

    def enable(self, provider: str, log_type: str) -> None:
        """Enrich ``log_type`` with ``provider`` again (selectors unchanged)."""
        self._upsert(provider, log_type, enabled=True)

    def disable(self, provider: str, log_type: str) -> None:
        """Stop enriching ``log_type`` with ``provider`` (selectors are remembered)."""
        self._upsert(provider, log_type, enabled=False)

    def reset(self, provider: str, log_type: str | None = None) -> int:
        """Forget overrides (one log type, or all of ``provider``); returns how many were removed."""
        try:
            with transaction(self._conn):
                if log_type is None:
                    cursor = self._conn.execute("DELETE FROM enrichment_settings WHERE provider = ?", (provider,))
                else:
                    cursor = self._conn.execute(
                        "DELETE FROM enrichment_settings WHERE provider = ? AND log_type = ?", (provider, log_type))
                return cursor.rowcount
        except sqlite3.Error as exc:
            raise StorageError(f"cannot reset enrichment settings for {provider}: {exc}") from exc
