"""Panther's ``csv`` parser: one delimited record per line.

Options: ``delimiter`` (default ``,``), ``hasHeader`` (first record names the columns unless
``columns`` is given, in which case it is skipped), ``columns`` (schema field names, ``-`` to skip),
``emptyValues`` (texts meaning absent, default ``[""]``), ``trimSpace``, ``expandFields`` (field -> text template
of the row's values, ``%{column}``). Quoted fields follow the CSV rules (``""`` inside quotes); a quoted field
cannot span lines.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from threatmatch.logtypes.parsers.common import (
    Coercer,
    LineParser,
    ParseResult,
    Reject,
    expander,
    json_object,
    text_event,
    text_lines,
)


def csv_parser(options: dict[str, Any], typed: dict[str, Coercer]) -> LineParser:
    """Parser for delimited records."""
    delimiter = str(options.get("delimiter", ","))
    has_header = bool(options.get("hasHeader", False))
    fixed = [str(name) for name in options.get("columns", []) or []]
    empty = frozenset(str(value) for value in options.get("emptyValues", [""]))
    trim = bool(options.get("trimSpace", False))
    expand = expander(options.get("expandFields") or {})

    def record(line: str) -> list[str]:
        try:
            rows = list(csv.reader([line], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            raise Reject(f"bad CSV record: {exc}") from None
        values = rows[0] if rows else []
        return [value.strip() for value in values] if trim else values

    def parse(lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        columns = fixed
        header_pending = has_header
        for number, line in text_lines(lines):
            if not line.strip():
                continue
            if line[0] == "{":
                yield json_object(number, line)
                continue
            try:
                values = record(line)
                if header_pending:
                    header_pending = False
                    if not fixed:
                        columns = values
                    continue
                if len(values) != len(columns):
                    raise Reject(f"expected {len(columns)} {delimiter!r}-separated fields, got {len(values)}")
                event = text_event({name: value for name, value in zip(columns, values, strict=True)
                                    if name not in ("-", "_", "")}, False, empty, expand, typed)
            except Reject as exc:
                yield number, None, str(exc)
                continue
            yield number, event, None

    return parse
