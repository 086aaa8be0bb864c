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

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from threatmatch.logtypes.parsers.common import LineParser, ParseResult

MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        value.__class__, "null")


EventCheck = Callable[[dict[str, Any]], "str | None"]


class JsonLines:
    """The incremental state behind :func:`json_parser`: feed numbered lines, get parse results.

    ``buffering`` tells whether a pretty-printed document is being gathered; while it is False, a
    line that decodes on its own may be handed over already decoded with :meth:`emit` (the enrichment
    pipeline's fast output path decodes lines itself and gives back only those it cannot use).
    ``check`` (when given) rejects the events it gives a reason for (``threatmatch.logtypes.checks``); ``rewrites``
    says that it may change an event in place (decoding embedded JSON), so the event no longer equals its line.
    """

    def __init__(self, records: str | None = None, check: EventCheck | None = None, *, rewrites: bool = False) -> None:
        self.records = records
        self.check = check
        self.rewrites = rewrites
        self._buffer: list[bytes | str] = []
        self._size = 0
        self._start = 0
        self.buffering = False  # a multi-line document is open (the next lines belong to it)

    def emit(self, number: int, value: Any) -> Iterator[ParseResult]:
        """Results for one decoded JSON value found at line ``number``."""
        if value.__class__ is not dict:
            yield number, None, f"expected a JSON object, got {_kind(value)}"
            return
        records = self.records
        if records is not None:
            inner = value.get(records)
            if inner.__class__ is list:
                for index, item in enumerate(inner):
                    if item.__class__ is dict:
                        yield self._checked(number, item)
                    else:
                        yield number, None, f"{records}[{index}]: expected a JSON object, got {_kind(item)}"
                return
        yield self._checked(number, value)

    def _checked(self, number: int, event: dict[str, Any]) -> ParseResult:
        if self.check is not None:
            reason = self.check(event)
            if reason is not None:
                return number, None, reason
        return number, event, None

    def feed(self, number: int, line: bytes | str) -> Iterator[ParseResult]:
        """Results completed by line ``number`` (none while a document is still open)."""
        buffer = self._buffer
        if buffer:
            head = line[:1]
            if head in ("{", b"{") and _complete(line):
                # a new record at column 0: the buffered "document" was a truncated line
                yield self._start, None, f"invalid JSON (lines {self._start}-{number - 1}): the record never closes"
                self._buffer, self._size, self.buffering = [], 0, False
                yield from self.emit(number, orjson.loads(line))
                return
            buffer.append(line)
            self._size += len(line)
            if head in ("}", "]", b"}", b"]") or self._size > MAX_DOCUMENT_BYTES:
                text = b"".join(p if p.__class__ is bytes else p.encode() for p in buffer)  # type: ignore[union-attr]
                self._buffer, self._size, self.buffering = [], 0, False
                try:
                    value = orjson.loads(text)
                except orjson.JSONDecodeError as exc:
                    yield self._start, None, f"invalid JSON document (lines {self._start}-{number}): {exc}"
                    return
                yield from self.emit(self._start, value)
            return
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            stripped = line.strip()
            if not stripped:
                return
            if stripped[:1] in ("{", "[", b"{", b"[") and stripped[-1:] in _OPENERS and _unclosed(exc):
                self._buffer, self._size, self._start, self.buffering = [line], len(line), number, True
                return
            yield number, None, f"invalid JSON: {exc}"
            return
        yield from self.emit(number, value)

    def finish(self, number: int) -> Iterator[ParseResult]:
        """At the end of the input (``number`` = last line): a document still open is one reject."""
        if self._buffer:
            start = self._start
            self._buffer, self._size, self.buffering = [], 0, False
            yield start, None, f"invalid JSON document (lines {start}-{number}): input ended before the document closed"


def json_parser(records: str | None = None, check: EventCheck | None = None) -> LineParser:
    """A JSON-lines parser; ``records`` names a wrapper key whose list elements are the events."""

    def parse(lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        state = JsonLines(records, check)
        feed = state.feed
        number = 0
        for number, line in enumerate(lines, 1):
            yield from feed(number, line)
        yield from state.finish(number)

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
