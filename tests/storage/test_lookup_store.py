"""The SQLite lookup store: generations, atomic swap, dedupe, filters, and recovery from dead writers."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threatmatch.errors import NotFoundError, StorageError
from threatmatch.indicators.normalize import canonical
from threatmatch.storage import lookup_writer
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_files import files_dir, generation_file
from threatmatch.storage.lookup_store import LookupStore, PackedRows, load_row, pack_rows, stored_row, unpack_rows
from threatmatch.storage.lookup_writer import statement_sizes


def indicator(i: int, *, value: str | None = None, status: str = "active", update_id: int | None = None,
              **extra: Any) -> dict[str, Any]:
    """A row as a row builder emits it (match values already canonical)."""
    text = value or f"10.0.{i // 250}.{i % 250}"
    return {"id": i, "update_id": update_id if update_id is not None else 100 + i, "value": text,
            "match": [canonical(text)], "type": "ip", "itype": "mal_ip", "status": status,
            "confidence": i % 101, "modified_ts": "2026-01-01T00:00:00.000Z",
            "expiration_ts": "9999-12-31T00:00:00.000Z", **extra}


def load(store: LookupStore, table: str, rows: list[dict[str, Any]]) -> int:
    writer = store.begin(table)
    writer.add(rows)
    return writer.commit()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tm.db"


@pytest.fixture
def store(db: Path) -> LookupStore:
    return LookupStore(connect(db))


class TestLoadAndRead:
    def test_committed_rows_are_listed_and_read_back(self, store: LookupStore) -> None:
        """After commit the table lists its size and returns every row exactly as added."""
        rows = [indicator(i) for i in range(20)]
        assert load(store, "anomali", rows) == 20
        info = store.info("anomali")
        assert (info.name, info.kind, info.row_count, info.generation) == ("anomali", "threatstream", 20, 1)
        assert list(store.iter_rows("anomali")) == rows

    def test_match_blobs_give_values_and_exact_bytes(self, store: LookupStore) -> None:
        """iter_match_blobs yields each row's match list with its JSON bytes, extra match values included."""
        load(store, "t", [indicator(1), dict(indicator(2), match=["a.example", "b.example", "c.example"])])
        pairs = list(store.iter_match_blobs("t"))
        assert [m for m, _ in pairs] == [["10.0.0.1"], ["a.example", "b.example", "c.example"]]
        assert all(blob.startswith(b"{") for _, blob in pairs)
        assert store.query("t", match="B.Example.")[0]["id"] == 2

    def test_filters_combine(self, store: LookupStore) -> None:
        """match (canonical), status, type, itype and min confidence filter together, with paging."""
        rows = [indicator(i, status="active" if i % 3 else "inactive") for i in range(1, 101)]
        rows.append(indicator(500, value="Evil.Example", type="domain", itype="c2_domain"))
        load(store, "t", rows)
        assert [r["id"] for r in store.query("t", match="evil.example.")] == [500]
        assert store.count("t", status="inactive") == 33
        assert store.count("t", type="ip", min_confidence=90) == 11
        assert store.count("t", itype="c2_domain") == 1
        page2 = store.query("t", status="active", limit=10, offset=10)
        assert len(page2) == 10 and page2[0]["id"] == 16
        assert store.query("t", match="192.0.2.1") == []

    def test_summary_counts_by_type_and_status(self, store: LookupStore) -> None:
        """summary() counts rows of the active generation by type and status."""
        load(store, "t", [indicator(1), indicator(2, status="falsepos"), indicator(3, type="domain", value="a.b")])
        assert store.summary("t") == {"type": {"domain": 1, "ip": 2}, "status": {"active": 2, "falsepos": 1}}

    def test_unknown_table_suggests_a_close_name(self, store: LookupStore) -> None:
        """Asking for a missing table names the closest existing one."""
        load(store, "anomali", [indicator(1)])
        with pytest.raises(NotFoundError, match="did you mean 'anomali'"):
            store.query("anomaly")

    def test_ids_beyond_64_bits_are_kept(self, store: LookupStore) -> None:
        """An id too large for SQLite INTEGER is stored and read back exactly."""
        big = 2**64 + 5
        load(store, "t", [indicator(1, id=big)])
        assert next(store.iter_rows("t"))["id"] == big


class TestGenerations:
    def test_dedupe_keeps_highest_update_id_per_id(self, store: LookupStore) -> None:
        """Within a sync, a repeated id keeps only its highest update_id, whatever the arrival order."""
        writer = store.begin("t")
        writer.add([indicator(1, update_id=5, status="active"), indicator(2),
                    indicator(1, update_id=9, status="inactive"), indicator(1, update_id=7)])
        assert writer.commit() == 2 and writer.duplicates == 2
        assert store.query("t", status="inactive")[0]["update_id"] == 9

    def test_every_status_is_kept(self, store: LookupStore) -> None:
        """Inactive, false-positive and expired rows stay in the table for the matcher to judge."""
        rows = [indicator(1), indicator(2, status="inactive"), indicator(3, status="falsepos"),
                indicator(4, expiration_ts="2000-01-01T00:00:00.000Z")]
        assert load(store, "t", rows) == 4

    def test_new_generation_replaces_old_and_old_is_dropped(self, store: LookupStore, db: Path) -> None:
        """A second load replaces the rows and removes the previous generation's SQL table."""
        load(store, "t", [indicator(i) for i in range(10)])
        load(store, "t", [indicator(i) for i in range(100, 103)])
        assert [r["id"] for r in store.iter_rows("t")] == [100, 101, 102]
        names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert not {n for n in names if n.startswith("lut_") and "_g1" in n}
        assert store.info("t").generation == 2

    def test_readers_see_old_generation_until_commit(self, store: LookupStore, db: Path) -> None:
        """Another connection reads the old rows while the new generation loads, the new ones after commit."""
        load(store, "t", [indicator(i) for i in range(10)])
        reader = LookupStore(connect(db))
        writer = store.begin("t")
        writer.add([indicator(i) for i in range(1000, 1000 + 12000)])  # flushed in several batches
        assert reader.count("t") == 10 and reader.query("t", match="10.0.0.5")[0]["id"] == 5
        writer.commit()
        assert reader.count("t") == 12000 and reader.query("t", match="10.0.0.5") == []

    def test_reader_mid_iteration_keeps_its_snapshot_across_a_swap(self, store: LookupStore, db: Path) -> None:
        """A reader iterating the table while a swap and drop commit still gets the complete old table."""
        load(store, "t", [indicator(i) for i in range(3000)])
        reader = LookupStore(connect(db))
        rows = reader.iter_rows("t")
        first = [next(rows) for _ in range(10)]
        swapper = threading.Thread(target=load, args=(store, "t", [indicator(i) for i in range(5000, 5005)]))
        swapper.start()
        swapper.join(timeout=30)
        rest = list(rows)
        assert len(first) + len(rest) == 3000
        assert reader.count("t") == 5

    def test_abort_and_exceptions_leave_the_active_table_untouched(self, store: LookupStore) -> None:
        """An aborted or failed load changes nothing a reader can see."""
        load(store, "t", [indicator(i) for i in range(5)])
        writer = store.begin("t")
        writer.add([indicator(i) for i in range(50, 60)])
        writer.abort()
        with pytest.raises(RuntimeError), store.begin("t") as failing:
            failing.add([indicator(70)])
            raise RuntimeError("network went away")
        assert [r["id"] for r in store.iter_rows("t")] == [0, 1, 2, 3, 4]
        with pytest.raises(StorageError, match="already committed or aborted"):
            writer.add([indicator(1)])

    def test_table_loaded_only_by_failures_reads_empty(self, store: LookupStore) -> None:
        """A table whose first load failed exists but has no active generation and reads as empty."""
        writer = store.begin("t")
        writer.abort()
        assert store.count("t") == 0 and store.query("t") == [] and list(store.iter_rows("t")) == []

    def test_drop_removes_everything(self, store: LookupStore) -> None:
        """drop() forgets the table and all its generations."""
        load(store, "t", [indicator(1)])
        store.drop("t")
        assert store.tables() == []
        with pytest.raises(NotFoundError):
            store.drop("t")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _fake_building(db: Path, table: str, generation: int, pid: int) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    tid = conn.execute("SELECT tid FROM lookup_tables WHERE name = ?", (table,)).fetchone()[0]
    conn.execute(f"CREATE TABLE lut_{tid}_g{generation} (match TEXT, id INTEGER, row BLOB)")
    conn.execute("INSERT INTO lookup_generations VALUES (?, ?, 'building', ?, ?, strftime('%s','now'))",
                 (tid, generation, pid, socket.gethostname()))
    conn.execute("UPDATE lookup_tables SET next_generation = ? WHERE tid = ?", (generation + 1, tid))
    conn.close()


class TestDeadWriters:
    def test_orphan_of_a_dead_writer_is_dropped_by_the_next_load(self, store: LookupStore, db: Path) -> None:
        """A generation left 'building' by a process that died is removed when the next load starts."""
        load(store, "t", [indicator(1)])
        _fake_building(db, "t", 7, _dead_pid())
        load(store, "t", [indicator(2)])
        names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "lut_1_g7" not in names
        assert [r["id"] for r in store.iter_rows("t")] == [2]

    def test_live_foreign_writer_blocks_a_second_load(self, store: LookupStore, db: Path) -> None:
        """Two processes cannot rebuild the same table at once: the second gets a clear error."""
        load(store, "t", [indicator(1)])
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            _fake_building(db, "t", 9, sleeper.pid)
            with pytest.raises(StorageError, match=f"already being rebuilt by process {sleeper.pid}"):
                store.begin("t")
        finally:
            sleeper.kill()
            sleeper.wait()
        assert store.count("t") == 1
        assert os.getpid() != sleeper.pid


_rows = st.lists(st.builds(
    lambda i, u, s, c: indicator(i, update_id=u, status=s, confidence=c),
    st.integers(0, 30), st.integers(0, 5), st.sampled_from(["active", "inactive", "falsepos"]),
    st.integers(-1, 100)), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_rows)
def test_round_trip_keeps_latest_row_per_id(store: LookupStore, rows: list[dict[str, Any]]) -> None:
    """Any batch reads back as exactly one row per id: its highest update_id (last written on ties)."""
    expected: dict[int, dict[str, Any]] = {}
    for row in rows:
        current = expected.get(row["id"])
        if current is None or row["update_id"] >= current["update_id"]:
            expected[row["id"]] = row
    load(store, "prop", rows)
    got = sorted(store.iter_rows("prop"), key=lambda r: r["id"])
    assert got == [expected[k] for k in sorted(expected)]


class TestGenerationFiles:
    def test_each_generation_lives_in_its_own_file_beside_the_database(self, store: LookupStore, db: Path) -> None:
        """A committed generation is one file next to the database; the main database holds no rows."""
        load(store, "t", [indicator(i) for i in range(5)])
        assert generation_file(str(db), 1, 1).is_file()
        names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert not {n for n in names if n.startswith("lut_")}

    def test_previous_file_is_kept_until_the_next_sync_starts(self, store: LookupStore, db: Path) -> None:
        """After a swap the previous generation's file stays for readers; the next load deletes it."""
        load(store, "t", [indicator(1)])
        load(store, "t", [indicator(2)])
        assert generation_file(str(db), 1, 1).is_file() and generation_file(str(db), 1, 2).is_file()
        writer = store.begin("t")
        assert not generation_file(str(db), 1, 1).exists()
        writer.add([indicator(3)])
        writer.commit()
        assert sorted(p.name for p in files_dir(str(db)).iterdir()) == ["lut_1_g2.db", "lut_1_g3.db"]

    def test_reader_keeps_reading_a_generation_deleted_under_it(self, store: LookupStore, db: Path) -> None:
        """A reader iterating an old generation finishes it intact even after two later swaps delete its file."""
        load(store, "t", [indicator(i) for i in range(3000)])
        reader = LookupStore(connect(db))
        rows = reader.iter_match_blobs("t")
        first = [next(rows) for _ in range(10)]
        load(store, "t", [indicator(i) for i in range(5000, 5005)])
        load(store, "t", [indicator(i) for i in range(6000, 6002)])
        assert not generation_file(str(db), 1, 1).exists()
        assert len(first) + len(list(rows)) == 3000
        assert reader.count("t") == 2 and reader.info("t").generation == 3

    def test_stale_pointer_to_a_deleted_file_is_read_again(self, store: LookupStore, db: Path) -> None:
        """A reader whose snapshot names a generation deleted meanwhile reads the newer generation instead."""
        load(store, "t", [indicator(1)])
        reader_conn = connect(db)
        reader = LookupStore(reader_conn)
        reader_conn.execute("BEGIN")
        assert reader.info("t").generation == 1  # this snapshot still points at generation 1 ...
        load(store, "t", [indicator(2)])
        load(store, "t", [indicator(3)])  # ... whose file is deleted when generation 3 starts
        with pytest.raises(StorageError, match="deleted by a newer sync"):
            reader.count("t")  # inside the caller's transaction the snapshot cannot move
        reader_conn.execute("COMMIT")
        assert [r["id"] for r in reader.iter_rows("t")] == [3]

    def test_killed_build_leaves_a_file_that_the_next_load_removes(self, store: LookupStore, db: Path) -> None:
        """A process killed while loading leaves a partial file; the next load deletes it and readers never see it."""
        load(store, "t", [indicator(1)])
        code = ("import os, sys\n"
                "from pathlib import Path\n"
                "from threatmatch.storage.db import connect\n"
                "from threatmatch.storage.lookup_store import LookupStore\n"
                "writer = LookupStore(connect(Path(sys.argv[1]))).begin('t')\n"
                "writer.add([{'id': i, 'match': ['10.1.%d.%d' % (i // 250, i % 250)], 'pad': 'x' * 1000}"
                " for i in range(20000)])\n"
                "writer._flush(); writer._loader.finish()\n"
                "os._exit(9)  # dies without committing or aborting\n")
        child = subprocess.run([sys.executable, "-c", code, str(db)], timeout=120)
        assert child.returncode == 9
        stray = generation_file(str(db), 1, 2)
        assert stray.is_file() and stray.stat().st_size > 1_000_000
        assert store.count("t") == 1 and store.info("t").generation == 1
        load(store, "t", [indicator(4)])
        assert not stray.exists()
        assert [r["id"] for r in store.iter_rows("t")] == [4]

    def test_generation_written_inside_the_database_by_an_earlier_version_is_read(
            self, store: LookupStore, db: Path) -> None:
        """An active generation stored as tables in the main database is still read, then dropped by the next load."""
        load(store, "t", [indicator(1)])
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("CREATE TABLE lut_1_g9 (match TEXT, id INTEGER, type TEXT, itype TEXT, status TEXT, "
                     "confidence INTEGER, modified_ts TEXT, expiration_ts TEXT, update_id INTEGER, row BLOB)")
        conn.execute("CREATE TABLE lut_1_g9_x (rid INTEGER NOT NULL, match TEXT NOT NULL)")
        conn.execute("INSERT INTO lut_1_g9 VALUES ('10.9.9.9', 9, 'ip', 'mal_ip', 'active', 50, NULL, NULL, 1, ?)",
                     (b'{"id":9,"match":["10.9.9.9"]}',))
        conn.execute("UPDATE lookup_generations SET state = 'retired' WHERE tid = 1")
        conn.execute("INSERT INTO lookup_generations VALUES (1, 9, 'active', NULL, NULL, NULL)")
        conn.execute("UPDATE lookup_tables SET generation = 9, row_count = 1, next_generation = 10 WHERE tid = 1")
        conn.close()
        assert store.query("t", match="10.9.9.9")[0]["id"] == 9
        assert store.summary("t") == {"type": {"ip": 1}, "status": {"active": 1}}
        load(store, "t", [indicator(2)])
        load(store, "t", [indicator(3)])
        names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "lut_1_g9" not in names and [r["id"] for r in store.iter_rows("t")] == [3]


def test_damaged_generation_file_is_reported_with_its_path(store: LookupStore, db: Path) -> None:
    """A generation file that is not a readable database gives a StorageError naming the file and the fix."""
    load(store, "t", [indicator(1)])
    path = generation_file(str(db), 1, 1)
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError, match="lut_1_g1.db.*sync again"):
        LookupStore(connect(db)).count("t", min_confidence=0)


class TestPackedRows:
    def test_pack_round_trips_every_column_and_byte(self) -> None:
        """pack_rows/unpack_rows keep each row's columns and exact bytes, escapes and big numbers included."""
        rows: list[Any] = [
            ("1.2.3.4", 7, "ip", "c2_ip", "active", 50, 9, b'{"id":7,"a":"\\u00e9"}'),
            ('a"b\\c\u00e9', "123456789012345678901234567890", None, None, None, None, None, b"{}"),
            ("x.example", 2**63 - 1, "domain", "mal_domain", "inactive", -1, 2**70, b'{"v":"\xc3\xa9"}'),
        ]
        packed = pack_rows(rows)
        assert unpack_rows(packed) == rows
        assert packed.ids == [7, "123456789012345678901234567890", 2**63 - 1]
        assert sorted(packed.counts, key=str) == sorted([("ip", "active", 1), (None, None, 1),
                                                         ("domain", "inactive", 1)], key=str)

    def test_packed_and_dict_rows_keep_arrival_order_and_columns(self, store: LookupStore) -> None:
        """Rows added packed and one by one, interleaved, are stored in arrival order with their columns."""
        first, second, third = [indicator(i) for i in range(5)], [indicator(i) for i in range(5, 9)], \
            [indicator(i, value=f'odd"{i}\u00e9.example') for i in range(9, 12)]

        def packed(rows: list[dict[str, Any]]) -> Any:
            return pack_rows([load_row(stored_row(row)) for row in rows])

        writer = store.begin("anomali")
        writer.add_packed(packed(first))
        writer.add(second)
        writer.add_packed(packed(third))
        assert writer.commit() == 12
        assert list(store.iter_rows("anomali")) == first + second + third
        assert store.query("anomali", match=third[1]["value"]) == [third[1]]
        assert store.count("anomali", min_confidence=10) == 2
        assert store.summary("anomali")["status"] == {"active": 12}

    def test_packed_duplicates_keep_the_latest_update(self, store: LookupStore) -> None:
        """An id repeated across packs is deduplicated at commit, keeping its highest update_id."""
        old, new = indicator(1, update_id=5, status="active"), indicator(1, update_id=6, status="inactive")
        writer = store.begin("anomali")
        writer.add_packed(pack_rows([load_row(stored_row(new))]))
        writer.add_packed(pack_rows([load_row(stored_row(old)), load_row(stored_row(indicator(2)))]))
        assert writer.commit() == 2 and writer.duplicates == 1
        assert [row["status"] for row in store.iter_rows("anomali")] == ["inactive", "active"]

    def test_integers_beyond_64_bits_in_packs_and_rows_are_kept_in_the_row(self, store: LookupStore) -> None:
        """An update_id or confidence beyond 64 bits fails no load: the row JSON keeps it exactly, packed or not."""
        big = [indicator(1, update_id=2**70, confidence=2**64), indicator(2)]
        writer = store.begin("anomali")
        writer.add_packed(pack_rows([load_row(stored_row(row)) for row in big]))
        writer.add([indicator(3), indicator(4, update_id=-(2**65)), indicator(5)])
        assert writer.commit() == 5
        rows = list(store.iter_rows("anomali"))
        assert [row["id"] for row in rows] == [1, 2, 3, 4, 5]
        assert (rows[0]["update_id"], rows[0]["confidence"], rows[3]["update_id"]) == (2**70, 2**64, -(2**65))

    def test_duplicates_with_an_update_id_beyond_64_bits_keep_the_latest(self, store: LookupStore) -> None:
        """Dedupe still orders by update_id when one is too large for SQLite INTEGER."""
        writer = store.begin("anomali")
        writer.add_packed(pack_rows([load_row(stored_row(indicator(1, update_id=2**70, status="inactive")))]))
        writer.add_packed(pack_rows([load_row(stored_row(indicator(1, update_id=5)))]))
        assert writer.commit() == 1 and writer.duplicates == 1
        assert [row["update_id"] for row in store.iter_rows("anomali")] == [2**70]

    def test_packs_larger_than_one_statement_keep_order_and_columns(self, store: LookupStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """A pack loaded in several statements (an SQLite with few bound parameters) keeps every row in order."""
        monkeypatch.setattr(lookup_writer, "MAX_ROWS_PER_STATEMENT", 7)
        rows = [indicator(i) for i in range(100)]
        writer = store.begin("anomali")
        writer.add_packed(pack_rows([load_row(stored_row(row)) for row in rows[:61]]))
        writer.add_packed(pack_rows([load_row(stored_row(row)) for row in rows[61:]]))
        assert writer.commit() == 100
        assert list(store.iter_rows("anomali")) == rows
        assert store.count("anomali", min_confidence=50) == sum(1 for row in rows if row["confidence"] >= 50)

    def test_a_pack_not_made_of_whole_rows_is_refused(self, store: LookupStore) -> None:
        """A pack whose values do not split into whole rows is refused before anything is queued."""
        writer = store.begin("anomali")
        with pytest.raises(StorageError, match="not a multiple of 8"):
            writer.add_packed(PackedRows(["1.2.3.4", 1, "ip"], []))
        writer.abort()

    @given(st.integers(0, 5000), st.integers(1, 1000))
    def test_statement_sizes_cover_the_pack_with_few_statement_texts(self, rows: int, limit: int) -> None:
        """Statement sizes add up to the pack, never exceed the limit, and are the limit or distinct powers of two."""
        sizes = statement_sizes(rows, limit)
        assert sum(sizes) == rows and all(0 < size <= limit for size in sizes)
        whole, parts = sizes[:rows // limit], sizes[rows // limit:]
        assert set(whole) <= {limit} and len(set(parts)) == len(parts)
        assert all(part & (part - 1) == 0 for part in parts)
