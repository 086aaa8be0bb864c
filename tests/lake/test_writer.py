"""Writing: partition layout, atomic files, batching and concurrent readers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.lake.builders import alert_for, cloudtrail

from threatmatch.errors import ConfigError, StorageError
from threatmatch.home import Home
from threatmatch.lake import Lake
from threatmatch.lake.writer import LakeWriter

WHEN = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class TestLayout:
    def test_hive_partitions_by_log_type_day_and_hour(self, lake: Lake, home: Home) -> None:
        """Events land in events/log_type=<name>/dt=<day>/hour=<HH>/part-<uuid>.parquet by p_event_time."""
        events = [cloudtrail(1, WHEN, "10.0.0.1"), cloudtrail(2, WHEN + timedelta(hours=1), "10.0.0.2")]
        assert lake.write_events("AWS.CloudTrail", events) == 2
        rel = [p.relative_to(home.lake).as_posix() for p in _files(home.lake)]
        assert [r.rsplit("/", 1)[0] for r in rel] == [
            "events/log_type=AWS.CloudTrail/dt=2024-01-15/hour=10",
            "events/log_type=AWS.CloudTrail/dt=2024-01-15/hour=11"]
        assert all(r.rsplit("/", 1)[1].startswith("part-") and r.endswith(".parquet") for r in rel)

    def test_alerts_partition_by_update_time(self, lake: Lake, home: Home) -> None:
        """Alerts land in alerts/dt=<day>/hour=<HH>/ by updated_at."""
        lake.write_alerts([alert_for([cloudtrail(1, WHEN, "203.0.113.50")], WHEN + timedelta(days=1))])
        [path] = _files(home.lake)
        assert path.parent.relative_to(home.lake).as_posix() == "alerts/dt=2024-01-16/hour=10"

    def test_rows_per_file(self, home: Home) -> None:
        """A big partition is split into files of at most rows_per_file rows, none lost."""
        with Lake(home, rows_per_file=40) as lake:
            lake.write_events("AWS.CloudTrail", [cloudtrail(i, WHEN, "10.0.0.1") for i in range(100)])
        files = _files(home.lake)
        assert [pq.read_metadata(f).num_rows for f in files] and len(files) == 3
        assert sum(pq.read_metadata(f).num_rows for f in files) == 100

    def test_bad_log_type_is_refused_before_buffering(self, lake: Lake) -> None:
        """An unsafe log type name is a ConfigError and writes nothing."""
        with pytest.raises(ConfigError):
            lake.write_events("../../etc", [{"p_row_id": "1"}])

    def test_empty_batch(self, lake: Lake, home: Home) -> None:
        """An empty batch writes no file."""
        assert lake.write_events("AWS.CloudTrail", []) == 0
        assert _files(home.lake) == []


class TestAtomicity:
    def test_no_temporary_files_remain(self, lake: Lake, home: Home) -> None:
        """After a write only complete part files exist."""
        lake.write_events("AWS.CloudTrail", [cloudtrail(i, WHEN, "10.0.0.1") for i in range(10)])
        assert all(not p.name.startswith(".") for p in _files(home.lake))

    def test_half_written_file_is_invisible(self, lake: Lake, home: Home) -> None:
        """A temp file left by a crash mid-write is never read by search."""
        lake.write_events("AWS.CloudTrail", [cloudtrail(1, WHEN, "10.0.0.1")])
        [done] = _files(home.lake)
        (done.parent / ".part-crashed.parquet.tmp").write_bytes(done.read_bytes()[:100])
        assert lake.search("SELECT count(*) FROM aws_cloudtrail").rows == [[1]]

    def test_failed_write_leaves_nothing_and_keeps_the_batch(self, home: Home) -> None:
        """When the disk refuses a write the error says where, no file appears, and the batch stays buffered."""
        writer = LakeWriter(home.lake, buffer_rows=10)
        writer.write_events("AWS.CloudTrail", [cloudtrail(1, WHEN, "10.0.0.1")])
        (home.lake / "events").write_text("not a directory")
        with pytest.raises(StorageError, match="cannot write"):
            writer.flush()
        assert writer.pending_rows == 1
        (home.lake / "events").unlink()
        assert writer.flush() == 1
        assert writer.pending_rows == 0


class TestBatching:
    def test_buffered_until_threshold(self, home: Home) -> None:
        """With buffer_rows, nothing is written until that many events wait; then all of them are."""
        lake = Lake(home, buffer_rows=5)
        lake.write_events("AWS.CloudTrail", [cloudtrail(i, WHEN, "10.0.0.1") for i in range(3)])
        assert _files(home.lake) == []
        lake.write_events("AWS.CloudTrail", [cloudtrail(i, WHEN, "10.0.0.1") for i in range(3, 6)])
        assert sum(pq.read_metadata(f).num_rows for f in _files(home.lake)) == 6

    def test_flush_and_close(self, home: Home) -> None:
        """flush() writes the buffer now; close() writes what is left."""
        lake = Lake(home, buffer_rows=1000)
        lake.write_events("AWS.CloudTrail", [cloudtrail(1, WHEN, "10.0.0.1")])
        assert lake.flush() == 1
        lake.write_alerts([alert_for([cloudtrail(2, WHEN, "10.0.0.1")], WHEN)])
        lake.close()
        assert len(_files(home.lake)) == 2

    def test_search_reads_own_buffered_writes(self, home: Home) -> None:
        """A handle's search flushes its own buffer first."""
        lake = Lake(home, buffer_rows=1000)
        lake.write_events("AWS.CloudTrail", [cloudtrail(1, WHEN, "10.0.0.1")])
        assert lake.search("SELECT count(*) FROM aws_cloudtrail").rows == [[1]]

    def test_background_flush(self, home: Home) -> None:
        """With flush_interval_s a background thread writes buffered events without further calls."""
        lake = Lake(home, buffer_rows=1000, flush_interval_s=0.05)
        lake.write_events("AWS.CloudTrail", [cloudtrail(1, WHEN, "10.0.0.1")])
        for _ in range(200):
            if _files(home.lake):
                break
            threading.Event().wait(0.02)
        lake.close()
        assert len(_files(home.lake)) == 1


def test_concurrent_writers_and_readers(home: Home) -> None:
    """Readers searching while writers add files always see whole batches: counts are multiples of the batch size."""
    batch, rounds = 25, 12
    writer_lake = Lake(home)
    counts: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write(offset: int) -> None:
        try:
            for r in range(rounds):
                base = offset * 10_000 + r * batch
                events = [cloudtrail(base + i, WHEN, "10.0.0.1") for i in range(batch)]
                writer_lake.write_events("AWS.CloudTrail", events)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def read() -> None:
        reader = Lake(home)
        try:
            while not done.is_set():
                counts.append(reader.search("SELECT count(*) FROM all_events").rows[0][0])
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert errors == []
    assert counts and all(c % batch == 0 for c in counts)
    assert Lake(home).search("SELECT count(DISTINCT p_row_id) FROM aws_cloudtrail").rows == [[2 * rounds * batch]]
