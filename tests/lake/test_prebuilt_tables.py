"""Events built into their Arrow table by the process that enriched them (``write_table``), as ingest workers do:
stored and searched exactly like events handed over as dicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from tests.lake.builders import cloudtrail

from threatmatch.home import Home
from threatmatch.lake import Lake
from threatmatch.lake.schema import events_table
from threatmatch.lake.writer import combine_tables
from threatmatch.server.lakesink import table_from_ipc, table_to_ipc

WHEN = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def _parquet(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def _rows(lake: Lake, sql: str) -> list[list[object]]:
    return [list(row) for row in lake.search(sql).rows]


def test_a_prebuilt_table_is_stored_like_the_same_dicts(tmp_path: Path) -> None:
    events = [cloudtrail(n, WHEN + timedelta(minutes=n), "10.0.0.1") for n in range(5)]
    with Lake(Home(tmp_path / "a").ensure()) as by_dicts, Lake(Home(tmp_path / "b").ensure()) as by_table:
        by_dicts.write_events("AWS.CloudTrail", events)
        shipped = table_from_ipc(table_to_ipc(events_table("AWS.CloudTrail", events)))
        assert by_table.write_table("AWS.CloudTrail", shipped) == 5
        sql = "SELECT p_row_id, p_event_time, sourceIPAddress, event FROM aws_cloudtrail ORDER BY p_row_id"
        assert _rows(by_table, sql) == _rows(by_dicts, sql)
        assert len(_rows(by_table, "SELECT * FROM all_events")) == 5


def test_buffered_tables_of_one_hour_become_one_file(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    with Lake(home, buffer_rows=1000) as lake:
        for n in range(4):
            lake.write_table("AWS.CloudTrail", events_table("AWS.CloudTrail", [cloudtrail(n, WHEN, "10.0.0.1")]))
        lake.write_events("AWS.CloudTrail", [cloudtrail(9, WHEN, "10.0.0.9")])  # dicts and tables mix
        assert _parquet(home.lake) == []
        lake.flush()
        assert len(_parquet(home.lake)) == 1
        assert _rows(lake, "SELECT count(*) FROM aws_cloudtrail") == [[5]]


def test_tables_whose_fields_disagree_go_to_separate_files_and_still_search_together(tmp_path: Path) -> None:
    """A field that is a number in one batch and text in another cannot share a file: one file per schema."""
    numeric = [{**cloudtrail(1, WHEN, "10.0.0.1"), "errorCode": 403}]
    textual = [{**cloudtrail(2, WHEN, "10.0.0.2"), "errorCode": "AccessDenied"}]
    missing = [cloudtrail(3, WHEN, "10.0.0.3")]  # no errorCode at all: joins the first file with a null
    tables = [events_table("AWS.CloudTrail", batch) for batch in (numeric, missing, textual)]
    combined = combine_tables(tables)
    assert sorted(t.num_rows for t in combined) == [1, 2]
    home = Home(tmp_path).ensure()
    with Lake(home, buffer_rows=1000) as lake:
        for table in tables:
            lake.write_table("AWS.CloudTrail", table)
        lake.flush()
        assert len(_parquet(home.lake)) == 2
        found = _rows(lake, "SELECT sourceIPAddress, CAST(errorCode AS VARCHAR) FROM aws_cloudtrail "
                            "ORDER BY sourceIPAddress")
        assert found == [["10.0.0.1", "403"], ["10.0.0.2", "AccessDenied"], ["10.0.0.3", None]]


def test_one_table_is_passed_through() -> None:
    table = pa.table({"a": [1]})
    assert combine_tables([table]) == [table]
    assert combine_tables([]) == []
