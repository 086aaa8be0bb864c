"""Space-separated columns with quoted and [bracketed] fields (AWS ALB and S3 server access logs).

Options (under ``parser: {native: {name: spaced, ...}}``):

* ``columns``: one entry per column, a schema field name, ``-`` to skip, or
  ``{name: client, split: hostport, into: [clientIp, clientPort]}`` /
  ``{split: request, into: [method, url, protocol]}`` to split a column;
* ``minColumns``: lines may stop early after this many columns (new AWS fields are appended over time);
* ``extraColumns``: ``ignore`` (default: AWS documents that fields may be appended) or ``reject``.

``-`` means absent; values are typed by the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threatmatch.logtypes.parsers.common import (
    Coercer,
    LineParser,
    Reject,
    coerce_into,
    line_by_line,
)
from threatmatch.logtypes.parsers.tokens import tokenize

SPLITS = ("hostport", "request")


@dataclass(frozen=True)
class Column:
    """One column: stored under ``name`` or split into ``into``; ``skip`` drops it."""

    name: str = ""
    split: str = ""
    into: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        if self.split:
            return self.into
        return () if self.name in ("", "-", "_") else (self.name,)


def parse_columns(raw: Any) -> tuple[list[Column], list[tuple[str, str]]]:
    """Column specs from YAML plus (path, problem) pairs."""
    columns: list[Column] = []
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, list) or not raw:
        return [], [("columns", "expected a non-empty list of column names")]
    for index, item in enumerate(raw):
        where = f"columns[{index}]"
        if isinstance(item, str):
            columns.append(Column(name=item))
        elif isinstance(item, dict):
            split = item.get("split", "")
            into = item.get("into", [])
            if split not in SPLITS:
                problems.append((f"{where}.split", f"unknown split {split!r} (known: {', '.join(SPLITS)})"))
            if not isinstance(into, list) or not all(isinstance(n, str) for n in into):
                problems.append((f"{where}.into", "expected a list of field names"))
                into = []
            expected = 2 if split == "hostport" else 3
            if split in SPLITS and len(into) != expected:
                problems.append((f"{where}.into", f"split {split} produces {expected} fields"))
            columns.append(Column(name=str(item.get("name", "")), split=split, into=tuple(into)))
        else:
            problems.append((where, "expected a field name or {split, into}"))
    return columns, problems


def _split(column: Column, text: str) -> list[tuple[str, str]]:
    if column.split == "hostport":
        host, colon, port = text.rpartition(":")
        if not colon or not port.isdigit() or (":" in host and not host.startswith("[")):
            return [(column.into[0], text)]
        return [(column.into[0], host.strip("[]")), (column.into[1], port)]
    parts = text.split(" ")
    if len(parts) != 3:
        return [(column.into[1], text)]
    return list(zip(column.into, parts, strict=True))


def spaced_parser(log_type: str, columns: list[Column], typed: dict[str, Coercer], *, min_columns: int,
                  extra: str) -> LineParser:
    """Parser for one fixed column layout."""
    count = len(columns)

    def row(line: str) -> dict[str, Any]:
        tokens = tokenize(line)
        got = len(tokens)
        if got < min_columns or (extra == "reject" and got > count):
            if extra == "reject" and min_columns == count:
                wanted = f"{count}"
            elif got < min_columns:
                wanted = f"at least {min_columns}"
            else:
                wanted = f"at most {count}"
            raise Reject(f"expected {wanted} space-separated fields for {log_type}, got {got}")
        event: dict[str, Any] = {}
        for column, token in zip(columns, tokens, strict=False):
            text = token.text
            if text == "-" or not column.targets:
                continue
            pairs = _split(column, text) if column.split else [(column.name, text)]
            for name, value in pairs:
                if value != "-":
                    coerce_into(event, name, value, typed)
        return event

    return line_by_line(row)
