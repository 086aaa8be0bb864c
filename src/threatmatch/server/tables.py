"""The live lookup tables of a running service: one ``LiveTable`` per provider, loaded from the lookup store
at start and rebuilt + swapped after every successful sync (readers never wait)."""

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

    def __init__(self, home: Home) -> None:
        self._home = home
        self._tables: dict[str, LiveTable] = {}
        self._lock = threading.Lock()

    @property
    def live(self) -> Mapping[str, LiveTable]:
        """The current mapping (never mutated after publication)."""
        return self._tables

    def sizes(self) -> dict[str, int]:
        return {name: len(table.current) for name, table in self._tables.items()}

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
        """(Re)build ``name`` and make it current; returns True when the table set changed (a new provider)."""
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
            return True
