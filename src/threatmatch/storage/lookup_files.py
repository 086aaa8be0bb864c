"""Where lookup-table generations live: one SQLite file per generation, beside the main database.

The main database (``threatmatch.db``) holds only the catalogue: ``lookup_tables`` (name, active
generation, row count) and ``lookup_generations`` (state and owner of each generation). The rows of
generation ``N`` of table ``tid`` are in ``<database>-lookups/lut_<tid>_g<N>.db``:

* ``lut`` — one row per indicator: the filter columns and the full row JSON (``rowid`` = arrival order);
* ``lut_x`` — extra match values of rows that have more than one (``rid`` = the row's ``rowid``);
* ``lut_counts`` — rows per (``type``, ``status``), written when the generation is finished.

A generation file is written once by one process (no journal: until the swap nobody reads it, and an
interrupted build is simply deleted), synced to disk, and never modified afterwards, so readers open it
``immutable`` (no locks, memory-mapped). Generations written by earlier versions inside the main
database (``lut_<tid>_g<N>`` tables there) are still read, and dropped by the next sync.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from threatmatch.errors import StorageError
from threatmatch.storage.db import register_schema

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

PAGE_SIZE = 65536  # large pages: fewer page headers and system calls for ~1.3 KB rows, fast full scans
MMAP_BYTES = 1 << 31  # readers map the (immutable) file instead of copying pages through read()
BUILD_CACHE_KIB = 4096  # an append-only load needs few pages cached; rows reach the file as they come
_FILE_NAME = re.compile(r"lut_(\d+)_g(\d+)\.db")
ROW_COLUMNS = "rowid, match, id, type, itype, status, confidence, update_id, row"
FILE_SCHEMA = (
    "CREATE TABLE lut (match TEXT, id INTEGER, type TEXT, itype TEXT, status TEXT, confidence INTEGER, "
    "update_id INTEGER, row BLOB)",
    "CREATE TABLE lut_x (rid INTEGER NOT NULL, match TEXT NOT NULL)",
    "CREATE TABLE lut_counts (type TEXT, status TEXT, n INTEGER NOT NULL)",
)


class Source(NamedTuple):
    """Where one generation's rows can be read: a connection and its table names."""

    conn: sqlite3.Connection
    rows: str  # the rows (columns match, type, itype, status, confidence, row; rowid = arrival order)
    extra: str  # extra match values (rid, match)
    counts: str | None  # rows per (type, status); None for a generation from an earlier version


def database_file(conn: sqlite3.Connection) -> str:
    """The main database file of ``conn`` ("" for an in-memory or temporary database)."""
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row is not None and row[2] else ""


def files_dir(db_file: str) -> Path:
    """The directory holding the generation files of the database ``db_file``."""
    if not db_file:
        raise StorageError("lookup tables need a database file (an in-memory database cannot hold them); "
                           "open the home's database with threatmatch.storage.db.connect(path)")
    return Path(db_file + "-lookups")


def generation_file(db_file: str, tid: int, generation: int) -> Path:
    return files_dir(db_file) / f"lut_{tid}_g{generation}.db"


def legacy_table(tid: int, generation: int) -> str:
    """The in-database table name earlier versions used for a generation."""
    return f"lut_{tid}_g{generation}"


def table_files(db_file: str, tid: int) -> dict[int, Path]:
    """Every generation file of table ``tid`` present on disk, by generation."""
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(files_dir(db_file)))
    except FileNotFoundError:
        return found
    for entry in entries:
        parsed = _FILE_NAME.fullmatch(entry.name)
        if parsed is not None and int(parsed[1]) == tid:
            found[int(parsed[2])] = Path(entry.path)
    return found


def drop_legacy_tables(conn: sqlite3.Connection, tid: int, generation: int) -> None:
    """Drop a generation's tables from the main database (earlier versions, or a fake left by a test)."""
    sql = legacy_table(tid, generation)
    conn.execute(f"DROP TABLE IF EXISTS {sql}")
    conn.execute(f"DROP TABLE IF EXISTS {sql}_x")


def remove_files(paths: list[Path]) -> None:
    """Delete generation files; a reader that already opened one keeps reading it until it closes."""
    for path in paths:
        path.unlink(missing_ok=True)


def create_build_file(path: Path) -> sqlite3.Connection:
    """A new, empty generation file opened for one bulk load (no journal, no syncs until ``sync_file``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a leftover of the same name can only be an abandoned build
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
        conn.execute("BEGIN")
        for statement in FILE_SCHEMA:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


def sync_file(path: Path) -> None:
    """Flush a finished generation file and its directory entry to disk (once, before the swap)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class FileReaders:
    """Read-only connections to generation files, reused while the file on disk is the same one."""

    def __init__(self) -> None:
        self._open: dict[Path, tuple[tuple[int, int, int], sqlite3.Connection]] = {}

    def get(self, path: Path) -> sqlite3.Connection | None:
        """A connection reading ``path``; None when the file is gone (a newer swap removed it)."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            self._open.pop(path, None)
            return None
        key = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
        cached = self._open.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            conn.execute("SELECT 1 FROM lut_counts LIMIT 1").fetchall()  # opens the file now
        except sqlite3.Error as exc:
            if not path.exists():
                return None  # deleted between stat and open
            raise StorageError(f"cannot read the lookup-table file {path}: {exc}. Run the provider's sync again "
                               "to rebuild the table.") from exc
        prefix = path.name.split("_g", 1)[0] + "_g"
        for other in [p for p in self._open if p.parent == path.parent and p.name.startswith(prefix)]:
            del self._open[other]  # an older generation of the same table: closed once its cursors are gone
        self._open[path] = (key, conn)
        return conn
