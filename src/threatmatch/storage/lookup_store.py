"""Lookup tables in the embedded SQLite database, replaced whole by atomic generation swaps.

Each named table has generations. A sync writes a new generation into its own SQL table
(``lut_<tid>_g<N>``), creates the indexes after the bulk load, and makes it active with one small
transaction that moves the table's active-generation pointer. Readers read the pointer and the rows in
one read transaction (WAL snapshot), so they see the old generation until the swap commits and the new
one afterwards, never a mix. A writer killed mid-load leaves only an orphan ``building`` generation,
which the next writer of that table drops.

Per row the store keeps the indexed columns (match, id, type, itype, status, confidence, modified_ts,
expiration_ts, update_id) and the full row as JSON bytes; ``match`` is indexed (created after the
load). Within one generation rows are deduplicated by ``id``, keeping the highest ``update_id``. Rows of
every status are kept: the matcher decides.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import orjson

from threatmatch.errors import NotFoundError, StorageError
from threatmatch.indicators.normalize import canonical
from threatmatch.storage.db import register_schema, transaction

__all__ = ["LookupStore", "StoredRow", "TableInfo", "TableWriter", "dumps_row", "stored_id", "stored_row"]

register_schema(
    "lookup_store",
    """CREATE TABLE IF NOT EXISTS lookup_tables (
        tid INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        generation INTEGER,
        row_count INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT,
        next_generation INTEGER NOT NULL DEFAULT 1
    )""",
    """CREATE TABLE IF NOT EXISTS lookup_generations (
        tid INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('building', 'active', 'retired')),
        pid INTEGER,
        host TEXT,
        heartbeat REAL,
        PRIMARY KEY (tid, generation)
    )""",
)

STALE_AFTER_SECONDS = 600.0  # a building generation without a heartbeat this long is abandoned
FLUSH_ROWS = 5000
_INSERT = ("INSERT INTO {t} (match, id, type, itype, status, confidence, modified_ts, expiration_ts, update_id, row)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_LIVE: set[tuple[str, str]] = set()  # (database file, sql table) of writers alive in this process
_DECODE = msgspec.json.Decoder()


_INT64 = (1 << 63) - 1


class StoredRow(NamedTuple):
    """What the store keeps per row: the indexed columns plus the full row as JSON bytes."""

    match: list[str]
    id: int | str | None
    type: str | None
    itype: str | None
    status: str | None
    confidence: int | None
    modified_ts: str | None
    expiration_ts: str | None
    update_id: int | None
    row: bytes


def stored_id(value: int) -> int | str:
    """An id for the INTEGER column; beyond 64 bits it keeps its exact digits as text."""
    return value if -_INT64 <= value <= _INT64 else str(value)


def dumps_row(row: dict[str, Any]) -> bytes:
    """JSON bytes of a row; integers beyond 64 bits (which orjson refuses) keep their exact digits."""
    try:
        return orjson.dumps(row)
    except TypeError:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stored_row(row: dict[str, Any], row_bytes: bytes | None = None) -> StoredRow:
    """Columns of a row dict (``row_bytes`` = its JSON when already encoded)."""
    match = row.get("match")
    obj_id = _int(row.get("id"))
    return StoredRow(
        match=[m for m in match if isinstance(m, str)] if isinstance(match, list) else [],
        id=stored_id(obj_id) if obj_id is not None else None,
        type=_text(row.get("type")), itype=_text(row.get("itype")), status=_text(row.get("status")),
        confidence=_int(row.get("confidence")), modified_ts=_text(row.get("modified_ts")),
        expiration_ts=_text(row.get("expiration_ts")), update_id=_int(row.get("update_id")),
        row=row_bytes if row_bytes is not None else dumps_row(row),
    )


@dataclass(frozen=True)
class TableInfo:
    """A lookup table as listed: its active generation and size."""

    name: str
    kind: str
    row_count: int
    generation: int | None
    updated_at: str | None


def _sql_name(tid: int, generation: int) -> str:
    return f"lut_{tid}_g{generation}"


def _database_file(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row is not None else ""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LookupStore:
    """Named lookup tables on one SQLite connection (open one connection per thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # ---- writing -------------------------------------------------------------------------------------
    def begin(self, table: str, kind: str = "threatstream") -> TableWriter:
        """Start a new generation of ``table`` (created on first use); nothing is visible until ``commit``."""
        return TableWriter(self._conn, table, kind)

    def drop(self, table: str) -> None:
        """Remove ``table`` and every generation of it."""
        tid = self._tid(table)
        with transaction(self._conn):
            generations = [g for (g,) in self._conn.execute(
                "SELECT generation FROM lookup_generations WHERE tid = ?", (tid,))]
            for generation in generations:
                _drop_generation_tables(self._conn, tid, generation)
            self._conn.execute("DELETE FROM lookup_generations WHERE tid = ?", (tid,))
            self._conn.execute("DELETE FROM lookup_tables WHERE tid = ?", (tid,))

    # ---- reading -------------------------------------------------------------------------------------
    def tables(self) -> list[TableInfo]:
        """Every lookup table, by name."""
        rows = self._conn.execute(
            "SELECT name, kind, row_count, generation, updated_at FROM lookup_tables ORDER BY name").fetchall()
        return [TableInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def info(self, table: str) -> TableInfo:
        """One table's listing (``NotFoundError`` with suggestions when unknown)."""
        for found in self.tables():
            if found.name == table:
                return found
        raise self._not_found(table)

    def iter_rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Every stored row of the active generation (one consistent snapshot; consume before writing)."""
        with self._snapshot(table) as sql:
            if sql is None:
                return
            for (blob,) in self._conn.execute(f"SELECT row FROM {sql} ORDER BY rowid"):
                yield _DECODE.decode(blob)

    def iter_match_blobs(self, table: str) -> Iterator[tuple[list[str], bytes]]:
        """``(match values, row JSON bytes)`` per row of the active generation: the fast path to load a matcher."""
        with self._snapshot(table) as sql:
            if sql is None:
                return
            extras: dict[int, list[str]] = {}
            for rid, match in self._conn.execute(f"SELECT rid, match FROM {sql}_x ORDER BY rowid"):
                extras.setdefault(rid, []).append(match)
            cursor = self._conn.execute(f"SELECT rowid, match, row FROM {sql} ORDER BY rowid")
            if not extras:
                for _rid, match, blob in cursor:
                    yield ([match] if match is not None else []), blob
                return
            for rid, match, blob in cursor:
                values = [match] if match is not None else []
                yield values + extras.get(rid, []), blob

    def query(self, table: str, *, match: str | None = None, status: str | None = None, type: str | None = None,
              itype: str | None = None, min_confidence: int | None = None, limit: int = 100,
              offset: int = 0) -> list[dict[str, Any]]:
        """Rows of the active generation that pass every given filter (``match`` compared canonically)."""
        where, args = self._filters(match, status, type, itype, min_confidence)
        with self._snapshot(table) as sql:
            if sql is None:
                return []
            found = self._conn.execute(
                f"SELECT row FROM {sql} AS t{where.format(t=sql)} ORDER BY t.rowid LIMIT ? OFFSET ?",
                (*args, max(0, limit), max(0, offset))).fetchall()
        return [_DECODE.decode(blob) for (blob,) in found]

    def count(self, table: str, *, match: str | None = None, status: str | None = None, type: str | None = None,
              itype: str | None = None, min_confidence: int | None = None) -> int:
        """How many rows of the active generation pass the filters."""
        where, args = self._filters(match, status, type, itype, min_confidence)
        with self._snapshot(table) as sql:
            if sql is None:
                return 0
            return int(self._conn.execute(f"SELECT count(*) FROM {sql} AS t{where.format(t=sql)}", args).fetchone()[0])

    def summary(self, table: str) -> dict[str, dict[str, int]]:
        """Row counts of the active generation by ``type`` and by ``status``."""
        with self._snapshot(table) as sql:
            if sql is None:
                return {"type": {}, "status": {}}
            return _summary(self._conn, sql)

    # ---- internals -----------------------------------------------------------------------------------
    @staticmethod
    def _filters(match: str | None, status: str | None, type_: str | None, itype: str | None,
                 min_confidence: int | None) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        args: list[Any] = []
        if match is not None:
            value = canonical(match)
            clauses.append("(t.match = ? OR t.rowid IN (SELECT rid FROM {t}_x WHERE match = ?))")
            args += [value, value]
        for column, wanted in (("status", status), ("type", type_), ("itype", itype)):
            if wanted is not None:
                clauses.append(f"t.{column} = ?")
                args.append(wanted)
        if min_confidence is not None:
            clauses.append("t.confidence >= ?")
            args.append(min_confidence)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)

    @contextmanager
    def _snapshot(self, table: str) -> Iterator[str | None]:
        """Read the active generation's SQL name and its rows inside one read transaction."""
        owns = not self._conn.in_transaction
        if owns:
            self._conn.execute("BEGIN")
        try:
            found = self._conn.execute("SELECT tid, generation FROM lookup_tables WHERE name = ?",
                                       (table,)).fetchone()
            if found is None:
                raise self._not_found(table)
            yield _sql_name(found[0], found[1]) if found[1] is not None else None
        finally:
            if owns and self._conn.in_transaction:
                self._conn.execute("COMMIT")

    def _tid(self, table: str) -> int:
        found = self._conn.execute("SELECT tid FROM lookup_tables WHERE name = ?", (table,)).fetchone()
        if found is None:
            raise self._not_found(table)
        return int(found[0])

    def _not_found(self, table: str) -> NotFoundError:
        names = [r[0] for r in self._conn.execute("SELECT name FROM lookup_tables")]
        close = difflib.get_close_matches(table, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (
            f"; known tables: {', '.join(sorted(names))}" if names else "; run `threatmatch sync` to fill one")
        return NotFoundError(f"no lookup table named {table!r}{hint}")


def _summary(conn: sqlite3.Connection, sql: str) -> dict[str, dict[str, int]]:
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for type_, status, n in conn.execute(f"SELECT type, status, count(*) FROM {sql} GROUP BY status, type"):
        by_type[type_ or "(none)"] = by_type.get(type_ or "(none)", 0) + n
        by_status[status or "(none)"] = by_status.get(status or "(none)", 0) + n
    return {"type": dict(sorted(by_type.items())), "status": dict(sorted(by_status.items()))}


def _summary_of(counts: Counter[tuple[str | None, str | None]]) -> dict[str, dict[str, int]]:
    by_type: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for (type_, status), n in counts.items():
        by_type[type_ or "(none)"] += n
        by_status[status or "(none)"] += n
    return {"type": dict(sorted(by_type.items())), "status": dict(sorted(by_status.items()))}


def _drop_generation_tables(conn: sqlite3.Connection, tid: int, generation: int) -> None:
    sql = _sql_name(tid, generation)
    conn.execute(f"DROP TABLE IF EXISTS {sql}")
    conn.execute(f"DROP TABLE IF EXISTS {sql}_x")


class TableWriter:
    """Builds one new generation of a table; ``commit`` swaps it in, ``abort`` (or an exception) discards it.

    Rows are written in batches of ``FLUSH_ROWS`` (short transactions, so other writers are not blocked
    for the whole sync); none of them is visible before ``commit``.
    """

    def __init__(self, conn: sqlite3.Connection, table: str, kind: str) -> None:
        self._conn = conn
        self.table = table
        self.kind = kind
        self.duplicates = 0
        self.summary: dict[str, dict[str, int]] = {"type": {}, "status": {}}
        self._pending: list[tuple[Any, ...]] = []
        self._extras: list[tuple[int, str]] = []
        self._ids: set[int | str] = set()
        self._repeated = False  # an id arrived twice: dedupe needed at commit
        self._inserted = 0
        self._counts: Counter[tuple[str | None, str | None]] = Counter()
        self._done = False
        self._db_file = _database_file(conn)
        with transaction(conn):
            conn.execute("INSERT INTO lookup_tables (name, kind) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                         (table, kind))
            tid, generation = conn.execute("SELECT tid, next_generation FROM lookup_tables WHERE name = ?",
                                           (table,)).fetchone()
            self._clean_orphans(tid)
            conn.execute("UPDATE lookup_tables SET next_generation = ? WHERE tid = ?", (generation + 1, tid))
            self.tid, self.generation = int(tid), int(generation)
            self.sql = _sql_name(self.tid, self.generation)
            conn.execute(f"CREATE TABLE {self.sql} (match TEXT, id INTEGER, type TEXT, itype TEXT, status TEXT, "
                         "confidence INTEGER, modified_ts TEXT, expiration_ts TEXT, update_id INTEGER, row BLOB)")
            conn.execute(f"CREATE TABLE {self.sql}_x (rid INTEGER NOT NULL, match TEXT NOT NULL)")
            conn.execute("INSERT INTO lookup_generations (tid, generation, state, pid, host, heartbeat) "
                         "VALUES (?, ?, 'building', ?, ?, ?)",
                         (self.tid, self.generation, os.getpid(), socket.gethostname(), time.time()))
        _LIVE.add((self._db_file, self.sql))
        self._insert = _INSERT.format(t=self.sql)
        # Bulk load: no checkpoints while loading (each would fsync); the next commit after the swap does one.
        self._autocheckpoint = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        conn.execute("PRAGMA wal_autocheckpoint = 0")

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._done:
            self.abort()

    def _clean_orphans(self, tid: int) -> None:
        """Drop generations left by dead writers; refuse to start beside a live one."""
        now = time.time()
        host = socket.gethostname()
        for generation, state, pid, owner_host, heartbeat in self._conn.execute(
                "SELECT generation, state, pid, host, heartbeat FROM lookup_generations "
                "WHERE tid = ? AND state != 'active'", (tid,)).fetchall():
            sql = _sql_name(tid, generation)
            alive = state == "building" and (now - (heartbeat or 0)) < STALE_AFTER_SECONDS and (
                owner_host != host or (pid == os.getpid() and (self._db_file, sql) in _LIVE)
                or (pid != os.getpid() and _process_alive(pid)))
            if alive:
                raise StorageError(f"lookup table {self.table!r} is already being rebuilt by process {pid} on "
                                   f"{owner_host}; wait for that sync to finish")
            _drop_generation_tables(self._conn, tid, generation)
            self._conn.execute("DELETE FROM lookup_generations WHERE tid = ? AND generation = ?", (tid, generation))

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Add rows (plain dicts with at least ``match``)."""
        self.add_stored(stored_row(row) for row in rows)

    def add_stored(self, records: Iterable[StoredRow]) -> None:
        """Add already-encoded rows (the sync fast path)."""
        self._check_open()
        pending = self._pending
        ids = self._ids
        counts = self._counts
        for record in records:
            ident = record.id
            if ident is not None:
                if ident in ids:
                    self._repeated = True
                else:
                    ids.add(ident)
            counts[record.type, record.status] += 1
            match = record.match
            pending.append((match[0] if match else None, record.id, record.type, record.itype, record.status,
                            record.confidence, record.modified_ts, record.expiration_ts, record.update_id,
                            record.row))
            if len(match) > 1:
                self._extras.extend((len(pending), value) for value in match[1:])
                self._flush()
            elif len(pending) >= FLUSH_ROWS:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        self._inserted += len(self._pending)
        with transaction(self._conn):
            if self._extras:
                for index, row in enumerate(self._pending, start=1):
                    rid = self._conn.execute(self._insert, row).lastrowid
                    self._conn.executemany(f"INSERT INTO {self.sql}_x (rid, match) VALUES (?, ?)",
                                           [(rid, m) for i, m in self._extras if i == index])
                self._extras.clear()
            else:
                self._conn.executemany(self._insert, self._pending)
            self._conn.execute("UPDATE lookup_generations SET heartbeat = ? WHERE tid = ? AND generation = ?",
                               (time.time(), self.tid, self.generation))
        self._pending.clear()

    def commit(self) -> int:
        """Finish the load (dedupe, indexes) and make this generation the active one; returns its row count."""
        self._check_open()
        try:
            self._flush()
            with transaction(self._conn):
                if self._repeated:
                    self._conn.execute(f"CREATE INDEX {self.sql}_id ON {self.sql} (id, update_id)")
                    self.duplicates = self._dedupe()
                    self.summary = _summary(self._conn, self.sql)
                else:
                    self.summary = _summary_of(self._counts)
                self._conn.execute(f"CREATE INDEX {self.sql}_match ON {self.sql} (match)")
                self._conn.execute(f"CREATE INDEX {self.sql}_x_match ON {self.sql}_x (match)")
                count = self._inserted - self.duplicates
            retired = self._swap(count)
            self._restore_checkpoints()
        except BaseException:
            self.abort()
            raise
        self._done = True
        _LIVE.discard((self._db_file, self.sql))
        for generation in retired:  # after the swap: readers already use the new generation
            with transaction(self._conn):
                _drop_generation_tables(self._conn, self.tid, generation)
                self._conn.execute("DELETE FROM lookup_generations WHERE tid = ? AND generation = ?",
                                   (self.tid, generation))
        # Copy the loaded pages into the database file now (readers already use the new generation), so the
        # cost is part of the sync and the WAL does not keep a whole generation.
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return count

    def _dedupe(self) -> int:
        """Keep one row per ``id``: the highest ``update_id`` (the latest one written on ties)."""
        before = self._conn.total_changes
        self._conn.execute(
            f"DELETE FROM {self.sql} WHERE rowid IN (SELECT rowid FROM ("
            f" SELECT rowid, row_number() OVER (PARTITION BY id ORDER BY update_id DESC, rowid DESC) AS rank"
            f" FROM {self.sql} WHERE id IN (SELECT id FROM {self.sql} WHERE id IS NOT NULL"
            f" GROUP BY id HAVING count(*) > 1)) WHERE rank > 1)")
        removed = self._conn.total_changes - before
        if removed:
            self._conn.execute(f"DELETE FROM {self.sql}_x WHERE rid NOT IN (SELECT rowid FROM {self.sql})")
        return removed

    def _swap(self, count: int) -> list[int]:
        with transaction(self._conn):
            state = self._conn.execute("SELECT state FROM lookup_generations WHERE tid = ? AND generation = ?",
                                       (self.tid, self.generation)).fetchone()
            if state is None or state[0] != "building":
                raise StorageError(f"the new generation of {self.table!r} was removed by another process "
                                   "during the sync; run the sync again")
            retired = [g for (g,) in self._conn.execute(
                "SELECT generation FROM lookup_generations WHERE tid = ? AND state = 'active'", (self.tid,))]
            self._conn.execute("UPDATE lookup_generations SET state = 'retired' WHERE tid = ? AND state = 'active'",
                               (self.tid,))
            self._conn.execute("UPDATE lookup_generations SET state = 'active', heartbeat = ? "
                               "WHERE tid = ? AND generation = ?", (time.time(), self.tid, self.generation))
            self._conn.execute("UPDATE lookup_tables SET generation = ?, row_count = ?, kind = ?, "
                               "updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE tid = ?",
                               (self.generation, count, self.kind, self.tid))
        return retired

    def _restore_checkpoints(self) -> None:
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {self._autocheckpoint}")
        self._ids.clear()

    def abort(self) -> None:
        """Discard this generation; the active one is untouched."""
        if self._done:
            return
        self._done = True
        self._pending.clear()
        self._restore_checkpoints()
        _LIVE.discard((self._db_file, self.sql))
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        with transaction(self._conn):
            _drop_generation_tables(self._conn, self.tid, self.generation)
            self._conn.execute("DELETE FROM lookup_generations WHERE tid = ? AND generation = ? AND state = 'building'",
                               (self.tid, self.generation))

    def _check_open(self) -> None:
        if self._done:
            raise StorageError(f"the writer of {self.table!r} generation {self.generation} is already "
                               "committed or aborted; call LookupStore.begin() for a new one")
