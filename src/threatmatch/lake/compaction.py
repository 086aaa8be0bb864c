"""Merge the many small files of a closed hour partition into one, without readers ever seeing rows twice or
missing.

A buffered writer flushing every few seconds leaves thousands of small files per hour; every search reads each
file's footer, so they are merged once their hour is over. One compaction of a partition, under an exclusive
``flock`` on ``<partition>/.lock``:

1. finish any earlier interrupted compaction (its manifest says what it replaced);
2. write the merged file under a temporary name (DuckDB, ``union_by_name``: the same typing as the views);
3. write a manifest ``_replaced-<uuid>.json`` naming the merged file and the files it replaces;
4. rename the merged file into place, delete the replaced files, delete the manifest.

Readers (``visible_files``) list the parquet files first and the manifests second: if they saw the merged file,
they also see its manifest and skip the replaced files; if they picked up a replaced file that is deleted before
the query reads it, the search fails with a missing file and is retried on a fresh listing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import orjson

from threatmatch.errors import StorageError
from threatmatch.lake.listing import MANIFEST_GLOB, visible_files
from threatmatch.lake.retention import Partition, partitions

DEFAULT_MIN_FILES = 4
STOP_POLL_S = 0.25  # how often a running merge checks whether the lake is closing
SETTLE = timedelta(minutes=5)  # an hour is compacted once it ended this long ago (late flushes land first)
#: Files at least this large are already merged enough and are never rewritten. Without it, an hour that keeps
#: receiving events (a backfill of old logs, replayed samples) was rewritten whole, big file included, on
#: every round: work growing with the partition, every five minutes.
LARGE_FILE_BYTES = 64 * 1024 * 1024


@dataclass
class CompactionResult:
    """Partitions merged, files before and after."""

    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    skipped_busy: int = 0
    datasets: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[bool]:
    try:
        handle = open(directory / ".lock", "a+b")  # noqa: SIM115 - closed in finally
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        handle.close()


def _finish_interrupted(directory: Path) -> None:
    for manifest in directory.glob(MANIFEST_GLOB):
        try:
            content = orjson.loads(manifest.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            content = {}
        if (directory / str(content.get("compacted", ""))).exists():
            for name in content.get("replaces", []):
                (directory / str(name)).unlink(missing_ok=True)
        manifest.unlink(missing_ok=True)
    for temp in directory.glob(".compact-*.tmp"):
        temp.unlink(missing_ok=True)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _small(files: list[Path]) -> list[Path]:
    """The files still worth merging (smaller than LARGE_FILE_BYTES; one that vanished meanwhile is left out)."""
    small = []
    for file in files:
        try:
            if file.stat().st_size < LARGE_FILE_BYTES:
                small.append(file)
        except OSError:
            continue
    return small


def _interrupt_on(stop: threading.Event, conn: duckdb.DuckDBPyConnection, finished: threading.Event) -> None:
    while not finished.is_set():
        if stop.wait(STOP_POLL_S):
            with contextlib.suppress(duckdb.Error):  # the merge ended and closed its connection meanwhile
                conn.interrupt()
            return


def _merge(files: list[Path], target: Path, stop: threading.Event | None = None) -> None:
    listed = ", ".join(_sql_text(f.as_posix()) for f in files)
    # one thread: compaction is background upkeep and must leave the other cores to ingest
    conn = duckdb.connect(":memory:", config={"threads": 1})
    finished = threading.Event()
    if stop is not None:  # a merge of a large hour takes minutes at low priority: stopping must not wait for it
        threading.Thread(target=_interrupt_on, args=(stop, conn, finished), name="threatmatch-compact-stop",
                         daemon=True).start()
    try:
        if stop is not None and stop.is_set():
            raise StorageError("compaction stopped before it started")
        conn.execute(f"COPY (SELECT * FROM read_parquet([{listed}], union_by_name=true, hive_partitioning=false)) "
                     f"TO {_sql_text(target.as_posix())} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)")
    finally:
        finished.set()
        conn.close()
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def compact_partition(directory: Path, *, min_files: int = DEFAULT_MIN_FILES,
                      stop: threading.Event | None = None) -> tuple[int, int] | None:
    """Merge the partition's files when it has at least ``min_files``: (files before, after); (0, 0) when there
    is nothing to merge; None when another process is compacting it. Setting ``stop`` interrupts the merge
    (``StorageError``; the original files stay as they are)."""
    with _locked(directory) as locked:
        if not locked:
            return None
        _finish_interrupted(directory)
        files = _small(visible_files(directory))
        if len(files) < max(2, min_files):
            return 0, 0
        name = f"part-{uuid.uuid4().hex}.parquet"
        temp = directory / f".compact-{uuid.uuid4().hex}.tmp"
        manifest = directory / f"_replaced-{uuid.uuid4().hex}.json"
        try:
            _merge(files, temp, stop)
            staged = manifest.with_name("." + manifest.name + ".tmp")
            staged.write_bytes(orjson.dumps({"compacted": name, "replaces": [f.name for f in files]}))
            os.replace(staged, manifest)
            os.replace(temp, directory / name)
        except (OSError, duckdb.Error, StorageError) as exc:
            temp.unlink(missing_ok=True)
            manifest.unlink(missing_ok=True)
            raise StorageError(f"cannot compact {directory}: {exc}; the original files are untouched") from exc
        for old in files:
            old.unlink(missing_ok=True)
        manifest.unlink(missing_ok=True)
        return len(files), 1


def due(parts: list[Partition], now: datetime, settle: timedelta = SETTLE) -> list[Partition]:
    """Partitions whose hour ended at least ``settle`` before ``now`` (pure)."""
    return [p for p in parts if p.hour.end + settle <= now]


def compact(lake: Path, now: datetime, *, min_files: int = DEFAULT_MIN_FILES,
            settle: timedelta = SETTLE, stop: threading.Event | None = None) -> CompactionResult:
    """Merge every closed hour partition holding at least ``min_files`` files; ``stop`` ends the round early
    (a merge in progress is interrupted: ``StorageError``, its partition left as it was)."""
    result = CompactionResult()
    for part in due(partitions(lake), now, settle):
        if stop is not None and stop.is_set():
            break
        if len(_small(list(part.path.glob("*.parquet")))) < max(2, min_files):
            continue
        done = compact_partition(part.path, min_files=min_files, stop=stop)
        if done is None:
            result.skipped_busy += 1
            continue
        if done == (0, 0):
            continue
        result.partitions += 1
        result.files_before += done[0]
        result.files_after += done[1]
        result.datasets[part.dataset] = result.datasets.get(part.dataset, 0) + 1
    return result
