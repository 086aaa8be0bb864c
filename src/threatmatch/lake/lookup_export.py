"""Lookup rows (their stored JSON text) to the Arrow table searches read, parsed by DuckDB instead of Python.

``lake.schema.lookup_table`` is the reference: it takes decoded rows and types each top-level field from the
Python values. Exporting a generation that way decodes every row in Python, pivots it and re-encodes every
nested value: about 70 µs per ThreatStream row, over a minute of CPU for a million-row refresh (more than the
sync itself). ``lookup_table_from_json`` gives the same table from the rows' JSON text with DuckDB's JSON
reader: one pass lists the top-level keys, one reads every top-level field as JSON, one aggregate finds each
field's JSON kinds, one query casts each field by the reference's typing rule (``lake.schema`` docstring).
Anything that rule handles outside what is checked here (keys equal but for case, which DuckDB's column names
do not tell apart, an empty key, more fields than ``MAX_FIELD_COLUMNS``, a list field holding something other
than strings, an integer beyond int64 that fits 64 bits unsigned, rows that are not objects...) gives None,
and ``lookup_table_of_json`` uses the reference on the decoded rows.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa

from threatmatch.lake.naming import quote_ident, quote_literal
from threatmatch.lake.schema import LOOKUP_FIXED, MAX_FIELD_COLUMNS, STRINGS, lookup_table

_NUMBERS = frozenset({"UBIGINT", "BIGINT", "HUGEINT", "DOUBLE"})
_INTEGERS = frozenset({"UBIGINT", "BIGINT"})
_FIXED = frozenset(name for name, _ in LOOKUP_FIXED)
_DECODE = msgspec.json.Decoder()  # as the lookup store decodes rows (integers of any size stay exact)


def lookup_table_of_json(rows: Sequence[bytes], scratch: Path) -> pa.Table:
    """The lookup table of rows given as JSON text: parsed by DuckDB, or decoded here when they need the reference."""
    table = lookup_table_from_json(rows, scratch)
    return table if table is not None else lookup_table([_DECODE.decode(row) for row in rows])


def _column(name: str, kinds: set[str], items: set[str] | None) -> tuple[str, pa.DataType] | None:
    """SQL giving the reference's column for a field whose values have JSON ``kinds``; None: use the reference."""
    col = quote_ident(name)
    if items is not None:  # a p_any_* / match field: a list of strings
        if kinds <= {"ARRAY"} and items <= {"VARCHAR"}:
            return f"CAST({col} AS VARCHAR[])", STRINGS
        return None
    if kinds == {"VARCHAR"}:
        return f"{col}->>'$'", pa.string()
    if kinds == {"BOOLEAN"}:
        return f"CAST({col} AS BOOLEAN)", pa.bool_()
    if kinds <= _INTEGERS:
        return f"CAST({col} AS BIGINT)", pa.int64()  # beyond 64 bits: a conversion error, hence the reference
    if kinds <= _NUMBERS:
        return f"CAST({col} AS DOUBLE)", pa.float64()
    if kinds & {"OBJECT", "ARRAY"}:
        return f"CAST({col} AS VARCHAR)", pa.string()  # JSON text of every value, strings quoted
    # scalars of mixed kinds: text, strings as they are, other values as their JSON text
    return f"CASE WHEN json_type({col}) = 'VARCHAR' THEN {col}->>'$' ELSE CAST({col} AS VARCHAR) END", pa.string()


def lookup_table_from_json(rows: Sequence[bytes], scratch: Path) -> pa.Table | None:
    """``lookup_table([json.loads(r) for r in rows])`` computed by DuckDB (``scratch``: a directory for one
    temporary file); None when the rows need the reference (see the module docstring)."""
    if not rows:
        return None
    path = scratch / f".rows-{uuid.uuid4().hex}.ndjson"
    try:
        with open(path, "wb") as handle:
            handle.write(b"\n".join(rows))
            handle.write(b"\n")
        return _convert(path)
    except (duckdb.Error, OSError, pa.ArrowException):
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _convert(path: Path) -> pa.Table | None:
    with duckdb.connect() as con:
        con.execute("SET threads = 1").fetchall()  # the export runs at the sync's low priority: one core is enough
        con.execute("SET enable_progress_bar = false").fetchall()  # nothing on stdout (the sync's report channel)
        source = quote_literal(str(path))
        # every top-level key in first-seen order (cheaper than letting read_json detect them: about 8 of 33 µs)
        names = [row[0] for row in con.execute(
            "SELECT k FROM (SELECT unnest(json_keys(json)) AS k, unnest(generate_series(1, len(json_keys(json)))) "
            f"AS i, row_number() OVER () AS n FROM read_json_objects({source}, format = 'newline_delimited')) "
            "GROUP BY k ORDER BY min(n * 1000000 + i)").fetchall()]
        lowered = [name.lower() for name in names]
        if not names or "" in names or len(set(lowered)) != len(lowered) or any(
                low in _FIXED and name not in _FIXED for name, low in zip(names, lowered, strict=True)) or sum(
                name not in _FIXED for name in names) > MAX_FIELD_COLUMNS:
            return None
        columns = ", ".join(f"{quote_literal(name)}: 'JSON'" for name in names)
        con.execute(f"CREATE TEMP TABLE r AS SELECT * FROM read_json({source}, format = 'newline_delimited', "
                    f"records = true, auto_detect = false, columns = {{{columns}}})").fetchall()
        lists = [name for name in names if name in _FIXED or name.startswith("p_any_")]
        aggregates = [f"list_distinct(list(json_type({quote_ident(name)})))" for name in names]
        aggregates += [f"list_distinct(flatten(list(json_type({quote_ident(name)}, '$[*]'))))" for name in lists]
        found = con.execute(f"SELECT {', '.join(aggregates)} FROM r").fetchall()[0]
        kinds = {name: set(found[i] or ()) - {"NULL"} for i, name in enumerate(names)}
        items = {name: set(found[len(names) + i] or ()) - {"NULL"} for i, name in enumerate(lists)}
        selects: list[str] = []
        fields: list[pa.Field] = []
        for name, _kind in LOOKUP_FIXED:  # fixed columns first, always present
            if kinds.get(name):
                column = _column(name, kinds[name], items[name])
                if column is None:
                    return None
                selects.append(f"{column[0]} AS {quote_ident(name)}")
            else:
                selects.append(f"CAST(NULL AS VARCHAR[]) AS {quote_ident(name)}")
            fields.append(pa.field(name, STRINGS))
        for name in names:
            if name in _FIXED or not kinds[name] and name not in items:
                continue
            # an indicator field is a column even when null in every row (as in the reference)
            column = _column(name, kinds[name], items.get(name)) if kinds[name] else ("CAST(NULL AS VARCHAR[])",
                                                                                        STRINGS)
            if column is None:
                return None
            selects.append(f"{column[0]} AS {quote_ident(name)}")
            fields.append(pa.field(name, column[1]))
        result = con.sql(f"SELECT {', '.join(selects)} FROM r").arrow()
        table = result.read_all() if isinstance(result, pa.RecordBatchReader) else result
        return table.cast(pa.schema(fields))
