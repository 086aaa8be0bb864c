"""Compaction: small files of closed hours merge into one, and readers never see rows twice or missing."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from tests.lake.builders import cloudtrail

from threatmatch.errors import StorageError
from threatmatch.home import Home
from threatmatch.lake import Lake, compaction
from threatmatch.lake.compaction import _locked, compact_partition
from threatmatch.lake.listing import visible_files
from threatmatch.runtime import lower_thread_priority

HOUR = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
AFTER = HOUR + timedelta(hours=2)


def _partition(home: Home, hour: datetime = HOUR) -> Path:
    return home.lake / "events" / "log_type=AWS.CloudTrail" / f"dt={hour.date()}" / f"hour={hour.hour:02d}"


def _write(lake: Lake, batches: int, size: int = 5, start: int = 0, when: datetime = HOUR) -> None:
    for b in range(batches):
        lake.write_events("AWS.CloudTrail", [cloudtrail(start + b * size + i, when + timedelta(minutes=b), "10.0.0.1")
                                             for i in range(size)])


class TestCompact:
    def test_merges_closed_hours_into_one_file(self, lake: Lake, home: Home) -> None:
        """Many files of a closed hour become one; every row and value is kept."""
        _write(lake, 6)
        before = lake.search("SELECT * FROM aws_cloudtrail ORDER BY p_row_id", limit=100).rows
        result = lake.compact(now=AFTER)
        assert (result.partitions, result.files_before, result.files_after) == (1, 6, 1)
        assert len(list(_partition(home).glob("*.parquet"))) == 1
        assert lake.search("SELECT * FROM aws_cloudtrail ORDER BY p_row_id", limit=100).rows == before

    def test_large_files_are_never_rewritten(self, lake: Lake, home: Home,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """An hour that keeps receiving events (a backfill) has its new small files merged; a file already
        large is left as it is, so each round's work is the new data, not the whole partition again."""
        _write(lake, 6, size=300)
        lake.compact(now=AFTER)
        [merged] = _partition(home).glob("*.parquet")
        monkeypatch.setattr(compaction, "LARGE_FILE_BYTES", merged.stat().st_size)
        _write(lake, 4, start=10_000)
        before = lake.search("SELECT * FROM aws_cloudtrail ORDER BY p_row_id", limit=5000).rows
        result = lake.compact(now=AFTER)
        assert (result.partitions, result.files_before, result.files_after) == (1, 4, 1)
        assert merged.exists() and len(list(_partition(home).glob("*.parquet"))) == 2
        assert lake.compact(now=AFTER, min_files=2).partitions == 0  # one small file and one large: done
        assert lake.search("SELECT * FROM aws_cloudtrail ORDER BY p_row_id", limit=5000).rows == before
        assert len(before) == 6 * 300 + 4 * 5

    def test_current_hour_and_few_files_are_left_alone(self, lake: Lake, home: Home) -> None:
        """An hour still open (or just closed), or holding fewer than min_files files, is not merged."""
        _write(lake, 6)
        assert lake.compact(now=HOUR + timedelta(minutes=30)).partitions == 0
        assert lake.compact(now=AFTER, min_files=7).partitions == 0
        assert len(list(_partition(home).glob("*.parquet"))) == 6

    def test_schema_drift_survives_the_merge(self, lake: Lake) -> None:
        """Files with different columns and types merge with the same typing the views use."""
        for n, value in enumerate([5, "E42", {"a": 1}, True]):
            event = {"p_row_id": str(n), "p_event_time": "2024-01-15 10:00:00", "code": value}
            lake.write_events("Custom.App", [event])
        before = lake.search("SELECT p_row_id, code FROM custom_app ORDER BY 1").rows
        assert lake.compact(now=AFTER).partitions == 1
        assert lake.search("SELECT p_row_id, code FROM custom_app ORDER BY 1").rows == before
        assert lake.search("SELECT p_enrichment_matches, event FROM custom_app LIMIT 1").types == [
            'STRUCT(provider VARCHAR, selector VARCHAR, "match" VARCHAR, "row" JSON)[]', "JSON"]

    def test_busy_partition_is_skipped(self, lake: Lake, home: Home) -> None:
        """While another compactor holds a partition's lock, it is skipped, not merged twice."""
        _write(lake, 4)
        with _locked(_partition(home)) as locked:
            assert locked
            assert compact_partition(_partition(home), min_files=2) is None
        assert compact_partition(_partition(home), min_files=2) == (4, 1)


def _big_partition(home: Home, files: int = 4, rows: int = 1_500_000) -> list[Path]:
    """A closed hour of a few large-ish files (written by DuckDB), whose merge takes seconds."""
    import duckdb

    part = _partition(home)
    part.mkdir(parents=True)
    with duckdb.connect() as conn:
        for n in range(files):
            target = (part / f"part-{n}.parquet").as_posix()
            conn.execute(f"COPY (SELECT {n} * {rows} + i AS id, md5(i::VARCHAR) AS a, md5((i + 1)::VARCHAR) AS b "
                         f"FROM range({rows}) t(i)) TO '{target}' (FORMAT parquet)").fetchall()
    return sorted(part.glob("*.parquet"))


class TestStop:
    def test_a_set_stop_merges_nothing(self, lake: Lake, home: Home) -> None:
        _write(lake, 6)
        before = sorted(_partition(home).glob("*.parquet"))
        stop = threading.Event()
        stop.set()
        assert compaction.compact(home.lake, AFTER, stop=stop).partitions == 0
        with pytest.raises(StorageError, match="original files are untouched"):
            compact_partition(_partition(home), min_files=2, stop=stop)
        assert sorted(_partition(home).glob("*.parquet")) == before

    def test_stop_interrupts_a_running_merge(self, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
        """Closing the lake does not wait for a long merge: it is interrupted, its partition left as it was."""
        monkeypatch.setattr(compaction, "LARGE_FILE_BYTES", 1 << 40)  # these files are to be merged, however large
        before = _big_partition(home)
        stop = threading.Event()
        outcome: dict[str, BaseException | tuple[int, int] | None] = {}

        def run() -> None:
            try:
                outcome["done"] = compact_partition(_partition(home), min_files=2, stop=stop)
            except StorageError as exc:
                outcome["error"] = exc

        merging = threading.Thread(target=run)
        merging.start()
        deadline = time.monotonic() + 10
        while not list(_partition(home).glob(".compact-*")) and merging.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # the merge has started writing
        stop.set()
        stopped = time.monotonic()
        merging.join(timeout=30)
        assert "error" in outcome, f"the merge finished before it could be stopped: {outcome}"
        assert time.monotonic() - stopped < 3 * compaction.STOP_POLL_S + 2
        assert sorted(_partition(home).glob("*.parquet")) == before
        assert not list(_partition(home).glob(".compact-*")) and not list(_partition(home).glob("_replaced-*"))


class TestCrashRecovery:
    def test_manifest_hides_replaced_files_once_merged_file_exists(self, lake: Lake, home: Home) -> None:
        """A crash after the rename but before deleting old files: readers skip them, the next run deletes them."""
        _write(lake, 3)
        part = _partition(home)
        old = sorted(part.glob("*.parquet"))
        merged = part / "part-merged.parquet"
        pq.write_table(pq.read_table(old[0]).slice(0, 0), merged)  # stands for the merged file: empty is enough
        manifest = {"compacted": merged.name, "replaces": [f.name for f in old]}
        (part / "_replaced-x.json").write_bytes(orjson.dumps(manifest))
        assert visible_files(part) == [merged]
        compact_partition(part, min_files=2)
        assert sorted(part.iterdir()) == sorted([merged, part / ".lock"])

    def test_manifest_without_merged_file_hides_nothing(self, lake: Lake, home: Home) -> None:
        """A crash before the rename: the manifest is ignored by readers and removed by the next run."""
        _write(lake, 3)
        part = _partition(home)
        (part / "_replaced-y.json").write_bytes(orjson.dumps({"compacted": "part-never.parquet",
                                                               "replaces": [f.name for f in part.glob("*.parquet")]}))
        (part / ".compact-dead.tmp").write_bytes(b"PAR1 half")
        assert len(visible_files(part)) == 3
        assert lake.search("SELECT count(*) FROM aws_cloudtrail").rows == [[15]]
        assert compact_partition(part, min_files=2) == (3, 1)
        assert not list(part.glob("_replaced-*")) and not list(part.glob(".compact-*"))
        assert lake.search("SELECT count(*) FROM aws_cloudtrail").rows == [[15]]


def test_readers_see_whole_batches_while_writing_and_compacting(home: Home) -> None:
    """Searches during concurrent late writes and repeated compactions always count whole batches, never twice."""
    batch, rounds = 10, 15
    errors: list[BaseException] = []
    counts: list[int] = []
    writing = threading.Event()
    writing.set()

    def writer() -> None:
        lake = Lake(home)
        try:
            _write(lake, rounds, size=batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            writing.clear()

    def compactor() -> None:
        lake = Lake(home)
        try:
            while writing.is_set():
                lake.compact(now=AFTER, min_files=2)
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        lake = Lake(home)
        try:
            while writing.is_set():
                counts.append(lake.search("SELECT count(*), count(DISTINCT p_row_id) FROM all_events").rows[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=t) for t in (writer, compactor, reader, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts and all(total == distinct and total % batch == 0 for total, distinct in counts)
    Lake(home).compact(now=AFTER, min_files=2)
    assert Lake(home).search("SELECT count(DISTINCT p_row_id), count(*) FROM aws_cloudtrail").rows == [
        [batch * rounds, batch * rounds]]
    assert len(list(_partition(home).glob("*.parquet"))) == 1


def test_buffered_lake_compacts_in_the_background(home: Home) -> None:
    """A server-style Lake (background flush) also merges closed hours on its own."""
    lake = Lake(home, buffer_rows=5, flush_interval_s=0.05, compact_interval_s=0.05)
    try:
        _write(lake, 4, size=5, when=datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1))
        for _ in range(300):
            if len(list(home.lake.rglob("*.parquet"))) == 1:
                break
            threading.Event().wait(0.02)
    finally:
        lake.close()
    assert len(list(home.lake.rglob("*.parquet"))) == 1
    assert lake.maintenance_error is None
    assert Lake(home).search("SELECT count(*) FROM aws_cloudtrail").rows == [[20]]


@pytest.mark.skipif(not hasattr(os, "setpriority") or not Path("/proc/self/task").exists(),
                    reason="per-thread priorities are a Linux feature")
def test_background_compaction_runs_at_a_lower_priority_than_ingest() -> None:
    """The compaction thread lowers its own priority (and its DuckDB work runs in it): the writing thread keeps
    its own."""
    seen: dict[str, int] = {}

    def upkeep() -> None:
        lower_thread_priority()
        seen["upkeep"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=upkeep)
    thread.start()
    thread.join()
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen["upkeep"] == min(19, mine + 10)
