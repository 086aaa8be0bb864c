"""The long-running side of the service: database connections, tokens, metrics, the live lookup tables,
the enricher the ingest pipeline uses, and (through ``syncs.ProviderSyncs``) provider syncs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from threatmatch.enrich.config import EnrichmentConfig, LogTypeSetting
from threatmatch.errors import ThreatmatchError
from threatmatch.home import Home
from threatmatch.server import parts
from threatmatch.server.alarms import AlarmWatcher
from threatmatch.server.auth import SessionSigner, load_or_create_key
from threatmatch.server.delivery import AlertDelivery
from threatmatch.server.drafts import Drafts
from threatmatch.server.engine import Engine
from threatmatch.server.errors import ApiError
from threatmatch.server.metrics import Metrics
from threatmatch.server.settings import ServerSettings
from threatmatch.server.syncs import ProviderSyncs, SyncOutcome
from threatmatch.server.tables import TableSet
from threatmatch.server.tokens import TokenStore
from threatmatch.storage.alarms_repo import AlarmRepo
from threatmatch.storage.db import connect
from threatmatch.storage.destinations_repo import Destination, DestinationRepo
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox
from threatmatch.sync.scheduler import Scheduler

log = logging.getLogger("threatmatch.server")


class Service:
    """Owns every long-lived object of one running server."""

    def __init__(self, home: Home, settings: ServerSettings | None = None) -> None:
        self.home = home.ensure()
        self.settings = settings or ServerSettings()
        self.metrics = Metrics()
        self.signer = SessionSigner(load_or_create_key(home.root / "session.key"), self.settings.session_ttl_s)
        self.secretbox = SecretBox.for_key_file(home.secret_key)
        # with ingest workers, the workers match: this process only needs each table's size
        self.tables = TableSet(self.home, indexed=self.settings.resolved_ingest_workers() == 0)
        self.drafts = Drafts()
        self._engine: Engine | None = None
        self.scheduler: Scheduler | None = None
        self._alarms = AlarmWatcher(self.check_alarms)
        self.delivery = AlertDelivery(self._destinations, self.metrics, console_url=self.settings.console_url)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self.syncs = ProviderSyncs(self.home, self.settings, self.metrics, swap=self._swap)
        self._on_start: list[Callable[[], None]] = []
        self._on_stop: list[Callable[[], None]] = []
        self.metrics.watch_tables(self.tables.sizes)

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

    def repo(self) -> ProviderRepo:
        return ProviderRepo(self.db(), self.secretbox)

    # -- lifecycle -------------------------------------------------------------------------------
    def on_start(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in a background thread once the service has started (e.g. the demo bootstrap)."""
        self._on_start.append(callback)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the service stops (before the database closes)."""
        self._on_stop.append(callback)

    @property
    def engine(self) -> Engine:
        """The ingest path (built by ``start``)."""
        if self._engine is None:
            raise ApiError(503, "starting", "the service is still starting; retry in a moment")
        return self._engine

    def enrichment_config(self) -> EnrichmentConfig:
        return EnrichmentConfig(self.db())

    def settings_changed(self) -> None:
        """Enrichment settings or the set of providers changed: rebuild the enricher."""
        self.engine.rebuild(self.enrichment_config())

    def start(self) -> None:
        """Open the database, load every provider's table, build the engine, start the scheduler,
        then run start hooks in the background."""
        conn = self.db()
        for name in self.repo().names():
            self.tables.load(conn, name)
        self._engine = Engine(self.home, self.metrics, lambda: self.tables.live,
                              rule_paths=self.settings.rule_paths, batch_size=self.settings.batch_size,
                              workers=self.settings.resolved_ingest_workers(),
                              alert_limit=self.settings.alert_limit_per_hour)
        self.settings_changed()
        self._engine.on_alerts = self.delivery.notify
        self.delivery.start()
        if self.settings.run_scheduler:
            self.scheduler = Scheduler(lambda: self.repo().schedules(), self.syncs.scheduled,
                                       last_run=lambda name: self.syncs.last_attempt(self.repo(), name))
            self.scheduler.start(poll_s=5.0)
        self._alarms.start()
        for callback in self._on_start:
            threading.Thread(target=self._run_hook, args=(callback,), name="threatmatch-start-hook",
                             daemon=True).start()

    def destinations(self) -> DestinationRepo:
        return DestinationRepo(self.db(), self.secretbox)

    def _destinations(self) -> list[tuple[Destination, tuple[str, str] | None]]:
        """Every destination with its header (for the delivery thread)."""
        repo = self.destinations()
        return [(destination, repo.header(destination.name)) for destination in repo.list()]

    def check_alarms(self, now: datetime) -> list[dict[str, Any]]:
        """Drop-off alarms: the alerts opened at ``now`` (the watcher calls this every 30 s)."""
        return self.engine.check_alarms(AlarmRepo(self.db()).all(), now)

    @staticmethod
    def _run_hook(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("start hook %s failed", getattr(callback, "__qualname__", callback))

    def stop(self) -> None:
        self.syncs.cancel_all()  # each records its sync as interrupted; the tables in use stay as they are
        if self.scheduler is not None:
            self.scheduler.stop(timeout=5.0)
        self._alarms.stop()
        self.delivery.stop()
        for callback in reversed(self._on_stop):
            try:
                callback()
            except Exception:
                log.exception("stop hook failed")
        with self._conns_lock:
            for conn in self._conns:
                try:
                    conn.close()
                except sqlite3.Error:  # pragma: no cover - closing a connection from another thread
                    pass
            self._conns.clear()
        if self._engine is not None:
            self._engine.close()

    # -- providers -------------------------------------------------------------------------------
    def provider_added(self, name: str) -> None:
        """A provider was stored: give it a live table (empty until its first sync)."""
        if self.tables.ensure(name):
            self.settings_changed()

    def provider_removed(self, name: str) -> None:
        """A provider was deleted: drop its lookup table and stop enriching with it."""
        from threatmatch.storage.lookup_store import LookupStore

        try:
            LookupStore(self.db()).drop(name)
        except ThreatmatchError:  # never synced: no table to drop
            pass
        self.enrichment_config().reset(name)
        if self.tables.remove(name):
            self.settings_changed()

    def sync(self, name: str, *, wait: bool = False) -> Any:
        """Refresh ``name`` now and swap its live table (``ProviderSyncs.sync``)."""
        self.repo().get(name)  # NotFoundError before taking the provider's lock
        return self.syncs.sync(name, wait=wait)

    def sync_in_background(self, name: str, *, wait_s: float) -> SyncOutcome:
        return self.syncs.in_background(name, wait_s=wait_s)

    def next_run(self, name: str) -> str | None:
        """When the scheduler will refresh ``name`` next (None without a scheduler)."""
        return self.syncs.next_run(self.scheduler, name)

    def sync_running(self, name: str) -> bool:
        return self.syncs.running(name)

    def _swap(self, name: str) -> None:
        """Load ``name``'s new generation into the live tables (here and in every ingest worker)."""
        conn = connect(self.home.database)
        try:
            if self.tables.load(conn, name):
                self.settings_changed()  # a new table: workers load it as part of the new settings
            else:
                self.engine.table_swapped(name)
        finally:
            conn.close()

    # -- enriched log types -----------------------------------------------------------------------
    def enriched_log_types(self, name: str, *, include_disabled: bool = False) -> list[LogTypeSetting]:
        """The provider's "Enriched Log Types": effective setting per log type (enabled ones by default)."""
        shown = self.enrichment_config().show(name, list(self.engine.registry))
        return shown if include_disabled else [s for s in shown if s.enabled]

    def enriched_log_type_count(self, name: str) -> int | None:
        """How many log types ``name`` enriches."""
        return len(self.enriched_log_types(name))

    # -- state shown in metrics, health and the console ------------------------------------------
    def components(self) -> dict[str, bool]:
        """Which parts of the pipeline this installation has."""
        return parts.available()

    def lake_writer_alive(self) -> bool | None:
        """Whether the lake writer process runs (None before the engine starts)."""
        return None if self._engine is None else self._engine.sink.alive

    def ingest_workers(self) -> tuple[int, int] | None:
        """(running, configured) ingest worker processes; (0, 0) when requests run in this process; None before
        the engine starts."""
        if self._engine is None:
            return None
        pool = self._engine.pool
        return (0, 0) if pool is None else (pool.alive(), pool.size)

    def table_sizes(self) -> Mapping[str, int]:
        """Rows in each provider's live lookup table."""
        return self.tables.sizes()
