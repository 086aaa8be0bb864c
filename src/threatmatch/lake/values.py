"""Turn DuckDB/Arrow results into plain JSON-able Python values (pure).

Timestamps become Panther text (``YYYY-MM-DD HH:MM:SS.fff``, UTC), JSON columns (at any depth: ``p_enrichment``,
``p_enrichment_matches[].row``) are parsed, maps become objects, decimals numbers, bytes hex text, UUIDs text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from threatmatch.timefmt import panther_ts

Converter = Callable[[Any], Any]


def plain(value: Any) -> Any:
    """A JSON-able rendering of one Python value coming out of Arrow."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return panther_ts(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**63 else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


def parse_json(value: Any) -> Any:
    """A JSON text value parsed (left as text when it is not valid JSON)."""
    if not isinstance(value, str):
        return plain(value)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def converter(duck_type: Any) -> Converter:
    """A converter for values of one DuckDB type (``DuckDBPyType``), parsing JSON at any nesting depth."""
    if str(duck_type) == "JSON":
        return parse_json
    kind = getattr(duck_type, "id", "")
    if kind in ("list", "array"):
        child = converter(dict(_children(duck_type))["child"])
        return lambda v: None if v is None else [child(x) for x in v]
    if kind == "struct":
        fields = {name: converter(t) for name, t in _children(duck_type)}
        return lambda v: None if v is None else {k: fields.get(k, plain)(x) for k, x in v.items()}
    if kind == "map":
        parts = dict(_children(duck_type))
        key, val = converter(parts["key"]), converter(parts["value"])
        return lambda v: None if v is None else {str(key(k)): val(x) for k, x in _pairs(v)}
    return plain


def _children(duck_type: Any) -> list[tuple[str, Any]]:
    return [(name, child) for name, child in duck_type.children if hasattr(child, "id")]


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        return list(value.items())
    return [(k, v) for k, v in value]


def column_values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """Python values of one Arrow column; values Python cannot hold (e.g. 'infinity' timestamps) become text."""
    try:
        return list(column.to_pylist())
    except (ValueError, OverflowError, pa.ArrowException):
        try:
            return list(column.cast(pa.string()).to_pylist())
        except (pa.ArrowException, ValueError):
            return [_scalar_text(column[i]) for i in range(len(column))]


def _scalar_text(scalar: Any) -> Any:
    try:
        return scalar.as_py()
    except (ValueError, OverflowError, pa.ArrowException):
        return "<value not representable>"


def table_rows(table: pa.Table, converters: list[Converter]) -> list[list[Any]]:
    """Rows (lists) of ``table`` with each column passed through its converter."""
    columns = []
    for index, convert in enumerate(converters):
        values = column_values(table.column(index))
        columns.append([convert(v) for v in values] if _needs(table.schema.field(index).type, convert) else values)
    return [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in range(table.num_rows)]


def _needs(arrow_type: pa.DataType, convert: Converter) -> bool:
    simple = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_integer(
        arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type) or pa.types.is_null(
        arrow_type)
    return convert is not plain or not simple


def to_json_line(record: dict[str, Any]) -> str:
    """One JSON line for a result row."""
    return orjson.dumps(record, default=str).decode()
