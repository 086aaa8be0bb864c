"""Input formats of a log type: validation of the schema's ``parser:`` section and parser construction.

``parser:`` takes exactly one of:

* ``json: {records: Records}`` (or no ``parser`` at all): JSON lines / documents;
* ``csv: {delimiter, hasHeader, columns, emptyValues, trimSpace, expandFields}`` (Panther's shape);
* ``fastmatch: {match, emptyValues, trimSpace, expandFields}`` and ``regex: {match, patternDefinitions,
  emptyValues, trimSpace, expandFields}`` (Panther's text parsers);
* ``native: {name: NAME, ...}`` with NAME one of ``zeek_tsv``, ``clf``, ``spaced``, ``vpcflow``,
  ``syslog_rfc5424`` (options per parser module).

Every parser maps ``Iterable[bytes | str]`` to ``(line_no, event | None, reason | None)`` and never
raises on bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from threatmatch.logtypes.checks import compile_check, rewrites
from threatmatch.logtypes.parsers.clf import SLOTS, clf_parser
from threatmatch.logtypes.parsers.common import LineParser, ParseResult, check_text_options, coercers
from threatmatch.logtypes.parsers.csvlines import csv_parser
from threatmatch.logtypes.parsers.fastmatch import check_fastmatch, fastmatch_parser
from threatmatch.logtypes.parsers.jsonl import JsonLines, json_parser
from threatmatch.logtypes.parsers.regex import check_regex, regex_parser
from threatmatch.logtypes.parsers.spaced import parse_columns, spaced_parser
from threatmatch.logtypes.parsers.syslog5424 import syslog5424_parser
from threatmatch.logtypes.parsers.vpcflow import vpcflow_parser
from threatmatch.logtypes.parsers.zeek_tsv import zeek_parser

if TYPE_CHECKING:
    from threatmatch.logtypes.schema import FieldSpec, ParserSpec, Schema

__all__ = ["NATIVE_PARSERS", "JsonLines", "LineParser", "ParseResult", "build_parser", "json_state",
           "validate_parser"]

NATIVE_PARSERS = ("zeek_tsv", "clf", "spaced", "vpcflow", "syslog_rfc5424")
_KINDS = ("json", "csv", "fastmatch", "regex", "native")


def _check_names(names: Iterable[str], top: set[str], path: str, add: Callable[[str, str], None]) -> None:
    for index, name in enumerate(names):
        if name not in ("-", "_", "") and name not in top:
            add(f"{path}[{index}]", f"column {name!r} is not a top-level field of this schema")


def _native(options: dict[str, Any], top: set[str], add: Callable[[str, str], None]) -> str:
    name = options.get("name")
    path = "parser.native"
    if name not in NATIVE_PARSERS:
        add(f"{path}.name", f"unknown native parser {name!r} (known: {', '.join(NATIVE_PARSERS)})")
        return ""
    if name == "clf":
        mapping = options.get("fields", {})
        if not isinstance(mapping, dict):
            add(f"{path}.fields", "expected a mapping of slot -> field name")
            return str(name)
        for slot, target in mapping.items():
            if slot not in SLOTS:
                add(f"{path}.fields.{slot}", f"unknown slot (known: {', '.join(SLOTS)})")
            elif target not in top:
                add(f"{path}.fields.{slot}", f"{target!r} is not a top-level field of this schema")
    elif name == "spaced":
        columns, problems = parse_columns(options.get("columns"))
        for where, problem in problems:
            add(f"{path}.{where}", problem)
        for index, column in enumerate(columns):
            _check_names(column.targets, top, f"{path}.columns[{index}]", add)
        minimum = options.get("minColumns", len(columns))
        if not isinstance(minimum, int) or not 1 <= minimum <= max(len(columns), 1):
            add(f"{path}.minColumns", f"expected 1..{len(columns)}")
        if options.get("extraColumns", "ignore") not in ("ignore", "reject"):
            add(f"{path}.extraColumns", "expected ignore or reject")
    return str(name)


def validate_parser(data: Any, fields: tuple[FieldSpec, ...], add: Callable[[str, str], None]) -> ParserSpec:
    """Check a ``parser:`` section against the schema's top-level fields; report problems through ``add``."""
    from threatmatch.logtypes.schema import ParserSpec

    if data is None:
        return ParserSpec()
    if not isinstance(data, dict) or len(data) != 1:
        add("parser", f"expected exactly one of {', '.join(_KINDS)}, e.g. parser: {{native: {{name: zeek_tsv}}}}")
        return ParserSpec()
    kind, options = next(iter(data.items()))
    if kind not in _KINDS:
        add(f"parser.{kind}", f"unknown parser (known: {', '.join(_KINDS)})")
        return ParserSpec()
    options = options or {}
    if not isinstance(options, dict):
        add(f"parser.{kind}", "expected a mapping of options")
        return ParserSpec()
    top = {spec.name for spec in fields}
    name = kind
    if kind == "native":
        name = _native(options, top, add)
    elif kind == "csv":
        columns = options.get("columns", [])
        if not isinstance(columns, list):
            add("parser.csv.columns", "expected a list of field names")
        else:
            _check_names([str(c) for c in columns], top, "parser.csv.columns", add)
        if not columns and not options.get("hasHeader"):
            add("parser.csv", "give `columns` or set `hasHeader: true`")
        check_text_options(options, top, "parser.csv", add)
    elif kind == "fastmatch":
        check_fastmatch(options, top, add)
    elif kind == "regex":
        check_regex(options, top, add)
    elif kind == "json" and not isinstance(options.get("records", ""), str):
        add("parser.json.records", "expected the name of the wrapper key, e.g. Records")
    return ParserSpec(kind=kind, name=name, options=dict(options))


def json_state(schema: Schema) -> JsonLines | None:
    """A fresh incremental parser for a JSON log type (events checked), None for other formats."""
    spec = schema.parser
    if spec.kind != "json":
        return None
    return JsonLines(spec.options.get("records") or None, compile_check(schema), rewrites=rewrites(schema))


def build_parser(schema: Schema) -> LineParser:
    """The line parser of a validated schema (every event checked: embedded JSON, required fields, validate)."""
    spec = schema.parser
    typed = coercers(schema.fields)
    options = spec.options
    base: LineParser
    if spec.kind == "csv":
        base = csv_parser(options, typed)
    elif spec.kind == "fastmatch":
        base = fastmatch_parser(options, typed)
    elif spec.kind == "regex":
        base = regex_parser(options, typed)
    elif spec.name == "zeek_tsv":
        base = zeek_parser()
    elif spec.name == "clf":
        base = clf_parser(dict(options.get("fields", {})), typed)
    elif spec.name == "spaced":
        columns, _ = parse_columns(options.get("columns"))
        base = spaced_parser(schema.name, columns, typed, min_columns=int(options.get("minColumns", len(columns))),
                             extra=str(options.get("extraColumns", "ignore")))
    elif spec.name == "vpcflow":
        base = vpcflow_parser(schema.name, typed)
    elif spec.name == "syslog_rfc5424":
        base = syslog5424_parser()
    else:
        return json_parser(options.get("records") or None, compile_check(schema))
    check = compile_check(schema)
    if check is None:
        return base

    def checked(lines: Iterable[bytes | str]) -> Iterator[ParseResult]:
        for number, event, reason in base(lines):
            if event is not None:
                reason = check(event)
                if reason is not None:
                    event = None
            yield number, event, reason

    return checked
