"""Read-only DuckDB SQL over the lake: a cursor per search on the Lake's in-memory database of views.

Guards, in order:

1. the text must be exactly one statement of a read kind (SELECT / WITH / FROM / DESCRIBE / SHOW / SUMMARIZE /
   EXPLAIN); COPY, ATTACH, INSTALL, LOAD, CREATE, INSERT, UPDATE, DELETE, DROP, EXPORT, SET, PRAGMA... are refused;
2. the database was opened with external access switched off except for the lake directory
   (``allowed_directories``) and its configuration locked (``session.Engine``), so table functions cannot read
   files elsewhere, reach the network or load extensions;
3. a timer interrupts the query after ``timeout_s``; at most ``limit`` rows are fetched (``truncated`` says more
   existed).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb

from threatmatch.errors import SearchError, StorageError
from threatmatch.lake.naming import quote_ident
from threatmatch.lake.session import Session
from threatmatch.lake.values import converter, table_rows

READ_KINDS = {"SELECT", "EXPLAIN"}
_SHOWN_COLUMNS = 40


@dataclass
class SearchResult:
    """Outcome of one search. ``rows`` hold plain JSON-able values, in ``columns`` order."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_s: float
    warnings: list[str] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts; repeated column names get ``_1``, ``_2``... suffixes."""
        keys: list[str] = []
        for name in self.columns:
            key, n = name, 0
            while key in keys:
                n += 1
                key = f"{name}_{n}"
            keys.append(key)
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


def check_read_only(conn: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The statement kind of ``sql`` if it is one read-only statement; SearchError otherwise."""
    if not sql.strip():
        raise SearchError("empty query: pass one SQL statement, e.g. SELECT count(*) FROM all_events")
    try:
        statements = conn.extract_statements(sql)
    except duckdb.Error as exc:
        raise SearchError(f"SQL syntax error: {_message(exc)}") from exc
    if len(statements) != 1:
        raise SearchError(f"one statement per search, got {len(statements)}: remove the extra ';'-separated "
                          "statements")
    kind = str(statements[0].type).rsplit(".", 1)[-1]
    if kind not in READ_KINDS:
        raise SearchError(f"{kind} statements are not allowed: search is read-only (SELECT, WITH, FROM, DESCRIBE, "
                          "SHOW, SUMMARIZE, EXPLAIN). To delete old data use `threatmatch store prune`.")
    return kind


def run(session: Session, sql: str, *, limit: int, timeout_s: float) -> SearchResult:
    """Run one read-only statement in ``session`` with a time and a row limit."""
    if limit < 1:
        raise SearchError(f"limit must be at least 1, got {limit}")
    if timeout_s <= 0:
        raise SearchError(f"timeout must be positive, got {timeout_s}")
    conn = session.conn
    check_read_only(conn, sql)
    session.ensure_for(sql)
    timer = threading.Timer(timeout_s, conn.interrupt)
    started = time.perf_counter()
    timer.start()
    try:
        relation = conn.sql(sql)
        if relation is None:
            raise SearchError("the statement returned no result set")
        columns, types = list(relation.columns), list(relation.types)
        table = relation.limit(limit + 1).arrow().read_all()
    except duckdb.InterruptException as exc:
        raise SearchError(f"query stopped at the {timeout_s:g} s time limit: narrow it (filter on dt, hour or "
                          "p_event_time, add LIMIT) or allow more time (--timeout)") from exc
    except duckdb.Error as exc:
        raise SearchError(f"SQL error: {_message(exc)}{_hint(session, exc, sql)}") from exc
    finally:
        timer.cancel()
    truncated = table.num_rows > limit
    if truncated:
        table = table.slice(0, limit)
    rows = table_rows(table, [converter(t) for t in types])
    return SearchResult(columns, [str(t) for t in types], rows, truncated, time.perf_counter() - started)


def describe(session: Session, views: list[str] | None = None) -> dict[str, list[tuple[str, str]]]:
    """View name -> (column, type) pairs (every view when ``views`` is None)."""
    names = session.views() if views is None else views
    session.ensure(names)
    out: dict[str, list[tuple[str, str]]] = {}
    for view in names:
        relation = session.conn.sql(f"SELECT * FROM {quote_ident(view)} LIMIT 0")
        out[view] = [(c, str(t)) for c, t in zip(relation.columns, relation.types, strict=True)]
    return out


def missing_file(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) is DuckDB failing to open a file that was listed: pruned or merged
    meanwhile, so a fresh listing will succeed."""
    cause = exc.__cause__ if isinstance(exc.__cause__, duckdb.Error) else exc
    text = str(cause)
    return isinstance(cause, duckdb.IOException) and ("No such file" in text or "No files found" in text)


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _hint(session: Session, exc: duckdb.Error, sql: str) -> str:
    text = str(exc)
    if "json_extract" in text and "BOOLEAN" in text:
        return ("\nhint: -> and ->> bind more loosely than = and LIKE: put the extraction in parentheses, "
                "e.g. WHERE (p_enrichment->>'$.x') = 'y'")
    unknown_table = isinstance(exc, duckdb.CatalogException) and "does not exist" in str(exc)
    unknown_column = isinstance(exc, duckdb.BinderException) and "column" in str(exc).lower()
    if not (unknown_table or unknown_column):
        return ""
    try:
        views = session.views()
        if unknown_table:
            return "\nhint: available views: " + ", ".join(views)
        words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}
        named = [v for v in views if v in words] or views
        lines = []
        for view, cols in describe(session, named).items():
            shown = ", ".join(c for c, _ in cols[:_SHOWN_COLUMNS])
            more = f", ... ({len(cols) - _SHOWN_COLUMNS} more: `threatmatch search --views`)" if len(
                cols) > _SHOWN_COLUMNS else ""
            lines.append(f"  {view}: {shown}{more}")
        return "\nhint: columns of the views:\n" + "\n".join(lines)
    except (duckdb.Error, StorageError):
        return ""
