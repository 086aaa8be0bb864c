"""The live lookup tables of a running service: one ``LiveTable`` per provider, loaded from the lookup store
at start and rebuilt + swapped after every successful sync (readers never wait).

A service whose ingest workers do the matching keeps tables *without* an index (``indexed=False``): only each
table's size is read from the store (for metrics and provider status), and every ``LiveTable`` stays empty. The
workers hold the indexes; a second copy here would cost the service a full index build per sync (2-3 s of CPU per
million rows, competing with ingest) and its memory.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.live import LiveTable
from threatmatch.errors import NotFoundError
from threatmatch.home import Home
from threatmatch.storage.lookup_store import LookupStore

log = logging.getLogger("threatmatch.server")


class TableSet:
    """Provider name -> ``LiveTable``. Adding or removing a table replaces the mapping (copy-on-write)."""

    def __init__(self, home: Home, *, indexed: bool = True) -> None:
        self._home = home
        self.indexed = indexed
        self._tables: dict[str, LiveTable] = {}
        self._sizes: dict[str, int] = {}  # without an index: rows of the generation last loaded, by table
        self._lock = threading.Lock()

    @property
    def live(self) -> Mapping[str, LiveTable]:
        """The current mapping (never mutated after publication)."""
        return self._tables

    def sizes(self) -> dict[str, int]:
        """Rows of each live table (of the generation last loaded, without an index)."""
        if not self.indexed:
            sizes = self._sizes
            return {name: sizes.get(name, 0) for name in self._tables}
        return {name: len(table.current) for name, table in self._tables.items()}

    def size(self, name: str) -> int:
        """Rows of ``name``'s live table (0 when it has none)."""
        return self.sizes().get(name, 0)

    def build(self, conn: sqlite3.Connection, name: str) -> TableIndex:
        """A fresh index of ``name``'s active generation (empty when the table was never synced)."""
        store = LookupStore(conn)
        try:
            store.info(name)
        except NotFoundError:
            return TableIndex.empty(name)
        return TableIndex.build(store.iter_match_blobs(name), name=name, now=datetime.now(UTC),
                                spool_dir=self._home.snapshots)

    def load(self, conn: sqlite3.Connection, name: str) -> bool:
        """(Re)build ``name`` and make it current (without an index: read its size); returns True when the table
        set changed (a new provider)."""
        if not self.indexed:
            try:
                rows = LookupStore(conn).info(name).row_count
            except NotFoundError:
                rows = 0
            with self._lock:
                self._sizes = {**self._sizes, name: rows}
                if name in self._tables:
                    return False
                self._tables = {**self._tables, name: LiveTable.empty(name)}
                return True
        index = self.build(conn, name)
        with self._lock:
            existing = self._tables.get(name)
            if existing is not None:
                existing.swap(index)
                return False
            self._tables = {**self._tables, name: LiveTable(index, name=name)}
            return True

    def ensure(self, name: str) -> bool:
        """Make sure ``name`` has a (possibly empty) live table; True when it was added."""
        with self._lock:
            if name in self._tables:
                return False
            self._tables = {**self._tables, name: LiveTable.empty(name)}
            return True

    def remove(self, name: str) -> bool:
        with self._lock:
            if name not in self._tables:
                return False
            self._tables = {k: v for k, v in self._tables.items() if k != name}
            self._sizes = {k: v for k, v in self._sizes.items() if k != name}
            return True
