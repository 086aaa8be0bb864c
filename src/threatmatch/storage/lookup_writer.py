"""Building one new generation of a lookup table in its own file, and swapping it in.

The caller's thread registers the generation in the main database and hands rows to a loader thread that
inserts them into the generation file: packed rows (``PackedRows``: a page's columns and row JSON in one
flat list) with a few cached multi-row ``INSERT ... VALUES`` statements each, so the loader takes the GIL about
once per pack and SQLite writes while the next page is built; rows added one by one are batched for
``executemany``. A flusher thread syncs the file to disk a step behind the load. ``commit`` finishes the file
(dedupe, counts, indexes), syncs the rest to disk, and makes it active with one small transaction in the main
database.
"""

from __future__ import annotations

import os
import queue
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

from threatmatch.errors import StorageError
from threatmatch.storage.db import transaction
from threatmatch.storage.lookup_files import (
    create_build_file,
    database_file,
    drop_legacy_tables,
    files_dir,
    generation_file,
    remove_files,
    sync_file,
    table_files,
)
from threatmatch.storage.lookup_rows import LOAD_COLUMNS, LoadRow, PackedRows, StoredRow, pack_rows, stored_row

STALE_AFTER_SECONDS = 600.0  # a building generation without a heartbeat this long is abandoned
HEARTBEAT_SECONDS = 5.0
FLUSH_ROWS = 5000
QUEUED_BATCHES = 4  # batches waiting for the loader thread: bounds memory, lets building run ahead
BACKGROUND_FLUSH_BYTES = 32 << 20  # the flusher syncs the generation file each time it grew this much
_INSERT = ("INSERT INTO lut (rowid, match, id, type, itype, status, confidence, update_id, row)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
# Packed rows get the next rowid from SQLite (largest + 1): the same arrival-order numbering. A pack is bound as
# it is, a few multi-row statements per page, so the loader thread holds the GIL about once per page.
_VALUES_HEAD = "INSERT INTO lut (match, id, type, itype, status, confidence, update_id, row) VALUES "
MAX_ROWS_PER_STATEMENT = 1000  # a whole API page in one statement
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# StoredRow fields by position: match, id, type, itype, status, confidence, (modified_ts, expiration_ts), update_id, row
_MATCH, _ID, _TYPE, _ITYPE, _STATUS, _CONFIDENCE, _UPDATE_ID, _ROW = map(itemgetter, (0, 1, 2, 3, 4, 5, 8, 9))
_LIVE: set[tuple[str, str]] = set()  # (database file, generation file) of writers alive in this process
_Batch = tuple[str | None, Any, list[tuple[int, str]]]  # (insert statement or None for a pack's params, rows, extras)


@lru_cache(maxsize=64)
def _values_sql(rows: int) -> str:
    """The INSERT of ``rows`` packed rows (the same text object each time: SQLite prepares it once)."""
    return _VALUES_HEAD + ",".join(["(?,?,?,?,?,?,?,?)"] * rows)


def statement_sizes(rows: int, limit: int) -> list[int]:
    """How many rows each statement loads for a pack of ``rows``: whole statements of at most ``limit`` rows, the
    rest in power-of-two parts, so a few statement texts cover every pack size and each is prepared only once."""
    sizes = [limit] * (rows // limit)
    rest = rows % limit
    bit = 1 << rest.bit_length()
    while rest:
        bit >>= 1
        if rest & bit:
            sizes.append(bit)
            rest -= bit
    return sizes


def _fit_integers(params: list[Any]) -> list[Any]:
    """``params`` with integers beyond 64 bits as REAL (approximate in the column; the row JSON keeps them)."""
    return [float(v) if type(v) is int and not _INT64_MIN <= v <= _INT64_MAX else v for v in params]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def summary_of(counts: Iterable[tuple[str | None, str | None, int]]) -> dict[str, dict[str, int]]:
    """Row counts by ``type`` and by ``status`` from (type, status, rows) triples."""
    by_type: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for type_, status, n in counts:
        by_type[type_ or "(none)"] += n
        by_status[status or "(none)"] += n
    return {"type": dict(sorted(by_type.items())), "status": dict(sorted(by_status.items()))}


class _Flusher:
    """A thread writing the generation file's data to disk while the load goes on, a step behind it, so the
    sync to disk before the swap only waits for the last few megabytes."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._wanted = threading.Event()
        self._stop = False
        self._flushed = 0
        self._thread = threading.Thread(target=self._run, name="lookup-flusher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stop:
                return
            try:
                os.fdatasync(self._fd)
            except OSError:  # the final sync_file reports any real failure
                return

    def written(self) -> None:
        """Called after each write: asks for a flush once enough new data is in the file."""
        size = os.fstat(self._fd).st_size
        if size - self._flushed >= BACKGROUND_FLUSH_BYTES:
            self._flushed = size
            self._wanted.set()

    def close(self) -> None:
        if self._stop:
            return
        self._stop = True
        self._wanted.set()
        self._thread.join()
        os.close(self._fd)


class _Loader:
    """A thread inserting queued batches into the generation file; its error is raised to the caller."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.error: BaseException | None = None
        self._cancel = False
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._per_statement = max(1, min(MAX_ROWS_PER_STATEMENT,
                                         conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // LOAD_COLUMNS))
        try:
            self._flusher = _Flusher(path)
        except OSError:
            conn.close()
            raise
        self._thread = threading.Thread(target=self._run, name="lookup-loader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self.error is not None or self._cancel:
                continue  # keep draining so the producer never blocks
            try:
                if batch[0] is None:
                    self._insert_params(batch[1])
                else:
                    try:
                        self.conn.executemany(batch[0], batch[1])
                    except OverflowError:  # an integer beyond 64 bits: the rows before it are written again
                        self.conn.execute("DELETE FROM lut WHERE rowid >= ?", (batch[1][0][0],))
                        self.conn.executemany(batch[0], map(_fit_integers, batch[1]))
                if batch[2]:
                    self.conn.executemany("INSERT INTO lut_x (rid, match) VALUES (?, ?)", batch[2])
                self._flusher.written()
            except BaseException as exc:  # reported by put()/finish() in the caller's thread
                self.error = exc

    def _insert_params(self, params: list[Any]) -> None:
        """Insert a pack's rows with a few multi-row statements."""
        start = 0
        for rows in statement_sizes(len(params) // LOAD_COLUMNS, self._per_statement):
            end = start + rows * LOAD_COLUMNS
            chunk = params[start:end] if start or end < len(params) else params
            try:
                self.conn.execute(_values_sql(rows), chunk)
            except OverflowError:  # an integer beyond 64 bits; binding failed before anything was written
                self.conn.execute(_values_sql(rows), _fit_integers(chunk))
            start = end

    def put(self, batch: _Batch) -> None:
        self._raise()
        self._queue.put(batch)

    def finish(self, *, cancel: bool = False) -> None:
        """Wait until every queued batch is written (or dropped when ``cancel``)."""
        self._cancel = cancel
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._flusher.close()
        if not cancel:
            self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class TableWriter:
    """Builds one new generation of a table; ``commit`` swaps it in, ``abort`` (or an exception) discards it.

    Rows are loaded into the generation's own file, which no reader opens before ``commit``.
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
        self._heartbeat = time.monotonic()
        self._db_file = database_file(conn)
        files_dir(self._db_file)  # refuses an in-memory database before anything is written
        with transaction(conn):
            conn.execute("INSERT INTO lookup_tables (name, kind) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                         (table, kind))
            tid, generation = conn.execute("SELECT tid, next_generation FROM lookup_tables WHERE name = ?",
                                           (table,)).fetchone()
            self.tid, self.generation = int(tid), int(generation)
            stale = self._clean_orphans()
            conn.execute("UPDATE lookup_tables SET next_generation = ? WHERE tid = ?", (generation + 1, tid))
            conn.execute("INSERT INTO lookup_generations (tid, generation, state, pid, host, heartbeat) "
                         "VALUES (?, ?, 'building', ?, ?, ?)",
                         (self.tid, self.generation, os.getpid(), socket.gethostname(), time.time()))
        self.path = generation_file(self._db_file, self.tid, self.generation)
        _LIVE.add((self._db_file, str(self.path)))
        remove_files(stale)
        try:
            self._loader = _Loader(create_build_file(self.path), self.path)
        except BaseException:
            self._done = True
            self._forget()
            raise

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._done:
            self.abort()

    def _clean_orphans(self) -> list[Path]:
        """Forget retired generations and those of dead writers (their files are returned for deletion);
        refuse to start beside a live writer."""
        now = time.time()
        host = socket.gethostname()
        keep: set[int] = set()
        for generation, state, pid, owner_host, heartbeat in self._conn.execute(
                "SELECT generation, state, pid, host, heartbeat FROM lookup_generations WHERE tid = ?",
                (self.tid,)).fetchall():
            if state == "active":
                keep.add(generation)
                continue
            path = str(generation_file(self._db_file, self.tid, generation))
            alive = state == "building" and (now - (heartbeat or 0)) < STALE_AFTER_SECONDS and (
                owner_host != host or (pid == os.getpid() and (self._db_file, path) in _LIVE)
                or (pid != os.getpid() and _process_alive(pid)))
            if alive:
                raise StorageError(f"lookup table {self.table!r} is already being rebuilt by process {pid} on "
                                   f"{owner_host}; wait for that sync to finish")
            drop_legacy_tables(self._conn, self.tid, generation)
            self._conn.execute("DELETE FROM lookup_generations WHERE tid = ? AND generation = ?",
                               (self.tid, generation))
        return [path for generation, path in table_files(self._db_file, self.tid).items() if generation not in keep]

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Add rows (plain dicts with at least ``match``)."""
        self.add_stored(stored_row(row) for row in rows)

    def add_stored(self, records: Iterable[StoredRow]) -> None:
        """Add already-encoded rows (the sync fast path: column-wise, so the per-row work runs in C)."""
        self._check_open()
        rows = records if isinstance(records, list) else list(records)
        for start in range(0, len(rows), FLUSH_ROWS):
            self._add_chunk(rows[start:start + FLUSH_ROWS] if len(rows) > FLUSH_ROWS else rows)
            if len(self._pending) >= FLUSH_ROWS:
                self._flush()

    def add_loaded(self, rows: list[LoadRow]) -> None:
        """Add rows in load shape."""
        if rows:
            self.add_packed(pack_rows(rows))

    def add_packed(self, packed: PackedRows) -> None:
        """Add packed rows (the sync fast path: no per-row Python work here, one statement in the loader)."""
        self._check_open()
        if not packed.params:
            return
        if len(packed.params) % LOAD_COLUMNS:
            raise StorageError(f"a pack of rows holds {len(packed.params)} values, not a multiple of "
                               f"{LOAD_COLUMNS}; build it with pack_rows()")
        self._flush()  # rows added one by one before these are written first: arrival order is kept
        ids = packed.ids
        self._note_ids(ids)
        for type_, status, n in packed.counts:
            self._counts[(type_, status)] += n
        self._inserted += len(ids)
        self._loader.put((None, packed.params, []))
        self._beat()

    def _note_ids(self, ids: list[Any]) -> None:
        """Remember the ids (``int | str | None``); a repeated one means dedupe at commit."""
        missing = ids.count(None)  # rows without an id are never duplicates
        before = len(self._ids)
        self._ids.update(ids if not missing else (i for i in ids if i is not None))
        if len(self._ids) - before != len(ids) - missing:
            self._repeated = True

    def _add_chunk(self, rows: list[StoredRow]) -> None:
        if not rows:
            return
        ids = list(map(_ID, rows))
        self._note_ids(ids)
        types, statuses = list(map(_TYPE, rows)), list(map(_STATUS, rows))
        self._counts.update(zip(types, statuses, strict=True))
        matches = list(map(_MATCH, rows))
        first = self._inserted + len(self._pending) + 1
        self._pending.extend(zip(
            range(first, first + len(rows)), [m[0] if m else None for m in matches], ids, types,
            map(_ITYPE, rows), statuses, map(_CONFIDENCE, rows), map(_UPDATE_ID, rows), map(_ROW, rows), strict=True))
        for offset in [i for i, m in enumerate(matches) if len(m) > 1]:
            self._extras.extend((first + offset, value) for value in matches[offset][1:])

    def _flush(self) -> None:
        if not self._pending:
            return
        self._inserted += len(self._pending)
        self._loader.put((_INSERT, self._pending, self._extras))
        self._pending, self._extras = [], []
        self._beat()

    def _beat(self) -> None:
        if time.monotonic() - self._heartbeat > HEARTBEAT_SECONDS:
            self._heartbeat = time.monotonic()
            with transaction(self._conn):
                self._conn.execute("UPDATE lookup_generations SET heartbeat = ? WHERE tid = ? AND generation = ?",
                                   (time.time(), self.tid, self.generation))

    def commit(self) -> int:
        """Finish the load (dedupe, counts, indexes, sync to disk) and make this generation the active one;
        returns its row count."""
        self._check_open()
        try:
            self._flush()
            self._loader.finish()
            self._finish_file()
            sync_file(self.path)
            count = self._inserted - self.duplicates
            self._swap(count)
        except BaseException:
            self.abort()
            raise
        self._done = True
        _LIVE.discard((self._db_file, str(self.path)))
        self._ids.clear()
        return count

    def _finish_file(self) -> None:
        conn = self._loader.conn
        if self._repeated:
            conn.execute("CREATE INDEX lut_id ON lut (id, update_id)")
            self.duplicates = self._dedupe(conn)
            counts: list[tuple[str | None, str | None, int]] = conn.execute(
                "SELECT type, status, count(*) FROM lut GROUP BY type, status").fetchall()
        else:
            counts = [(type_, status, n) for (type_, status), n in self._counts.items()]
        conn.executemany("INSERT INTO lut_counts (type, status, n) VALUES (?, ?, ?)", counts)
        self.summary = summary_of(counts)
        conn.execute("CREATE INDEX lut_match ON lut (match)")
        conn.execute("CREATE INDEX lut_x_match ON lut_x (match)")
        conn.execute("COMMIT")
        conn.close()

    @staticmethod
    def _dedupe(conn: sqlite3.Connection) -> int:
        """Keep one row per ``id``: the highest ``update_id`` (the latest one written on ties)."""
        before = conn.total_changes
        conn.execute(
            "DELETE FROM lut WHERE rowid IN (SELECT rowid FROM ("
            " SELECT rowid, row_number() OVER (PARTITION BY id ORDER BY update_id DESC, rowid DESC) AS rank"
            " FROM lut WHERE id IN (SELECT id FROM lut WHERE id IS NOT NULL"
            " GROUP BY id HAVING count(*) > 1)) WHERE rank > 1)")
        removed = conn.total_changes - before
        if removed:
            conn.execute("DELETE FROM lut_x WHERE rid NOT IN (SELECT rowid FROM lut)")
        return removed

    def _swap(self, count: int) -> None:
        """Point the table at this generation: one small transaction, synced to disk before it returns."""
        conn = self._conn
        previous = conn.execute("PRAGMA synchronous").fetchone()[0]
        conn.execute("PRAGMA synchronous = FULL")  # durable before any later sync deletes the retired file
        try:
            with transaction(conn):
                state = conn.execute("SELECT state FROM lookup_generations WHERE tid = ? AND generation = ?",
                                     (self.tid, self.generation)).fetchone()
                if state is None or state[0] != "building":
                    raise StorageError(f"the new generation of {self.table!r} was removed by another process "
                                       "during the sync; run the sync again")
                conn.execute("UPDATE lookup_generations SET state = 'retired' WHERE tid = ? AND state = 'active'",
                             (self.tid,))
                conn.execute("UPDATE lookup_generations SET state = 'active', heartbeat = ? "
                             "WHERE tid = ? AND generation = ?", (time.time(), self.tid, self.generation))
                conn.execute("UPDATE lookup_tables SET generation = ?, row_count = ?, kind = ?, "
                             "updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE tid = ?",
                             (self.generation, count, self.kind, self.tid))
        finally:
            conn.execute(f"PRAGMA synchronous = {int(previous)}")

    def abort(self) -> None:
        """Discard this generation; the active one is untouched."""
        if self._done:
            return
        self._done = True
        self._pending.clear()
        self._ids.clear()
        self._loader.finish(cancel=True)
        self._loader.conn.close()
        self._forget()

    def _forget(self) -> None:
        """Remove this generation's catalogue entry and file (never the active generation's)."""
        _LIVE.discard((self._db_file, str(self.path)))
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        with transaction(self._conn):
            self._conn.execute("DELETE FROM lookup_generations WHERE tid = ? AND generation = ? "
                               "AND state = 'building'", (self.tid, self.generation))
        remove_files([self.path])

    def _check_open(self) -> None:
        if self._done:
            raise StorageError(f"the writer of {self.table!r} generation {self.generation} is already "
                               "committed or aborted; call LookupStore.begin() for a new one")
