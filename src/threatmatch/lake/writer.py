"""Batched, crash-safe Parquet writer for enriched events and alerts.

Each flush turns the buffered records of one log type into one Arrow table, splits it by UTC hour
(``p_event_time``, else ``p_parse_time``, else the flush time) and writes one file per hour partition
(more when a partition exceeds ``rows_per_file``). A file is written under a hidden temporary name, fsynced, then
renamed into place: readers (which glob ``*.parquet``) see either the whole file or nothing.

Thread-safe: any thread may call ``write_*`` and ``flush``; the I/O runs outside the buffer lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from threatmatch.errors import StorageError
from threatmatch.lake.naming import alerts_dir, check_log_type, events_dir, rejects_dir
from threatmatch.lake.schema import (
    ALERT_TIME_COLUMNS,
    EVENT_TIME_COLUMNS,
    REJECT_TIME_COLUMNS,
    alerts_table,
    events_table,
    rejects_table,
    split_by_hour,
)

ROW_GROUP_ROWS = 65_536
_ALERTS = "\0alerts"  # buffer key of alerts (cannot collide with a log type name)
_REJECTS = "\0rejects"  # buffer key of rejected lines


def write_parquet_atomic(directory: Path, table: pa.Table, *, prefix: str = "part") -> Path:
    """Write ``table`` to ``directory/<prefix>-<uuid>.parquet`` via temp file + fsync + rename; return the path."""
    name = f"{prefix}-{uuid.uuid4().hex}.parquet"
    temp = directory / f".{name}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, temp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, directory / name)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {directory / name}: {exc}. Check free space and permissions "
                           "of the home directory (--home / $THREATMATCH_HOME).") from exc
    return directory / name


def combine_tables(tables: list[pa.Table]) -> list[pa.Table]:
    """As few tables as the schemas allow: tables whose columns agree (a missing column becomes nulls) are
    concatenated; a field that is a number in one batch and text in another splits them into separate files,
    which searches combine by name, like files of different flushes."""
    if len(tables) <= 1:
        return tables
    groups: list[tuple[pa.Schema, list[pa.Table]]] = []
    for table in tables:
        for index, (schema, members) in enumerate(groups):
            try:
                merged = pa.unify_schemas([schema, table.schema], promote_options="default")
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                continue
            members.append(table)
            groups[index] = (merged, members)
            break
        else:
            groups.append((table.schema, [table]))
    return [members[0] if len(members) == 1 else pa.concat_tables(members, promote_options="default")
            for _, members in groups]


class LakeWriter:
    """Buffers records per log type and writes hour-partitioned Parquet files.

    ``buffer_rows=0`` writes through: every ``write_*`` call has written its files when it returns.
    With ``buffer_rows > 0`` records are held until that many are buffered, ``flush()`` is called, or
    (when ``flush_interval_s`` is set) a background thread flushes them.
    """

    def __init__(self, root: Path, *, buffer_rows: int = 0, flush_interval_s: float | None = None,
                 rows_per_file: int = 500_000, clock: Callable[[], datetime] | None = None) -> None:
        self.root = root
        self.buffer_rows = buffer_rows
        self.rows_per_file = max(1, rows_per_file)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pending: dict[str, list[Mapping[str, Any]]] = {}
        self._prebuilt: dict[str, list[pa.Table]] = {}  # event tables built elsewhere (``events_table``)
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._failure: StorageError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if flush_interval_s is not None and buffer_rows > 0:
            self._thread = threading.Thread(target=self._flush_loop, args=(flush_interval_s,),
                                            name="lake-flush", daemon=True)
            self._thread.start()

    @property
    def background(self) -> bool:
        """True when a background thread flushes the buffer."""
        return self._thread is not None

    @property
    def pending_rows(self) -> int:
        """Records accepted but not yet in a file."""
        return self._pending_rows

    def write_events(self, log_type: str, events: Sequence[Mapping[str, Any]]) -> int:
        """Accept a batch of enriched events of ``log_type``; return how many were accepted (all of them)."""
        check_log_type(log_type)
        return self._accept(log_type, events)

    def write_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> int:
        """Accept a batch of alert dicts; return how many were accepted (all of them)."""
        return self._accept(_ALERTS, alerts)

    def write_rejects(self, rejects: Sequence[Mapping[str, Any]]) -> int:
        """Accept a batch of rejected lines (``schema.REJECT_FIXED`` keys); return how many were accepted (all)."""
        return self._accept(_REJECTS, rejects)

    def write_table(self, log_type: str, table: pa.Table) -> int:
        """Accept events of ``log_type`` already turned into their Arrow table by ``events_table`` (by the
        process that enriched them, so that work runs on its core); return how many rows were accepted."""
        check_log_type(log_type)
        self._raise_failure()
        if not table.num_rows:
            return 0
        with self._lock:
            self._prebuilt.setdefault(log_type, []).append(table)
            self._pending_rows += table.num_rows
            due = self._pending_rows >= self.buffer_rows
        if due:
            self.flush()
        return int(table.num_rows)

    def _accept(self, key: str, records: Sequence[Mapping[str, Any]]) -> int:
        self._raise_failure()
        if not records:
            return 0
        with self._lock:
            self._pending.setdefault(key, []).extend(records)
            self._pending_rows += len(records)
            due = self._pending_rows >= self.buffer_rows
        if due:
            self.flush()
        return len(records)

    def flush(self) -> int:
        """Write every buffered record to Parquet now; return how many rows were written."""
        with self._flush_lock:
            with self._lock:
                batches, self._pending = self._pending, {}
                prebuilt, self._prebuilt = self._prebuilt, {}
                self._pending_rows = 0
            keys = list(dict.fromkeys([*batches, *prebuilt]))
            written = 0
            for number, key in enumerate(keys):
                try:
                    written += self._write_batch(key, batches.get(key, []), prebuilt.get(key, []))
                except BaseException:
                    self._requeue(keys[number:], batches, prebuilt)
                    raise
            return written

    def close(self) -> None:
        """Stop the background flusher (if any) and write what is buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        self._raise_failure()

    def _write_batch(self, key: str, records: list[Mapping[str, Any]], prebuilt: list[pa.Table]) -> int:
        columns: Sequence[str]
        if key == _ALERTS:
            tables, columns, base = [alerts_table(records)], ALERT_TIME_COLUMNS, alerts_dir(self.root)
        elif key == _REJECTS:
            tables, columns, base = [rejects_table(records)], REJECT_TIME_COLUMNS, rejects_dir(self.root)
        else:
            tables = [*prebuilt, events_table(key, records)] if records else prebuilt
            columns, base = EVENT_TIME_COLUMNS, events_dir(self.root, key)
        written = 0
        for table in combine_tables(tables):
            for hour, part in split_by_hour(table, columns, self._clock()).items():
                for start in range(0, part.num_rows, self.rows_per_file):
                    write_parquet_atomic(base / hour.relpath(), part.slice(start, self.rows_per_file))
            written += int(table.num_rows)
        return written

    def _requeue(self, keys: list[str], batches: dict[str, list[Mapping[str, Any]]],
                 prebuilt: dict[str, list[pa.Table]]) -> None:
        with self._lock:
            for key in keys:
                records, tables = batches.get(key, []), prebuilt.get(key, [])
                if records:
                    self._pending[key] = records + self._pending.get(key, [])
                if tables:
                    self._prebuilt[key] = tables + self._prebuilt.get(key, [])
                self._pending_rows += len(records) + sum(t.num_rows for t in tables)

    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
            except StorageError as exc:  # surfaced by the next write_* / flush / close call
                self._failure = exc

    def _raise_failure(self) -> None:
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure
