"""The embedded SQLite database: one file in the home directory, WAL mode, explicit transactions.

Each module that owns tables declares its DDL with ``register_schema`` at import time; ``connect``
applies every registered statement (all ``CREATE ... IF NOT EXISTS``) to a new connection, and a module
imported after a connection was opened applies its statements to every open connection too, so the order of
imports never decides whether a table exists.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threatmatch.errors import StorageError

_SCHEMAS: dict[str, tuple[str, ...]] = {}


class Connection(sqlite3.Connection):
    """A plain SQLite connection that can be tracked (weakly) for late schema registration."""


_OPEN: weakref.WeakSet[Connection] = weakref.WeakSet()


def register_schema(owner: str, *statements: str) -> None:
    """Declare the DDL of ``owner``'s tables (idempotent ``CREATE ... IF NOT EXISTS`` statements).

    Applied to every connection opened later and to the writable connections already open.
    """
    _SCHEMAS[owner] = statements
    for conn in list(_OPEN):
        try:
            for statement in statements:
                conn.execute(statement)
        except sqlite3.ProgrammingError:  # closed meanwhile
            _OPEN.discard(conn)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database with WAL, foreign keys and a busy timeout; apply registered schemas."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None,
                                   check_same_thread=False, factory=Connection)
        else:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False,
                                   factory=Connection)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            for statements in list(_SCHEMAS.values()):
                for statement in statements:
                    conn.execute(statement)
            _OPEN.add(conn)
        return conn
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the database {path}: {exc}. "
                           "Check that the home directory is writable (--home / $THREATMATCH_HOME).") from exc


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
