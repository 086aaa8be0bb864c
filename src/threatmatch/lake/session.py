"""DuckDB sessions for searches: one locked-down in-memory database per Lake, one cursor per search.

Opening a DuckDB database costs tens of milliseconds; a cursor costs microseconds. The database is configured
once (UTC session time, external access limited to the lake directory, configuration locked) and each search
gets its own cursor, so searches run concurrently and each can be interrupted alone. Views live in the shared
catalog: each search creates or replaces the views its query names when their file lists changed (binding a
view reads the footer of every file it covers, so a query pays only for the views it names).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path

import duckdb

from threatmatch.errors import StorageError
from threatmatch.lake.naming import quote_ident, quote_literal
from threatmatch.lake.views import ViewPlan

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (DuckDB messages carry long context)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Engine:
    """The locked-down database of one lake and the view definitions currently in its catalog."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._bodies: dict[str, str] = {}
        self._lock = threading.Lock()

    def _open(self) -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect(":memory:")
        try:
            for setting in ("TimeZone = 'UTC'", "enable_progress_bar = false", "parquet_metadata_cache = true",
                            f"temp_directory = {quote_literal((self.lake / '.tmp').as_posix())}",
                            f"allowed_directories = [{quote_literal(self.lake.as_posix() + '/')}]",
                            "enable_external_access = false", "lock_configuration = true"):
                conn.execute(f"SET {setting}")
        except duckdb.Error as exc:
            conn.close()
            raise StorageError(f"cannot start a search session: {first_line(exc)}") from exc
        return conn

    def session(self, plan: ViewPlan) -> Session:
        """A cursor for one search over ``plan``'s views."""
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            cursor = self._conn.cursor()
        return Session(self, cursor, plan)

    def apply(self, cursor: duckdb.DuckDBPyConnection, plan: ViewPlan, names: Iterable[str]) -> None:
        """Bring the named views (and the removal of views gone from ``plan``) into the catalog."""
        with self._lock:
            for gone in [n for n in self._bodies if n not in plan.bodies]:
                cursor.execute(f"DROP VIEW IF EXISTS {quote_ident(gone)}")
                del self._bodies[gone]
            for name in names:
                body = plan.bodies.get(name)
                if body is None or self._bodies.get(name) == body:
                    continue
                try:
                    cursor.execute(f"CREATE OR REPLACE VIEW {quote_ident(name)} AS {body}")
                except duckdb.Error as exc:
                    fix = "A damaged file can be removed with `threatmatch store prune` or by deleting it."
                    raise StorageError(f"cannot read the files of view {name} in {self.lake}: {first_line(exc)}. "
                                       f"{fix}") from exc
                self._bodies[name] = body

    def close(self) -> None:
        """Close the database (running searches fail)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._bodies = {}


class Session:
    """One search: a cursor on the engine's database and the view plan of this moment."""

    def __init__(self, engine: Engine, conn: duckdb.DuckDBPyConnection, plan: ViewPlan) -> None:
        self.engine = engine
        self.conn = conn
        self.plan = plan

    def close(self) -> None:
        """Release the cursor."""
        self.conn.close()

    def views(self) -> list[str]:
        """Every view name of the plan, sorted."""
        return sorted(self.plan.bodies)

    def ensure(self, names: Iterable[str] | None = None) -> None:
        """Make the named views (all when None) current in the catalog."""
        self.engine.apply(self.conn, self.plan, self.views() if names is None else list(names))

    def ensure_for(self, sql: str) -> None:
        """Make current the views ``sql`` names; all of them when it names none (SHOW TABLES, catalog queries)."""
        words = {w.lower() for w in _WORD.findall(sql)}
        self.ensure([v for v in self.plan.bodies if v in words] or None)
