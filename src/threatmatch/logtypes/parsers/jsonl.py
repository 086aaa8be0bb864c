"""JSON input: one object per line, plus pretty-printed documents and ``{"Records": [...]}`` wrappers.

* Blank lines are skipped and not counted as rejects (their numbers still advance).
* A line that is not complete JSON, opens an object/array and ends with ``{``, ``[`` or ``,`` starts a
  multi-line (pretty-printed) document: lines are gathered until one starting at column 0 with
  ``}``/``]`` completes it. The document is reported at its first line. A complete ``{...}`` record at
  column 0 while gathering ends the attempt (the start was a truncated line), so one broken line
  never swallows the records after it.
* ``records: Records`` (option) unwraps a wrapper object into one event per element.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from threatmatch.logtypes.parsers.common import LineParser, ParseResult

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        value.__class__, "null")


def json_parser(records: str | None = None) -> LineParser:
    """A JSON-lines parser; ``records`` names a wrapper key whose list elements are the events."""

    def emit(number: int, value: Any) -> Iterator[ParseResult]:
        if value.__class__ is not dict:
            yield number, None, f"expected a JSON object, got {_kind(value)}"
            return
        if records is not None:
            inner = value.get(records)
            if inner.__class__ is list:
                for index, item in enumerate(inner):
                    if item.__class__ is dict:
                        yield number, item, None
                    else:
                        yield number, None, f"{records}[{index}]: expected a JSON object, got {_kind(item)}"
                return
        yield number, value, None

    def parse(lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        buffer: list[bytes | str] = []
        size = 0
        start = 0
        number = 0
        for number, line in enumerate(lines, 1):
            if buffer:
                head = line[:1]
                if head in ("{", b"{") and _complete(line):
                    # a new record at column 0: the buffered "document" was a truncated line
                    yield start, None, f"invalid JSON (lines {start}-{number - 1}): the record never closes"
                    buffer, size = [], 0
                    yield from emit(number, orjson.loads(line))
                    continue
                buffer.append(line)
                size += len(line)
                if head in ("}", "]", b"}", b"]") or size > MAX_DOCUMENT_BYTES:
                    text = b"".join(p if p.__class__ is bytes else p.encode() for p in buffer)  # type: ignore[union-attr]
                    buffer, size = [], 0
                    try:
                        value = orjson.loads(text)
                    except orjson.JSONDecodeError as exc:
                        yield start, None, f"invalid JSON document (lines {start}-{number}): {exc}"
                        continue
                    yield from emit(start, value)
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                stripped = line.strip()
                if not stripped:
                    continue
                if stripped[:1] in ("{", "[", b"{", b"[") and stripped[-1:] in _OPENERS and _unclosed(exc):
                    buffer, size, start = [line], len(line), number
                    continue
                yield number, None, f"invalid JSON: {exc}"
                continue
            yield from emit(number, value)
        if buffer:
            yield start, None, f"invalid JSON document (lines {start}-{number}): input ended before the document closed"

    return parse


_OPENERS = ("{", "[", ",", b"{", b"[", b",")


def _complete(line: bytes | str) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _unclosed(exc: orjson.JSONDecodeError) -> bool:
    """The error is "ran out of input" (the document continues on later lines)."""
    return exc.pos >= len(exc.doc.rstrip()) if isinstance(exc.doc, str) else False
