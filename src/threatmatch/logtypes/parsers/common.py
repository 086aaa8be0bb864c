"""Shared pieces of the text parsers: line splitting and decoding, schema-driven type coercion, results, and the
options ``csv``, ``fastmatch`` and ``regex`` share (``emptyValues``, ``trimSpace``, ``expandFields``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from threatmatch.logtypes.schema import FieldSpec
from threatmatch.logtypes.timestamps import compile_time_parser

ParseResult = tuple[int, "dict[str, Any] | None", "str | None"]
LineParser = Callable[[Iterable["bytes | str"]], Iterator[ParseResult]]
Coercer = Callable[[str], Any]


class Reject(ValueError):
    """A line cannot be parsed; the message is the reject reason."""


def split_lines(data: bytes) -> list[bytes]:
    """Lines without their terminators; ``\\r\\n`` and ``\\n`` both end a line; no trailing empty line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


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


PLACEHOLDER = re.compile(r"%\{([^{}]*)\}")  # ``%{name}`` in fastmatch patterns, grok and expandFields templates


def text_list(value: Any) -> list[str] | None:
    """``match:`` as a list of strings (one string is a list of one); None when it is anything else or empty."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        return None
    return items


def text_event(values: dict[str, str], trim: bool, empty: frozenset[str],
               expand: Callable[[dict[str, str]], dict[str, str]], typed: dict[str, Coercer]) -> dict[str, Any]:
    """The event of captured text values: trimmed (``trimSpace``), the ``emptyValues`` left out (absent for the
    templates too), ``expandFields`` added, the rest converted to the schema types (``Reject`` names a bad field)."""
    if trim:
        values = {name: value.strip() for name, value in values.items()}
    event: dict[str, Any] = {}
    for name, value in expand({name: value for name, value in values.items() if value not in empty}).items():
        if value not in empty:
            coerce_into(event, name, value, typed)
    return event


def expander(templates: dict[str, str]) -> Callable[[dict[str, str]], dict[str, str]]:
    """``expandFields``: each named field set from its template (``%{field}`` = a captured value, "" if none)."""
    if not templates:
        return lambda values: values

    def expand(values: dict[str, str]) -> dict[str, str]:
        out = dict(values)
        for name, template in templates.items():
            out[name] = PLACEHOLDER.sub(lambda found: values.get(found.group(1).strip(), ""), template)
        return out

    return expand


def check_text_options(options: dict[str, Any], top: set[str], path: str, add: Callable[[str, str], None]) -> None:
    """``emptyValues``, ``trimSpace`` and ``expandFields``, shared by csv, fastmatch and regex."""
    empty = options.get("emptyValues", [])
    if not isinstance(empty, list) or not all(isinstance(value, str) for value in empty):
        add(f"{path}.emptyValues", "expected a list of strings, e.g. ['-']")
    if not isinstance(options.get("trimSpace", False), bool):
        add(f"{path}.trimSpace", "expected true or false")
    expand = options.get("expandFields", {}) or {}
    if not isinstance(expand, dict) or not all(isinstance(v, str) for v in expand.values()):
        add(f"{path}.expandFields", "expected a mapping of field name -> text template such as '%{host}:%{port}'")
        return
    for name in expand:
        if name not in top:
            add(f"{path}.expandFields.{name}", "not a top-level field of this schema")
