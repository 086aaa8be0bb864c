"""Lookup tables as views, exported to Parquet once per generation."""

from __future__ import annotations

from datetime import datetime

import pytest
from tests.lake.builders import LOOKUP_ROWS, PROVIDER, cloudtrail, store_table, ts_row

from threatmatch.home import Home
from threatmatch.lake import Lake, views
from threatmatch.lake.views import plan_views


def _exports(home: Home) -> list[str]:
    return sorted(p.relative_to(home.lake / "lookups").as_posix().split("/", 2)[1]
                  for p in (home.lake / "lookups").rglob("*.parquet"))


class TestLookupViews:
    def test_rows_are_queryable_with_typed_columns(self, lake: Lake) -> None:
        """The ThreatStream table is a view with match as a list and API fields as typed columns."""
        result = lake.search("SELECT match, value, itype, confidence, tags->>'$[0].name' FROM anomali_threatstream "
                             "ORDER BY id")
        assert result.rows[0] == [["203.0.113.50"], "203.0.113.50", "c2_ip", 90, "campaign-x"]
        assert len(result.rows) == len(LOOKUP_ROWS)

    def test_exported_once_per_generation(self, lake: Lake, home: Home) -> None:
        """Repeated searches reuse the export file; a sync's new generation gets one new export."""
        lake.search("SELECT count(*) FROM anomali_threatstream")
        first = sorted((home.lake / "lookups").rglob("*.parquet"))
        lake.search("SELECT count(*) FROM anomali_threatstream")
        assert sorted((home.lake / "lookups").rglob("*.parquet")) == first and len(first) == 1
        store_table(home, PROVIDER, [ts_row(9, "192.0.2.9", "c2_ip")])
        assert lake.search("SELECT value FROM anomali_threatstream").rows == [["192.0.2.9"]]
        assert len(set(_exports(home))) == 2  # the previous generation stays briefly for running searches

    def test_empty_table_is_an_empty_view(self, home: Home) -> None:
        """A table with no rows still has a view (with its match column)."""
        store_table(home, "intel-prod", [])
        lake = Lake(home)
        assert lake.search("SELECT count(*) FROM anomali_intel_prod").rows == [[0]]
        assert "match" in lake.views()["anomali_intel_prod"]

    def test_large_table_exports_in_chunks(self, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
        """A table bigger than one export chunk is written as several files and read back whole."""
        rows = [ts_row(i, f"10.1.{i // 256}.{i % 256}", "scan_ip") for i in range(250)]
        monkeypatch.setattr(views, "EXPORT_CHUNK_ROWS", 100)
        store_table(home, "bulk", rows)
        lake = Lake(home)
        assert lake.search("SELECT count(*), count(DISTINCT value) FROM anomali_bulk").rows == [[250, 250]]
        assert len(list((home.lake / "lookups" / "anomali_bulk").rglob("*.parquet"))) == 3

    def test_join_events_to_the_table(self, lake: Lake, now: datetime) -> None:
        """Events join to the lookup rows on any of their p_any_ip_addresses."""
        lake.write_events("AWS.CloudTrail", [cloudtrail(1, now, "203.0.113.50"), cloudtrail(2, now, "10.0.0.1")])
        result = lake.search("""
            SELECT e.p_row_id, ip, l.itype FROM aws_cloudtrail e, unnest(e.p_any_ip_addresses) AS u(ip)
            JOIN (SELECT unnest(match) AS m, itype FROM anomali_threatstream) l ON l.m = ip""")
        assert result.rows == [[f"{1:032x}", "203.0.113.50", "c2_ip"]]


class TestPlan:
    def test_views_exist_only_for_log_types_with_files(self, home: Home) -> None:
        """An empty log-type directory (e.g. after pruning) gets no view, so globs never fail."""
        (home.lake / "events" / "log_type=AWS.CloudTrail" / "dt=2024-01-01" / "hour=00").mkdir(parents=True)
        plan = plan_views(home.lake, {})
        assert set(plan.bodies) == {"all_events", "alerts", "rejects"}  # the fixed views always exist

    def test_log_types_sharing_a_view_name_are_one_view(self, home: Home) -> None:
        """Two log types with the same lower-snake name are read by one view."""
        lake = Lake(home)
        lake.write_events("Custom.App", [{"p_row_id": "1", "p_event_time": "2024-01-01 00:00:00"}])
        lake.write_events("Custom_App", [{"p_row_id": "2", "p_event_time": "2024-01-01 00:00:00"}])
        result = lake.search("SELECT p_log_type FROM custom_app ORDER BY 1")
        assert result.rows == [["Custom.App"], ["Custom_App"]]
