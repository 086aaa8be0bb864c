"""Zeek logs: ASCII TSV with ``#separator``/``#fields``/``#types`` headers, or Zeek JSON lines.

Values are typed from ``#types`` the way Zeek's JSON writer types them: ``time``/``interval``/``double``
-> float, ``count``/``int``/``port`` -> int, ``bool`` ``T``/``F`` -> true/false, ``set[..]``/``vector[..]``
-> lists split on ``#set_separator``. ``#unset_field`` (``-``) leaves the key out; ``#empty_field``
(``(empty)``) is ``[]`` for containers and ``""`` otherwise. ``\\xHH`` escapes are decoded (UTF-8;
bytes that are not UTF-8 stay escaped). Header changes mid-file (concatenated logs) are honoured.
A line starting with ``{`` is read as Zeek JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from threatmatch.logtypes.parsers.common import INT64, LineParser, ParseResult, Reject, json_object, text_lines

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\\\")


def unescape(text: str) -> str:
    """Decode Zeek's ``\\xHH`` escapes (and ``\\\\``) into text."""
    if "\\" not in text:
        return text
    raw = bytearray()
    last = 0
    for match in _ESCAPE.finditer(text):
        raw += text[last : match.start()].encode("utf-8")
        raw.append(int(match.group(1), 16) if match.group(1) else 0x5C)
        last = match.end()
    raw += text[last:].encode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _number(kind: str, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise Reject(f"expected a {kind} value, got {text[:60]!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise Reject(f"expected a finite {kind} value, got {text[:60]!r}")
        if value.__class__ is int and value not in INT64:
            raise Reject(f"{kind} value out of the 64-bit range: {text[:60]!r}")
        return value

    return parse


def _bool(text: str) -> bool:
    if text == "T":
        return True
    if text == "F":
        return False
    raise Reject(f"expected T or F, got {text[:60]!r}")


def _scalar(zeek_type: str) -> Callable[[str], Any]:
    if zeek_type in ("time", "interval", "double"):
        return _number(zeek_type, float)
    if zeek_type in ("count", "int", "port"):
        return _number(zeek_type, int)
    if zeek_type == "bool":
        return _bool
    return unescape


class _Header:
    def __init__(self) -> None:
        self.separator = "\t"
        self.set_separator = ","
        self.empty = "(empty)"
        self.unset = "-"
        self.fields: list[str] = []
        self.converters: list[tuple[Callable[[str], Any], bool]] = []

    def directive(self, line: str) -> None:
        name, _, value = line[1:].partition(self.separator if not line.startswith("#separator") else " ")
        if name == "separator":
            self.separator = unescape(value.strip()) or "\t"
        elif name == "set_separator":
            self.set_separator = unescape(value)
        elif name == "empty_field":
            self.empty = value
        elif name == "unset_field":
            self.unset = value
        elif name == "fields":
            self.fields = value.split(self.separator)
            self.converters = [(unescape, False)] * len(self.fields)
        elif name == "types":
            types = value.split(self.separator)
            self.converters = [
                (_scalar(t[t.index("[") + 1 : -1]), True) if "[" in t else (_scalar(t), False) for t in types
            ]

    def row(self, line: str) -> dict[str, Any]:
        if not self.fields:
            raise Reject("data line before any #fields header (is this a Zeek TSV log?)")
        values = line.split(self.separator)
        if len(values) != len(self.fields):
            raise Reject(f"expected {len(self.fields)} tab-separated fields (from #fields), got {len(values)}")
        if len(self.converters) != len(self.fields):
            raise Reject(f"#types lists {len(self.converters)} types for {len(self.fields)} #fields")
        event: dict[str, Any] = {}
        for name, text, (convert, container) in zip(self.fields, values, self.converters, strict=True):
            if text == self.unset:
                continue
            try:
                if container:
                    event[name] = [] if text == self.empty else [convert(v) for v in text.split(self.set_separator)]
                elif text == self.empty:
                    event[name] = ""
                else:
                    event[name] = convert(text)
            except Reject as exc:
                raise Reject(f"field {name}: {exc}") from None
        return event


def zeek_parser() -> LineParser:
    """A Zeek TSV/JSON parser (header state is per call)."""

    def parse(lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        header = _Header()
        for number, line in text_lines(lines):
            if not line.strip():
                continue
            if line[0] == "#":
                header.directive(line)
                continue
            if line[0] == "{":
                yield json_object(number, line)
                continue
            try:
                yield number, header.row(line), None
            except Reject as exc:
                yield number, None, str(exc)

    return parse
