"""The lookup export parsed by DuckDB gives the reference table (``lake.schema.lookup_table`` of the decoded rows),
or hands the rows back to the reference when they hold something it does not check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threatmatch.emulator.dataset import Dataset
from threatmatch.lake.lookup_export import lookup_table_from_json, lookup_table_of_json
from threatmatch.lake.schema import lookup_table
from threatmatch.providers.threatstream.rows import build_row

DECODE = msgspec.json.Decoder()


def encode(rows: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(row) for row in rows]


def same_cell(left: Any, right: Any) -> bool:
    """Equal, or (JSON text columns) the same JSON: number text may be written differently (``1e16``/``1e+16``)."""
    if left == right:
        return True
    if isinstance(left, str) and isinstance(right, str):
        try:
            return bool(orjson.loads(left) == orjson.loads(right))
        except orjson.JSONDecodeError:
            return False
    return False


def assert_same_table(got: pa.Table, want: pa.Table) -> None:
    assert got.schema == want.schema
    for name in want.schema.names:
        for index, (left, right) in enumerate(zip(got[name].to_pylist(), want[name].to_pylist(), strict=True)):
            assert same_cell(left, right), (name, index, left, right)


def threatstream_rows(count: int) -> list[dict[str, Any]]:
    """Lookup rows of generated ThreatStream indicators of every type, as a sync stores them."""
    data = Dataset.generate(count, seed=5)
    return [build_row(data.object(i), parse_time="2025-01-01 00:00:00.000", row_id=f"{i:032x}")
            for i in range(count)]


def test_threatstream_rows_give_the_reference_table(tmp_path: Path) -> None:
    rows = threatstream_rows(3000)
    got = lookup_table_from_json(encode(rows), tmp_path)
    assert got is not None, "ordinary ThreatStream rows are exported by DuckDB"
    assert_same_table(got, lookup_table(rows))
    assert list(tmp_path.iterdir()) == [], "the temporary rows file is removed"


def test_each_typing_rule(tmp_path: Path) -> None:
    """Text, booleans, integers, numbers, JSON text, mixed scalars, absent keys and all-null fields."""
    rows = [
        {"match": ["a"], "s": "plain", "b": True, "i": 1, "n": 1, "j": {"k": [1, "x"]}, "mix": "text",
         "js": "quoted", "nul": None, "p_any_emails": ["a@b.c"], "u": "ünï \"q\" \\ \t\n"},
        {"match": ["b", "c"], "s": "second", "b": False, "i": -(2**63), "n": 2.5, "j": [1, 2], "mix": 7,
         "js": {"k": None}, "nul": None, "u": "\u2028\x00"},
        {"s": None, "i": 2**63 - 1, "n": -3, "mix": True, "only_here": 1.0},
        {"match": [], "mix": 1.5, "j": None},
    ]
    got = lookup_table_from_json(encode(rows), tmp_path)
    assert got is not None
    assert_same_table(got, lookup_table(rows))
    assert got.schema.field("j").type == pa.string() and got["js"].to_pylist()[:2] == ['"quoted"', '{"k":null}']
    assert "nul" not in got.schema.names, "a field null in every row is no column, as in the reference"


@pytest.mark.parametrize("blobs", [
    [b'{"id":9223372036854775808}'],  # an integer beyond int64 (the reference stores the column as double)
    [b'{"Value":"a","value":"b"}'],  # keys differing only by case (DuckDB names ignore case)
    [b'{"MATCH":["x"]}'],  # a key naming a fixed column in another case
    [b'{"":1}'],  # an empty key (never a column)
    [b'{"p_any_ip_addresses":["1.2.3.4",null,5]}'],  # an indicator list holding more than strings
    [b'{"p_any_emails":"a@b.c"}'],  # an indicator field holding one string
], ids=["beyond-64-bits", "case-duplicates", "fixed-name-case", "empty-key", "list-of-mixed", "scalar-list"])
def test_rows_the_reference_handles(blobs: list[bytes], tmp_path: Path) -> None:
    assert lookup_table_from_json(blobs, tmp_path) is None
    assert_same_table(lookup_table_of_json(blobs, tmp_path), lookup_table([DECODE.decode(b) for b in blobs]))


def test_integers_beyond_any_64_bit_type_are_doubles_as_in_the_reference(tmp_path: Path) -> None:
    blobs = [b'{"id":18446744073709551616}', b'{"id":1}']
    got = lookup_table_from_json(blobs, tmp_path)
    assert got is not None
    assert_same_table(got, lookup_table([DECODE.decode(b) for b in blobs]))


def test_more_fields_than_columns_go_to_the_reference(tmp_path: Path) -> None:
    row = {f"f{i}": i for i in range(405)}
    assert lookup_table_from_json(encode([row]), tmp_path) is None


def test_rows_that_are_not_objects_go_to_the_reference(tmp_path: Path) -> None:
    assert lookup_table_from_json([b'{"a":1}', b"[1,2]"], tmp_path) is None


SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8) | st.floats(
    allow_nan=False, allow_infinity=False, width=32)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=4), inner, max_size=3), max_leaves=6)
KEYS = st.sampled_from(["a", "b", "c", "value", "tags", "meta", "match", "p_any_emails"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=1, max_size=6))
def test_any_rows_give_the_reference_table(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    """Whatever path the rows take, the export equals the reference."""
    blobs = encode(rows)
    assert_same_table(lookup_table_of_json(blobs, tmp_path), lookup_table([DECODE.decode(b) for b in blobs]))
