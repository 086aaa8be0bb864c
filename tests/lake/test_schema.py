"""How events map to Arrow columns (pure)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.lake.builders import PROVIDER, cloudtrail

from threatmatch.lake.naming import HourKey
from threatmatch.lake.schema import (
    EVENT_TIME_COLUMNS,
    JSON,
    STANDARD_P_ANY,
    events_table,
    flatten_enrichment,
    infer_column,
    parse_time,
    pivot,
    split_by_hour,
)

WHEN = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


class TestColumns:
    def test_fixed_columns_come_first_and_always(self) -> None:
        """Every batch has the standard p_* columns, p_enrichment, the flattened matches and the event JSON."""
        table = events_table("AWS.CloudTrail", [{"p_row_id": "1", "eventName": "X"}])
        names = table.column_names
        assert names[:7] == ["p_log_type", "p_row_id", "p_event_time", "p_parse_time", "p_schema_version",
                             "p_source_id", "p_source_label"]
        assert set(STANDARD_P_ANY) <= set(names)
        assert names[names.index("p_enrichment"):][:3] == ["p_enrichment", "p_enrichment_matches", "event"]
        assert table.schema.field("p_event_time").type == pa.timestamp("us")
        assert table.schema.field("p_any_ip_addresses").type == pa.list_(pa.string())
        assert table.schema.field("p_enrichment").type == JSON

    def test_missing_log_type_is_the_batch_log_type(self) -> None:
        """p_log_type defaults to the log type the batch was written under."""
        table = events_table("Okta.SystemLog", [{"p_row_id": "1"}, {"p_log_type": "Okta.SystemLog"}])
        assert table["p_log_type"].to_pylist() == ["Okta.SystemLog", "Okta.SystemLog"]

    def test_log_type_absent_from_the_whole_batch(self) -> None:
        table = events_table("Okta.SystemLog", [{"p_row_id": "1"}, {"p_row_id": "2"}])
        assert table["p_log_type"].to_pylist() == ["Okta.SystemLog", "Okta.SystemLog"]

    def test_a_batch_without_enrichment_has_null_matches_of_the_same_type(self) -> None:
        plain = events_table("X", [{"p_row_id": "1", "a": 1}])
        enriched = events_table("X", [{"p_row_id": "1", "a": 1,
                                       "p_enrichment": {"t": {"ip": {"p_match": "1.2.3.4"}}}}])
        assert plain.schema.field("p_enrichment_matches").type == enriched.schema.field("p_enrichment_matches").type
        assert plain["p_enrichment_matches"].to_pylist() == [None]

    def test_any_mapping_gives_the_table_a_dict_gives(self) -> None:
        """Events need not be dicts (read-only views, other mappings): same columns, same values."""
        events = [{"p_row_id": "1", "s": "a", "n": {"k": 1}, "p_any_ip_addresses": ["1.2.3.4"]},
                  {"p_row_id": "2", "s": "b", "extra": True}]
        table = events_table("X", events)
        assert events_table("X", [MappingProxyType(e) for e in events]).equals(table)
        assert table["extra"].to_pylist() == [None, True]

    def test_top_level_fields_are_typed(self) -> None:
        """Uniform scalars keep their type, nested values are JSON text, mixed scalars are text."""
        events = [{"s": "a", "i": 1, "f": 1, "b": True, "n": {"k": [1]}, "m": "x"},
                  {"s": "b", "i": 2, "f": 2.5, "b": False, "n": [1, 2], "m": 3}]
        table = events_table("X", events)
        types = {f.name: f.type for f in table.schema}
        assert types["s"] == pa.string() and types["i"] == pa.int64() and types["f"] == pa.float64()
        assert types["b"] == pa.bool_() and types["n"] == pa.string() and types["m"] == pa.string()
        assert table["n"].to_pylist() == ['{"k":[1]}', "[1,2]"]
        assert table["m"].to_pylist() == ["x", "3"]

    def test_reserved_and_case_duplicate_fields_stay_in_event_only(self) -> None:
        """Fields that would clash with partition/derived columns or differ only by case are not columns."""
        table = events_table("X", [{"Event": 1, "dt": "2024", "hour": 3, "eventName": "A", "EVENTNAME": "B"}])
        assert "Event" not in table.column_names and "dt" not in table.column_names
        assert "hour" not in table.column_names and "EVENTNAME" not in table.column_names
        assert orjson.loads(table["event"][0].as_py()) == {"Event": 1, "dt": "2024", "hour": 3, "eventName": "A",
                                                           "EVENTNAME": "B"}

    def test_all_null_fields_are_skipped(self) -> None:
        """A field that is null in the whole batch adds no column."""
        assert infer_column([None, None]) is None

    def test_huge_integers_become_numbers(self) -> None:
        """Integers beyond 64 bits do not break the batch: the column falls back to double."""
        column = infer_column([1, 2**70])
        assert column is not None and column.type == pa.float64()

    def test_event_json_excludes_enrichment(self) -> None:
        """The event column is the whole event except p_enrichment, which has its own column."""
        event = cloudtrail(1, WHEN, "203.0.113.50")
        table = events_table("AWS.CloudTrail", [event])
        stored = orjson.loads(table["event"][0].as_py())
        assert stored == {k: v for k, v in event.items() if k != "p_enrichment"}
        assert orjson.loads(table["p_enrichment"][0].as_py()) == event["p_enrichment"]

    def test_caller_events_are_not_modified(self) -> None:
        """Writing never mutates the caller's dicts."""
        event = cloudtrail(1, WHEN, "203.0.113.50")
        before = orjson.dumps(event)
        events_table("AWS.CloudTrail", [event])
        assert orjson.dumps(event) == before


class TestEnrichmentMatches:
    def test_one_entry_per_row(self) -> None:
        """Scalar and array selectors both flatten to one entry per matched row, with p_match."""
        enrichment = {PROVIDER: {"sourceIPAddress": {"itype": "c2_ip", "p_match": "1.2.3.4"},
                                 "p_any_domain_names": [{"itype": "c2_domain", "p_match": "a.example"},
                                                        {"itype": "mal_domain", "p_match": "b.example"}]}}
        flat = flatten_enrichment(enrichment)
        assert flat is not None
        assert [(m["provider"], m["selector"], m["match"]) for m in flat] == [
            (PROVIDER, "sourceIPAddress", "1.2.3.4"), (PROVIDER, "p_any_domain_names", "a.example"),
            (PROVIDER, "p_any_domain_names", "b.example")]
        assert orjson.loads(flat[0]["row"] or "") == {"itype": "c2_ip", "p_match": "1.2.3.4"}

    def test_absent_or_malformed(self) -> None:
        """No enrichment, or a p_enrichment that is not an object, flattens to nothing."""
        assert flatten_enrichment(None) is None
        assert flatten_enrichment("oops") is None
        assert flatten_enrichment({PROVIDER: "oops"}) == []


class TestTimes:
    def test_panther_text_forms(self) -> None:
        """Panther text with 3 or 9 fraction digits, ISO with Z, and datetimes parse to naive UTC."""
        assert parse_time("2024-01-15 10:30:00.123") == datetime(2024, 1, 15, 10, 30, 0, 123000)
        assert parse_time("2024-01-15 10:30:00.123456789") == datetime(2024, 1, 15, 10, 30, 0, 123456)
        assert parse_time("2024-01-15T12:30:00+02:00") == datetime(2024, 1, 15, 10, 30)
        assert parse_time(WHEN) == datetime(2024, 1, 15, 10, 30)
        assert parse_time("yesterday") is None and parse_time(12) is None

    def test_split_by_hour_falls_back_to_parse_time_then_now(self) -> None:
        """Partition = hour of p_event_time, else of p_parse_time, else of the write time."""
        events = [{"p_row_id": "a", "p_event_time": "2024-01-15 10:59:59.999"},
                  {"p_row_id": "b", "p_event_time": "garbage", "p_parse_time": "2024-01-15 11:00:00.000"},
                  {"p_row_id": "c"}]
        groups = split_by_hour(events_table("X", events), EVENT_TIME_COLUMNS, datetime(2025, 6, 1, 3, 15, tzinfo=UTC))
        assert {k: t["p_row_id"].to_pylist() for k, t in groups.items()} == {
            HourKey("2024-01-15", 10): ["a"], HourKey("2024-01-15", 11): ["b"], HourKey("2025-06-01", 3): ["c"]}

    def test_split_keeps_every_row(self) -> None:
        """Rows in = sum of rows over partitions."""
        events = [cloudtrail(i, datetime(2024, 1, 1 + i % 3, i % 24, tzinfo=UTC), "10.0.0.1") for i in range(100)]
        groups = split_by_hour(events_table("AWS.CloudTrail", events), EVENT_TIME_COLUMNS, WHEN)
        assert sum(t.num_rows for t in groups.values()) == 100
        for key, table in groups.items():
            assert all(HourKey.of(t) == key for t in table["p_event_time"].to_pylist())


_json_leaf = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(
    allow_nan=False, allow_infinity=False) | st.text(max_size=20)
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=10)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.text(min_size=1, max_size=10), _json, max_size=6), min_size=1, max_size=5))
def test_any_json_events_are_kept_whole(events: list[dict[str, Any]]) -> None:
    """Whatever the field names and value shapes, the event column holds each event exactly."""
    table = events_table("X", events)
    assert table.num_rows == len(events)
    for event, stored in zip(events, table["event"].to_pylist(), strict=True):
        assert orjson.loads(stored) == orjson.loads(orjson.dumps({k: v for k, v in event.items()
                                                                   if k != "p_enrichment"}))


def _typed_by_rule(values: list[Any]) -> pa.Array | None:
    """The typing rule of the module docstring, spelled out value by value (the reference for the shortcuts)."""
    kinds = {type(v) for v in values} - {type(None)}
    if not kinds:
        return None
    if kinds == {str}:
        return pa.array(values, type=pa.string())
    if kinds == {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in values if v is not None):
        return pa.array(values, type=pa.int64())
    if kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kinds & {dict, list}:
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values], type=pa.string())
    return pa.array([None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode() for v in values],
                    type=pa.string())


@settings(max_examples=300, deadline=None)
@given(st.lists(_json, min_size=1, max_size=8))
def test_a_column_is_typed_by_the_rule_whatever_its_first_value(values: list[Any]) -> None:
    """The shortcuts taken on the first value's kind (text, object, array) give what the rule gives."""
    expected = _typed_by_rule(values)
    column = infer_column(values)
    assert (column is None) == (expected is None)
    if column is not None and expected is not None:
        assert column.type == expected.type
        assert column.to_pylist() == expected.to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _json, max_size=4), min_size=1, max_size=6))
def test_pivot_reads_the_keys_every_record_holds_a_record_at_a_time_with_the_same_result(
        records: list[dict[str, Any]]) -> None:
    names = ["a", "b", "c", "d"]
    counts = Counter(key for record in records for key in record)
    expected = {name: [record.get(name) for record in records] for name in names}
    assert pivot(records, names, counts) == expected
    assert pivot(records, names) == expected
