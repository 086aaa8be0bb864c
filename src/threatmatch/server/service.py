"""The long-running side of the service: database connections, tokens, metrics, and (as wired in
``wiring.py``) the lookup tables, the enrichment + detection pipeline, the lake and the scheduler.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from typing import Any

from threatmatch.home import Home
from threatmatch.server import parts
from threatmatch.server.auth import SessionSigner, load_or_create_key
from threatmatch.server.metrics import Metrics
from threatmatch.server.settings import ServerSettings
from threatmatch.server.tokens import TokenStore
from threatmatch.storage.db import connect

log = logging.getLogger("threatmatch.server")


class Service:
    """Owns every long-lived object of one running server."""

    def __init__(self, home: Home, settings: ServerSettings | None = None) -> None:
        self.home = home.ensure()
        self.settings = settings or ServerSettings()
        self.metrics = Metrics()
        self.signer = SessionSigner(load_or_create_key(home.root / "session.key"), self.settings.session_ttl_s)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._on_start: list[Callable[[], None]] = []
        self.metrics.watch_tables(self.table_sizes)

    # -- database --------------------------------------------------------------------------------
    def db(self) -> sqlite3.Connection:
        """This thread's connection to the embedded database (SQLite connections are not shared)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.home.database)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def tokens(self) -> TokenStore:
        return TokenStore(self.db())

    # -- lifecycle -------------------------------------------------------------------------------
    def on_start(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in a background thread once the service has started (e.g. the demo bootstrap)."""
        self._on_start.append(callback)

    def start(self) -> None:
        """Open the database (creating its schema) before the first request, then run start hooks."""
        self.db()
        for callback in self._on_start:
            threading.Thread(target=self._run_hook, args=(callback,), name="threatmatch-start-hook",
                             daemon=True).start()

    @staticmethod
    def _run_hook(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("start hook %s failed", getattr(callback, "__qualname__", callback))

    def stop(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                try:
                    conn.close()
                except sqlite3.Error:  # pragma: no cover - closing a connection from another thread
                    pass
            self._conns.clear()

    # -- state shown in metrics and health --------------------------------------------------------
    def components(self) -> dict[str, bool]:
        """Which parts of the pipeline this installation has."""
        return parts.available()

    def provider_summaries(self) -> list[dict[str, Any]]:
        """One row per provider for the Enrichments list."""
        return []

    def table_sizes(self) -> Mapping[str, int]:
        """Rows in each provider's live lookup table."""
        return {}
