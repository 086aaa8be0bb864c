"""``Lake``: the one handle on the enriched-event store: write, search, prune, measure."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from threatmatch.errors import SearchError, StorageError, ThreatmatchError
from threatmatch.home import Home
from threatmatch.lake import compaction, retention, search
from threatmatch.lake.compaction import CompactionResult
from threatmatch.lake.retention import DatasetStats, PruneResult
from threatmatch.lake.search import SearchResult
from threatmatch.lake.session import Engine, Session
from threatmatch.lake.views import LookupSource, export_lookups, plan_views
from threatmatch.lake.writer import LakeWriter
from threatmatch.runtime import lower_thread_priority
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore

_ATTEMPTS = 5


class Lake:
    """Enriched events and alerts as hour-partitioned Parquet under ``home.lake``, searchable with DuckDB SQL.

    ``lookups`` is where lookup tables come from (default: the home's ``LookupStore``, opened read-only per
    search). Writes are synchronous unless ``buffer_rows`` > 0 (see ``LakeWriter``). ``search`` first flushes this
    handle's own buffer, so a handle reads its own writes, except with a background flusher
    (``flush_interval_s``), where buffered rows appear within that interval. Readers never see partial files.
    With a background flusher, closed hours are also compacted every ``compact_interval_s``.
    """

    def __init__(self, home: Home, *, lookups: LookupSource | None = None, buffer_rows: int = 0,
                 flush_interval_s: float | None = None, rows_per_file: int = 500_000,
                 compact_interval_s: float | None = 300.0) -> None:
        self.home = home
        self.root: Path = home.lake
        self._lookups = lookups
        self._writer = LakeWriter(self.root, buffer_rows=buffer_rows, flush_interval_s=flush_interval_s,
                                  rows_per_file=rows_per_file)
        self._engine = Engine(self.root)
        self.maintenance_error: ThreatmatchError | None = None
        self._stop = threading.Event()
        self._compactor: threading.Thread | None = None
        if flush_interval_s is not None and buffer_rows > 0 and compact_interval_s:
            self._compactor = threading.Thread(target=self._compact_loop, args=(compact_interval_s,),
                                               name="lake-compact", daemon=True)
            self._compactor.start()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def write_events(self, log_type: str, events: Sequence[Mapping[str, Any]]) -> int:
        """Store a batch of enriched events of ``log_type``; returns the number of events accepted (all)."""
        return self._writer.write_events(log_type, events)

    def write_table(self, log_type: str, table: pa.Table) -> int:
        """Store events already turned into their Arrow table (``lake.schema.events_table``); returns the rows."""
        return self._writer.write_table(log_type, table)

    def write_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> int:
        """Store a batch of alert dicts; returns the number accepted (all)."""
        return self._writer.write_alerts(alerts)

    def write_rejects(self, rejects: Sequence[Mapping[str, Any]]) -> int:
        """Store rejected lines (``schema.REJECT_FIXED`` keys: log type, received at, line, reason, raw)."""
        return self._writer.write_rejects(rejects)

    def flush(self) -> int:
        """Write buffered records now; returns the rows written."""
        return self._writer.flush()

    def close(self) -> None:
        """Flush and stop the background threads."""
        self._stop.set()
        if self._compactor is not None:
            self._compactor.join()
            self._compactor = None
        self._writer.close()
        self._engine.close()

    def compact(self, *, now: datetime | None = None,
                min_files: int = compaction.DEFAULT_MIN_FILES) -> CompactionResult:
        """Merge the small files of every closed hour partition (readers stay consistent meanwhile)."""
        self.flush()
        return compaction.compact(self.root, now or datetime.now(UTC), min_files=min_files)

    def _compact_loop(self, interval: float) -> None:
        # upkeep yields the CPU to ingest when both want it; it takes no lock of the writer (whose own
        # flusher writes buffered rows every few seconds), so ingest never waits for this slower thread
        lower_thread_priority()
        while not self._stop.wait(interval):
            try:
                compaction.compact(self.root, datetime.now(UTC), stop=self._stop)
                self.maintenance_error = None
            except ThreatmatchError as exc:  # kept for status pages; the next round retries
                if self._stop.is_set():
                    return  # closing: the interrupted merge left its partition as it was
                self.maintenance_error = exc

    def search(self, sql: str, *, limit: int = 1000, timeout_s: float = 30.0) -> SearchResult:
        """Run one read-only SQL statement over the views (see ``threatmatch.lake.views``)."""
        self._before_read()
        for attempt in range(_ATTEMPTS):
            warnings: list[str] = []
            try:
                with self._session(warnings) as session:
                    result = search.run(session, sql, limit=limit, timeout_s=timeout_s)
            except (SearchError, StorageError) as exc:
                if attempt + 1 < _ATTEMPTS and search.missing_file(exc):
                    continue  # a file was pruned or merged between listing and reading: list again
                raise
            result.warnings = warnings + result.warnings
            return result
        raise AssertionError("unreachable")

    def describe(self) -> dict[str, list[tuple[str, str]]]:
        """View name -> (column, DuckDB type) pairs."""
        self._before_read()
        for attempt in range(_ATTEMPTS):
            try:
                with self._session([]) as session:
                    return search.describe(session)
            except StorageError as exc:
                if attempt + 1 == _ATTEMPTS or not search.missing_file(exc):
                    raise
        raise AssertionError("unreachable")

    def views(self) -> dict[str, list[str]]:
        """View name -> column names."""
        return {view: [c for c, _ in cols] for view, cols in self.describe().items()}

    def prune(self, older_than: timedelta, *, now: datetime | None = None, dry_run: bool = False) -> PruneResult:
        """Delete whole hour partitions (events and alerts) older than ``now - older_than``."""
        self.flush()
        return retention.prune(self.root, older_than, now or datetime.now(UTC), dry_run=dry_run)

    def stats(self) -> dict[str, DatasetStats]:
        """Partitions, files, rows and bytes per log type, ``alerts`` and ``lookups``."""
        self._before_read()
        return retention.stats(self.root)

    def _before_read(self) -> None:
        """Read-your-writes: flush this handle's buffer, unless a background flusher delivers it shortly anyway
        (a server's searches must not wait for a 50k-event flush)."""
        if not self._writer.background:
            self.flush()

    @contextmanager
    def _session(self, warnings: list[str]) -> Iterator[Session]:
        self.root.mkdir(parents=True, exist_ok=True)
        exports: dict[str, Path] = {}
        try:
            with self._lookup_source() as source:
                if source is not None:
                    exports = export_lookups(self.root, source)
        except (sqlite3.Error, ThreatmatchError) as exc:
            warnings.append(f"lookup tables are not searchable right now: {exc}")
        session = self._engine.session(plan_views(self.root, exports))
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def _lookup_source(self) -> Iterator[LookupSource | None]:
        if self._lookups is not None:
            yield self._lookups
            return
        if not self.home.database.exists():
            yield None
            return
        conn = connect(self.home.database, readonly=True)
        try:
            known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lookup_tables'")
            yield LookupStore(conn) if known.fetchone() else None
        finally:
            conn.close()
