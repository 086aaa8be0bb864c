"""Searching the lake: results, read-only guards, limits and errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from tests.lake.builders import PROVIDER, alert_for, cloudtrail, okta

from threatmatch.errors import SearchError
from threatmatch.home import Home
from threatmatch.lake import Lake


def _fill(lake: Lake, now: datetime) -> None:
    events = [cloudtrail(i, now - timedelta(hours=i), ip) for i, ip in
              enumerate(["203.0.113.50", "10.0.0.1", "198.51.100.7", "10.0.0.2"])]
    lake.write_events("AWS.CloudTrail", events)
    lake.write_events("Okta.SystemLog", [okta(1, now - timedelta(minutes=5), "203.0.113.50")])
    lake.write_alerts([alert_for(events[:1], now)])


class TestResults:
    def test_enriched_events_come_back_with_their_enrichment(self, lake: Lake, now: datetime) -> None:
        """p_enrichment is stored and returned as an object, timestamps as Panther text."""
        _fill(lake, now)
        result = lake.search("SELECT p_row_id, p_event_time, p_enrichment FROM aws_cloudtrail "
                             "WHERE p_enrichment IS NOT NULL ORDER BY p_event_time DESC")
        assert result.columns == ["p_row_id", "p_event_time", "p_enrichment"]
        assert [r[0] for r in result.rows] == [f"{0:032x}", f"{2:032x}"]
        row = result.rows[0]
        assert row[1] == cloudtrail(0, now, "203.0.113.50")["p_event_time"]
        assert row[2][PROVIDER]["p_any_ip_addresses"][0]["itype"] == "c2_ip"
        assert row[2][PROVIDER]["p_any_ip_addresses"][0]["p_match"] == "203.0.113.50"
        assert not result.truncated

    def test_enrichment_is_searchable_by_json_path(self, lake: Lake, now: datetime) -> None:
        """An analyst can filter on a field inside p_enrichment, provider names with spaces included."""
        _fill(lake, now)
        result = lake.search(f"""SELECT p_row_id FROM aws_cloudtrail
            WHERE (p_enrichment->'$."{PROVIDER}".p_any_ip_addresses[0]'->>'itype') = 'mal_ip'""")
        assert result.rows == [[f"{2:032x}"]]

    def test_flattened_matches_unnest(self, lake: Lake, now: datetime) -> None:
        """p_enrichment_matches gives one row per matched indicator with a JSON row."""
        _fill(lake, now)
        result = lake.search("SELECT m.provider, m.match, m.row->>'itype' AS itype FROM okta_systemlog, "
                             "unnest(p_enrichment_matches) AS t(m)")
        assert result.rows == [[PROVIDER, "203.0.113.50", "c2_ip"]]

    def test_nested_fields_are_json_text(self, lake: Lake, now: datetime) -> None:
        """A nested top-level field is queried with ->> and comes back as text."""
        _fill(lake, now)
        result = lake.search("SELECT userIdentity->>'userName' FROM aws_cloudtrail ORDER BY p_event_time DESC LIMIT 1")
        assert result.rows == [["user0"]]

    def test_all_events_spans_log_types(self, lake: Lake, now: datetime) -> None:
        """all_events has every log type's standard columns."""
        _fill(lake, now)
        result = lake.search("SELECT p_log_type, count(*) AS n FROM all_events GROUP BY ALL ORDER BY 1")
        assert result.rows == [["AWS.CloudTrail", 4], ["Okta.SystemLog", 1]]

    def test_alerts_view_with_samples(self, lake: Lake, now: datetime) -> None:
        """alerts returns typed columns with the alert context and sample events as objects."""
        _fill(lake, now)
        result = lake.search("SELECT rule_id, severity, event_count, alert_context, sample_events FROM alerts")
        [[rule_id, severity, count, context, samples]] = result.rows
        assert (rule_id, severity, count) == ("ThreatStream.C2.Activity", "HIGH", 1)
        assert context == {"ip": "203.0.113.50", "itype": "c2_ip"}
        assert samples[0]["p_enrichment"][PROVIDER]["p_any_ip_addresses"][0]["itype"] == "c2_ip"

    def test_alerts_view_keeps_latest_state(self, lake: Lake, now: datetime) -> None:
        """An alert written again as it grows appears once, with its latest count."""
        events = [cloudtrail(i, now, "203.0.113.50") for i in range(3)]
        lake.write_alerts([alert_for(events[:1], now - timedelta(minutes=2))])
        lake.write_alerts([alert_for(events, now)])
        result = lake.search("SELECT alert_id, event_count FROM alerts")
        assert result.rows == [["a" * 31 + "1", 3]]

    def test_empty_lake_has_alerts_and_all_events(self, lake: Lake) -> None:
        """Before anything is written the built-in views exist and are empty."""
        assert lake.search("SELECT count(*) FROM alerts").rows == [[0]]
        assert lake.search("SELECT count(*) FROM all_events").rows == [[0]]

    def test_schema_drift_between_files(self, lake: Lake, now: datetime) -> None:
        """A field stored with different types in different files still reads, as the common type."""
        lake.write_events("Custom.App", [{"p_row_id": "1", "p_event_time": "2024-01-01 00:00:00", "code": 5}])
        lake.write_events("Custom.App", [{"p_row_id": "2", "p_event_time": "2024-01-01 01:00:00", "code": "E42",
                                          "extra": {"a": 1}}])
        result = lake.search("SELECT p_row_id, code, extra->>'a' FROM custom_app ORDER BY p_row_id")
        assert result.rows == [["1", "5", None], ["2", "E42", "1"]]

    def test_partition_columns(self, lake: Lake) -> None:
        """dt and hour come from the partition path."""
        lake.write_events("Custom.App", [{"p_row_id": "1", "p_event_time": "2024-02-29 23:59:59.999"}])
        assert lake.search("SELECT dt, hour FROM custom_app").rows == [["2024-02-29", 23]]

    def test_row_limit_reports_truncation(self, lake: Lake, now: datetime) -> None:
        """At most `limit` rows come back and truncated says more exist."""
        _fill(lake, now)
        result = lake.search("SELECT * FROM aws_cloudtrail ORDER BY p_event_time", limit=2)
        assert len(result.rows) == 2 and result.truncated
        exact = lake.search("SELECT * FROM aws_cloudtrail", limit=4)
        assert len(exact.rows) == 4 and not exact.truncated

    def test_odd_values_are_json_able(self, lake: Lake) -> None:
        """Intervals, decimals, blobs, maps, UUIDs, dates and infinite timestamps all come back as JSON values."""
        result = lake.search("SELECT 1.50::DECIMAL(4,2) d, 'ab'::BLOB b, MAP {'k': 1} m, DATE '2024-01-02' dd, "
                             "'infinity'::TIMESTAMP ti, TIMESTAMPTZ '2024-01-01 10:00:00+02' tz, "
                             "gen_random_uuid() IS NOT NULL u")
        [[d, b, m, dd, ti, tz, u]] = result.rows
        assert (d, b, m, dd, tz, u) == (1.5, "6162", {"k": 1}, "2024-01-02", "2024-01-01 08:00:00.000", True)
        assert isinstance(ti, str)

    def test_describe_and_views(self, lake: Lake, now: datetime) -> None:
        """views() lists every view with its columns, lookup tables included."""
        _fill(lake, now)
        views = lake.views()
        assert {"aws_cloudtrail", "okta_systemlog", "all_events", "alerts", "anomali_threatstream"} <= set(views)
        assert "p_enrichment" in views["aws_cloudtrail"] and "sourceIPAddress" in views["aws_cloudtrail"]
        assert "itype" in views["anomali_threatstream"]
        assert lake.search("DESCRIBE aws_cloudtrail").rows[0][:2] == ["p_log_type", "VARCHAR"]


class TestGuards:
    @pytest.mark.parametrize("sql", [
        "COPY (SELECT 1) TO 'out.csv'", "ATTACH 'x.db'", "INSTALL httpfs", "LOAD httpfs",
        "CREATE TABLE t (a INT)", "INSERT INTO t VALUES (1)", "DELETE FROM alerts", "UPDATE alerts SET title = 'x'",
        "DROP VIEW alerts", "EXPORT DATABASE 'x'", "SET enable_external_access = true", "PRAGMA version",
        "CREATE VIEW v AS SELECT 1",
    ])
    def test_writes_and_settings_are_refused(self, lake: Lake, sql: str) -> None:
        """Anything but a read statement is refused, naming the statement kind and what is allowed."""
        with pytest.raises(SearchError, match=r"not allowed: search is read-only"):
            lake.search(sql)

    def test_files_outside_the_lake_are_unreadable(self, lake: Lake, home: Home) -> None:
        """File-reading table functions cannot reach the secret key beside the lake, even via '..'."""
        home.secret_key.write_text("top secret")
        for path in (str(home.secret_key), f"{home.lake}/../secret.key", "/etc/passwd"):
            with pytest.raises(SearchError, match="Permission Error"):
                lake.search(f"SELECT * FROM read_text('{path}')")

    def test_configuration_is_locked(self, lake: Lake) -> None:
        """A query cannot re-enable external access through a setting function."""
        with pytest.raises(SearchError):
            lake.search("SELECT * FROM read_csv('/etc/hostname')")

    def test_one_statement_only(self, lake: Lake) -> None:
        """Several statements are refused with the count."""
        with pytest.raises(SearchError, match="one statement per search, got 2"):
            lake.search("SELECT 1; SELECT 2")

    def test_empty_query(self, lake: Lake) -> None:
        """An empty query says what to pass."""
        with pytest.raises(SearchError, match="empty query"):
            lake.search("   ")

    def test_syntax_error_has_duckdb_position(self, lake: Lake) -> None:
        """A parse error carries DuckDB's message and caret."""
        with pytest.raises(SearchError, match=r"SQL syntax error: .*syntax error at or near \"SELEC\""):
            lake.search("SELEC 1")

    def test_unknown_view_lists_views(self, lake: Lake, now: datetime) -> None:
        """An unknown table is answered with the list of available views."""
        _fill(lake, now)
        with pytest.raises(SearchError, match=r"(?s)Catalog Error.*hint: available views: alerts, all_events, "
                                              r"anomali_threatstream, aws_cloudtrail, okta_systemlog"):
            lake.search("SELECT * FROM cloudtrail")

    def test_unknown_column_lists_columns_of_the_view(self, lake: Lake, now: datetime) -> None:
        """An unknown column is answered with the columns of the views the query names."""
        _fill(lake, now)
        with pytest.raises(SearchError, match=r"(?s)Binder Error.*okta_systemlog: p_log_type, .*client") as info:
            lake.search("SELECT clientIP FROM okta_systemlog")
        assert "aws_cloudtrail:" not in str(info.value)

    def test_time_limit(self, lake: Lake) -> None:
        """A query running past the time limit is interrupted with advice."""
        with pytest.raises(SearchError, match=r"time limit"):
            lake.search("SELECT count(*) FROM range(1000000000000) a", timeout_s=0.3)

    @pytest.mark.parametrize(("limit", "timeout"), [(0, 1.0), (10, 0.0)])
    def test_bad_limits(self, lake: Lake, limit: int, timeout: float) -> None:
        """Non-positive limits are refused."""
        with pytest.raises(SearchError, match="must be"):
            lake.search("SELECT 1", limit=limit, timeout_s=timeout)


def test_concurrent_searches_on_one_lake(lake: Lake, now: datetime) -> None:
    """Searches from several threads share the Lake; one hitting its time limit does not disturb the others."""
    import threading

    _fill(lake, now)
    results: list[object] = []
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            lake.search("SELECT count(*) FROM range(1000000000000) a", timeout_s=0.5)
        except SearchError as exc:
            results.append(str(exc))

    def quick() -> None:
        try:
            for _ in range(10):
                results.append(lake.search("SELECT count(*) FROM aws_cloudtrail").rows)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=slow), threading.Thread(target=quick), threading.Thread(target=quick)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results.count([[4]]) == 20
    assert any(isinstance(r, str) and "time limit" in r for r in results)


def test_alert_files_from_before_alert_types_still_answer(lake: Lake, now: datetime) -> None:
    """Alert files written before ``alert_type`` and ``error`` existed combine with new ones: their alerts read as
    rule matches (they were), and the alerts query of the API and console works over both."""
    import pyarrow.parquet as pq

    from threatmatch.lake.naming import alerts_dir
    from threatmatch.lake.schema import alerts_table
    from threatmatch.server.queries import alerts_sql

    events = [cloudtrail(0, now, "203.0.113.50")]
    old = alerts_table([alert_for(events, now)]).drop_columns(["alert_type", "error"])
    folder = alerts_dir(lake.root) / f"dt={now:%Y-%m-%d}" / f"hour={now:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(old, folder / "part-old.parquet")
    failed = {**alert_for(events, now, rule_id="Broken.Rule"), "alert_id": "b" * 32, "alert_type": "RULE_ERROR",
              "error": "KeyError: 'x'"}
    lake.write_alerts([failed])
    rows = {r[1]: r for r in lake.search(alerts_sql(limit=10)).rows}
    assert {k: (v[2], v[-1]) for k, v in rows.items()} == {"RULE_MATCH": ("ThreatStream.C2.Activity", None),
                                                            "RULE_ERROR": ("Broken.Rule", "KeyError: 'x'")}
    only_errors = lake.search(alerts_sql(alert_type="rule_error", limit=10)).rows
    assert [r[0] for r in only_errors] == ["b" * 32]


def test_rejected_lines_are_searchable(lake: Lake, now: datetime) -> None:
    """The `rejects` view holds the rejected lines with their log type, time, line, reason and raw text; before any
    line was rejected it exists, empty, with those columns."""
    empty = lake.search("SELECT * FROM rejects")
    assert empty.rows == [] and empty.columns[:5] == ["log_type", "received_at", "line", "reason", "raw"]
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.000")
    lake.write_rejects([{"log_type": "AWS.CloudTrail", "received_at": stamp, "line": 2, "reason": "invalid JSON",
                         "raw": "{broken"},
                        {"log_type": "Okta.SystemLog", "received_at": stamp, "line": 7, "reason": "not an object",
                         "raw": "[1]"}])
    result = lake.search("SELECT log_type, line, reason, raw, received_at FROM rejects ORDER BY line")
    assert [row[:4] for row in result.rows] == [["AWS.CloudTrail", 2, "invalid JSON", "{broken"],
                                               ["Okta.SystemLog", 7, "not an object", "[1]"]]
    assert result.rows[0][4] == stamp
