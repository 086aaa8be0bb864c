"""Reading a downloaded feed into entries (pure: bytes in, entries and rejects out; no I/O, no clock).

Formats:

* ``lines``: one indicator per line, its first word (space, tab or comma separated); the rest of the line is kept
  as ``comment`` (a leading ``;`` or ``#`` dropped: Spamhaus DROP's ``1.10.16.0/20 ; SBL256894``, IPsum's
  ``ip<TAB>count``). Blank lines and lines starting with ``#``, ``;`` or ``//`` are skipped.
* ``csv``: lines starting with ``#`` are skipped (abuse.ch banners), the first other line is the header, unless
  it lacks the column while the last ``#`` line before it has it (a commented header such as ``#ip,ioc``, whose
  first data line is then data); every other column is kept as text.
* ``jsonl``: one JSON object per line; ``column`` names the key (``a.b`` for a nested one); other keys kept.
* ``stix`` and ``misp``: STIX 2 bundles and MISP event JSON (``providers.feed.stix`` and ``.misp``).

Each data line gives an ``Entry`` (its 1-based line number, the indicator text, the other fields) or a reject
(line number, reason). The text is not yet classified: ``rows`` does that.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from threatmatch.errors import ParseError

GZIP_MAGIC = b"\x1f\x8b"
_COMMENTS = ("#", ";", "//")


class Entry(NamedTuple):
    line: int
    value: str
    extra: dict[str, Any]
    #: row fields a structured format knows per indicator (``confidence``, ``modified_ts``, ``expiration_ts``);
    #: they replace the provider's defaults (never modified: shared between the entries of one indicator)
    own: dict[str, Any] = {}  # noqa: RUF012 - read only


class Rejected(NamedTuple):
    line: int
    reason: str


def decompress(body: bytes, *, limit: int) -> bytes:
    """``body`` as it is, or gunzipped when it is gzip data (a ``.gz`` feed served without Content-Encoding; every
    member of a multi-member file, as ``cat a.gz b.gz`` makes); ParseError when it is corrupt, truncated or would
    exceed ``limit`` bytes."""
    if body[:2] != GZIP_MAGIC:
        return body
    parts: list[bytes] = []
    size = 0
    rest = body
    while rest[:2] == GZIP_MAGIC:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise ParseError(f"the feed is gzip data but cannot be decompressed ({exc}); check the URL") from exc
        size += len(part)
        if size > limit:
            raise ParseError(f"the feed decompresses to more than {limit:,} bytes; this is not an indicator feed")
        if not inflater.eof:
            raise ParseError("the gzip feed ends before its end of stream (a truncated download); try the sync "
                             "again")
        parts.append(part)
        rest = inflater.unused_data
    if rest.strip(b"\0"):
        raise ParseError(f"the gzip feed has {len(rest):,} bytes of something else after its end; check the URL")
    return b"".join(parts)


def _text(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return text[1:] if text.startswith("\ufeff") else text


def _text_lines(body: bytes) -> list[str]:
    """The lines of a body: only a newline ends one (a form feed or U+2028 inside a line is part of it)."""
    return [line[:-1] if line.endswith("\r") else line for line in _text(body).split("\n")]


def _words(line: str) -> tuple[str, str]:
    """The first word of a line (up to a space, tab or comma) and the rest, trimmed."""
    end = len(line)
    for separator in (" ", "\t", ","):
        found = line.find(separator)
        if 0 <= found < end:
            end = found
    rest = line[end:].strip(" \t,")
    if rest[:1] in (";", "#"):
        rest = rest[1:].strip()
    return line[:end], rest


def parse_lines(body: bytes) -> Iterator[Entry | Rejected]:
    for number, raw in enumerate(_text_lines(body), start=1):
        line = raw.strip()
        if not line or line.startswith(_COMMENTS):
            continue
        value, rest = _words(line.lstrip(" \t,"))
        if not value:
            yield Rejected(number, "no indicator on the line, only separators")
            continue
        yield Entry(number, value, {"comment": rest} if rest else {})


def _header_row(line: str) -> list[str]:
    return [name.strip() for name in next(csv.reader([line]), [])]


def parse_csv(body: bytes, column: str) -> Iterator[Entry | Rejected]:
    lines = _text_lines(body)
    at = 0  # index of the header line
    comments: list[str] = []
    while at < len(lines) and (not lines[at].strip() or lines[at].lstrip().startswith("#")):
        if lines[at].strip():
            comments.append(lines[at].lstrip()[1:])
        at += 1
    if at >= len(lines):
        return
    header = _header_row(lines[at])
    if column not in header and comments and column in _header_row(comments[-1]):
        header = _header_row(comments[-1])  # a commented header: the line after it is data
    else:
        at += 1
    if column not in header:
        raise ParseError(f"the feed's CSV header has no column {column!r} (it has {', '.join(map(repr, header))}); "
                         "fix --column")
    index = header.index(column)
    reader = csv.reader(io.StringIO("\n".join(lines[at:])))
    ended = 0  # physical lines read so far (a quoted field may span several)
    try:
        for fields in reader:
            number, ended = at + ended + 1, reader.line_num
            if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
                continue
            if len(fields) != len(header):
                last = at + ended  # a record read over several lines took them all with it: say which
                over = f" (read over lines {number}-{last}: an unbalanced quote?)" if last > number else ""
                yield Rejected(number, f"{len(fields)} fields where the header has {len(header)}{over}")
                continue
            value = fields[index].strip()
            if not value:
                yield Rejected(number, f"column {column!r} is empty")
                continue
            yield Entry(number, value, {name: text for name, text in zip(header, fields, strict=True)
                                        if name and name != column and text != ""})
    except csv.Error as exc:
        raise ParseError(f"the feed's CSV cannot be read near line {at + ended + 1} ({exc}; an unbalanced quote, "
                         "for one, swallows the lines after it); nothing of this download was stored") from None


def _lookup(obj: dict[str, Any], path: list[str]) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def parse_jsonl(body: bytes, column: str) -> Iterator[Entry | Rejected]:
    path = column.split(".")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield Rejected(number, f"not valid JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            yield Rejected(number, f"expected a JSON object, got {type(obj).__name__}")
            continue
        value = _lookup(obj, path)
        if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
            shown = ("absent" if value is None else "empty" if isinstance(value, str)
                     else f"{type(value).__name__}, not text")
            yield Rejected(number, f"key {column!r} is {shown}")
            continue
        extra = dict(obj)
        if len(path) == 1:
            extra.pop(column, None)
        yield Entry(number, str(value).strip(), extra)


#: what a format's ``Entry.line`` / ``Rejected.line`` counts
UNITS = {"lines": "line", "csv": "line", "jsonl": "line", "stix": "object", "misp": "attribute"}


def parse_feed(body: bytes, fmt: str, column: str | None) -> Iterator[Entry | Rejected]:
    """The entries of a feed body in ``fmt`` (``FeedConfig.format``)."""
    if fmt == "lines":
        return parse_lines(body)
    if fmt == "stix":
        from threatmatch.providers.feed.stix import parse_stix

        return parse_stix(_text(body).encode())
    if fmt == "misp":
        from threatmatch.providers.feed.misp import parse_misp

        return parse_misp(_text(body).encode())
    if column is None:
        raise ParseError(f"a {fmt} feed needs a column")
    if fmt == "csv":
        return parse_csv(body, column)
    if fmt == "jsonl":
        return parse_jsonl(body, column)
    raise ParseError(f"unknown feed format {fmt!r}")
