"""Shared pieces of the text parsers: line decoding, schema-driven type coercion, results."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from threatmatch.logtypes.schema import FieldSpec
from threatmatch.logtypes.timestamps import compile_time_parser

ParseResult = tuple[int, "dict[str, Any] | None", "str | None"]
LineParser = Callable[[Iterable["bytes | str"]], Iterator[ParseResult]]
Coercer = Callable[[str], Any]


class Reject(ValueError):
    """A line cannot be parsed; the message is the reject reason."""


def text_lines(lines: Iterable[bytes | str]) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without the line ending); undecodable bytes kept as ``\\xNN``."""
    for number, line in enumerate(lines, 1):
        text = line if isinstance(line, str) else bytes(line).decode("utf-8", "backslashreplace")
        yield number, text.rstrip("\r\n")


def json_object(number: int, line: str) -> ParseResult:
    """A ``{...}`` line inside a text-format input: the same log type already as JSON (e.g. Panther-shaped)."""
    import orjson

    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return number, None, f"invalid JSON: {exc}"
    if value.__class__ is not dict:
        return number, None, "expected a JSON object"
    return number, value, None


def line_by_line(row: Callable[[str], dict[str, Any]]) -> LineParser:
    """A parser for formats where each line stands alone: blank lines are skipped, ``{...}`` lines are the
    same log type already as JSON, every other line goes through ``row`` (which raises ``Reject``)."""

    def parse(lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        for number, line in text_lines(lines):
            if not line.strip():
                continue
            if line[0] == "{":
                yield json_object(number, line)
                continue
            try:
                yield number, row(line), None
            except Reject as exc:
                yield number, None, str(exc)

    return parse


INT64 = range(-(1 << 63), 1 << 63)  # what an integer column (Panther's bigint) and the lake can hold


def _to_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise Reject(f"expected an integer, got {text[:60]!r}") from None
    if value not in INT64:
        raise Reject(f"integer out of the 64-bit range: {text[:60]!r}")
    return value


def _to_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Reject(f"expected a number, got {text[:60]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Reject(f"expected a finite number, got {text[:60]!r}")
    return value


_TRUE = frozenset({"true", "t", "1", "yes"})
_FALSE = frozenset({"false", "f", "0", "no"})


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise Reject(f"expected true/false, got {text[:60]!r}")


def _timestamp(spec: FieldSpec) -> Coercer:
    parse = compile_time_parser(spec.time_formats)
    numeric = bool(spec.time_formats) and all(fmt.startswith("unix") for fmt in spec.time_formats)

    def coerce(text: str) -> Any:
        value: Any = text
        if numeric:
            value = _to_float(text) if "." in text else _to_int(text)
        if parse(value) is None:
            formats = ", ".join(spec.time_formats) or "rfc3339"
            raise Reject(f"expected a timestamp ({formats}), got {text[:60]!r}")
        return value

    return coerce


def coercers(fields: tuple[FieldSpec, ...]) -> dict[str, Coercer]:
    """Text -> typed value per top-level schema field (strings and nested types stay text)."""
    found: dict[str, Coercer] = {}
    for spec in fields:
        if spec.type in ("int", "bigint"):
            found[spec.name] = _to_int
        elif spec.type == "float":
            found[spec.name] = _to_float
        elif spec.type == "boolean":
            found[spec.name] = _to_bool
        elif spec.type == "timestamp":
            found[spec.name] = _timestamp(spec)
    return found


def coerce_into(event: dict[str, Any], name: str, text: str, typed: dict[str, Coercer]) -> None:
    """Store ``text`` under ``name``, converted by the schema type; Reject names the field."""
    convert = typed.get(name)
    if convert is None:
        event[name] = text
        return
    try:
        event[name] = convert(text)
    except Reject as exc:
        raise Reject(f"field {name}: {exc}") from None
