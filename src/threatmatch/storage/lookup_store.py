"""Lookup tables, replaced whole by atomic generation swaps.

Each named table has generations. A sync writes a new generation into its own SQLite file
(``threatmatch.storage.lookup_files``), creates its indexes after the bulk load, syncs it to disk, and
makes it active with one small transaction in the main database that moves the table's
active-generation pointer. A finished generation file is never modified, only deleted. Readers read the
pointer in a read transaction of the main database and then the rows of the file it names, so they see
the old generation until the swap commits and the new one afterwards, never a mix. The previous
generation's file stays until the next sync of the table starts (a reader that already opened it keeps
reading it even after that). A writer killed mid-load leaves only an orphan ``building`` generation
and its file, which the next writer of that table deletes.

Per row the store keeps the filter columns (match, id, type, itype, status, confidence, update_id) and
the full row as JSON bytes; ``match`` is indexed. Within one generation rows are deduplicated by ``id``,
keeping the highest ``update_id``. Rows of every status are kept: the matcher decides. Row counts by
type and status are stored with the generation, so ``summary()`` and unfiltered counts read no rows.
"""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import msgspec

from threatmatch.errors import NotFoundError, StorageError
from threatmatch.indicators.normalize import canonical
from threatmatch.storage.db import transaction
from threatmatch.storage.lookup_files import (
    FileReaders,
    Source,
    database_file,
    drop_legacy_tables,
    generation_file,
    legacy_table,
    remove_files,
    table_files,
)
from threatmatch.storage.lookup_rows import (
    LoadRow,
    PackedRows,
    StoredRow,
    TableInfo,
    dumps_row,
    load_row,
    pack_rows,
    stored_id,
    stored_row,
    unpack_rows,
)
from threatmatch.storage.lookup_writer import TableWriter, summary_of

__all__ = ["LoadRow", "LookupStore", "PackedRows", "StoredRow", "TableInfo", "TableWriter", "dumps_row", "load_row",
           "pack_rows", "stored_id", "stored_row", "unpack_rows"]

_DECODE = msgspec.json.Decoder()
_RETRIES = 5


class _Gone(NamedTuple):
    """The generation a pointer named, whose file a newer sync has already deleted."""

    generation: int


class LookupStore:
    """Named lookup tables of one database connection (open one connection per thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._files = FileReaders()

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
                drop_legacy_tables(self._conn, tid, generation)
            self._conn.execute("DELETE FROM lookup_generations WHERE tid = ?", (tid,))
            self._conn.execute("DELETE FROM lookup_tables WHERE tid = ?", (tid,))
        db_file = database_file(self._conn)
        if db_file:
            remove_files(list(table_files(db_file, tid).values()))

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
        for blob in self.iter_row_json(table):
            yield _DECODE.decode(blob)

    def iter_row_json(self, table: str) -> Iterator[bytes]:
        """The stored JSON text of every row of the active generation (``iter_rows`` without decoding)."""
        with self._snapshot(table) as source:
            if source is None:
                return
            for (blob,) in source.conn.execute(f"SELECT row FROM {source.rows} ORDER BY rowid"):
                yield blob

    def iter_match_blobs(self, table: str) -> Iterator[tuple[list[str], bytes]]:
        """``(match values, row JSON bytes)`` per row of the active generation: the fast path to load a matcher."""
        with self._snapshot(table) as source:
            if source is None:
                return
            conn = source.conn
            extras: dict[int, list[str]] = {}
            for rid, match in conn.execute(f"SELECT rid, match FROM {source.extra} ORDER BY rowid"):
                extras.setdefault(rid, []).append(match)
            cursor = conn.execute(f"SELECT rowid, match, row FROM {source.rows} ORDER BY rowid")
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
        with self._snapshot(table) as source:
            if source is None:
                return []
            found = source.conn.execute(
                f"SELECT row FROM {source.rows} AS t{where.format(x=source.extra)} ORDER BY t.rowid LIMIT ? OFFSET ?",
                (*args, max(0, limit), max(0, offset))).fetchall()
        return [_DECODE.decode(blob) for (blob,) in found]

    def count(self, table: str, *, match: str | None = None, status: str | None = None, type: str | None = None,
              itype: str | None = None, min_confidence: int | None = None) -> int:
        """How many rows of the active generation pass the filters."""
        with self._snapshot(table) as source:
            if source is None:
                return 0
            if source.counts is not None and match is None and itype is None and min_confidence is None:
                where, args = self._filters(None, status, type, None, None)  # answered by the stored counts
                sql = f"SELECT coalesce(sum(t.n), 0) FROM {source.counts} AS t{where}"
            else:
                where, args = self._filters(match, status, type, itype, min_confidence)
                sql = f"SELECT count(*) FROM {source.rows} AS t{where.format(x=source.extra)}"
            return int(source.conn.execute(sql, args).fetchone()[0])

    def summary(self, table: str) -> dict[str, dict[str, int]]:
        """Row counts of the active generation by ``type`` and by ``status``."""
        with self._snapshot(table) as source:
            if source is None:
                return {"type": {}, "status": {}}
            if source.counts is not None:
                sql = f"SELECT type, status, n FROM {source.counts}"
            else:
                sql = f"SELECT type, status, count(*) FROM {source.rows} GROUP BY type, status"
            return summary_of(source.conn.execute(sql).fetchall())

    # ---- internals -----------------------------------------------------------------------------------
    @staticmethod
    def _filters(match: str | None, status: str | None, type_: str | None, itype: str | None,
                 min_confidence: int | None) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        args: list[Any] = []
        if match is not None:
            value = canonical(match)
            clauses.append("(t.match = ? OR t.rowid IN (SELECT rid FROM {x} WHERE match = ?))")
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
    def _snapshot(self, table: str) -> Iterator[Source | None]:
        """The active generation of ``table``, resolved inside one read transaction of the main database.

        The generation file named by the pointer is opened before the pointer can move on; if a later sync
        already removed it, the pointer is read again (it then names a newer, complete generation).
        """
        owns = not self._conn.in_transaction
        if owns:
            self._conn.execute("BEGIN")
        try:
            source = self._resolve(table)
            for _ in range(_RETRIES):
                if not isinstance(source, _Gone) or not owns:
                    break
                self._conn.execute("COMMIT")
                self._conn.execute("BEGIN")
                source = self._resolve(table)
            if isinstance(source, _Gone):
                raise StorageError(f"generation {source.generation} of lookup table {table!r} was deleted by a "
                                   "newer sync while this read was starting; read again")
            yield source
        finally:
            if owns and self._conn.in_transaction:
                self._conn.execute("COMMIT")

    def _resolve(self, table: str) -> Source | _Gone | None:
        """The active generation's rows (None: no generation yet; ``_Gone``: its file was deleted)."""
        found = self._conn.execute("SELECT tid, generation FROM lookup_tables WHERE name = ?", (table,)).fetchone()
        if found is None:
            raise self._not_found(table)
        tid, generation = found[0], found[1]
        if generation is None:
            return None
        db_file = database_file(self._conn)
        conn = self._files.get(generation_file(db_file, tid, generation)) if db_file else None
        if conn is not None:
            return Source(conn, "lut", "lut_x", "lut_counts")
        legacy = legacy_table(tid, generation)
        if self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (legacy,)).fetchone() is not None:
            return Source(self._conn, legacy, f"{legacy}_x", None)
        return _Gone(int(generation))

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
