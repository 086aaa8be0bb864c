"""Panther's ``regex`` parser: each text line searched with one RE2 expression whose named groups are the fields.

Options (Panther's): ``match`` (a list of parts joined as they are, without spaces, into one expression; grok
references ``%{NAME:field}`` allowed, see ``grok``), ``patternDefinitions`` (name -> expression, usable as
``%{NAME}``), ``emptyValues``, ``trimSpace``, ``expandFields`` (as for ``fastmatch``).

The expression is searched in the line (anchor it with ``^``/``$`` to match the whole line); every named group that
took part in the match sets its field, the others leave it absent. RE2 (the engine Panther uses) runs in time linear
in the line whatever the expression, so a hostile line cannot stall the parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]

from threatmatch.logtypes.parsers.common import (
    Coercer,
    LineParser,
    Reject,
    check_text_options,
    expander,
    line_by_line,
    text_event,
    text_list,
)
from threatmatch.logtypes.parsers.grok import GrokError, expand

__all__ = ["check_regex", "compile_regex", "regex_parser"]


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # errors are raised (and reported with the schema path), not printed
    return options


class Expression:
    """A compiled RE2 expression and its named groups.

    Matching goes straight to the binding's compiled ``RE2`` object on the line's UTF-8 bytes and slices the groups
    out of them: the binding's ``search``/``groupdict`` on ``str`` re-encode the line and map every offset back to
    characters in Python, several times the cost of the match itself (87 against 13 us per access-log line).
    """

    def __init__(self, compiled: Any) -> None:
        self.groupindex: dict[str, int] = dict(compiled.groupindex)
        self._groups = sorted(self.groupindex.items(), key=lambda item: item[1])
        self._match = compiled._regexp.Match  # the pinned binding's C++ RE2 object
        self._unanchored = re2._Anchor.UNANCHORED

    def values(self, line: str) -> dict[str, str] | None:
        """The text of every named group that took part in the first match in ``line``; None: no match."""
        data = line.encode("utf-8", "surrogatepass")
        spans = self._match(self._unanchored, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        found: dict[str, str] = {}
        for name, index in self._groups:
            begin, end = spans[index]
            if begin >= 0:
                found[name] = data[begin:end].decode("utf-8", "surrogatepass")
        return found


def compile_regex(options: dict[str, Any]) -> Expression:
    """The expression of validated ``parser.regex`` options; ``ValueError`` says why it does not compile."""
    text = "".join(text_list(options.get("match")) or [])
    definitions = {str(k): str(v) for k, v in (options.get("patternDefinitions") or {}).items()}
    expression = expand(text, definitions)
    try:
        return Expression(re2.compile(expression, _options()))
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"not a valid RE2 expression: {reason}") from None


def regex_parser(options: dict[str, Any], typed: dict[str, Coercer]) -> LineParser:
    """Parser for lines searched with a Panther regex (options already validated)."""
    expression = compile_regex(options)
    empty = frozenset(str(value) for value in options.get("emptyValues", []) or [])
    trim = bool(options.get("trimSpace", False))
    expand_fields = expander(options.get("expandFields") or {})
    search = expression.values

    def row(line: str) -> dict[str, Any]:
        values = search(line)
        if values is None:
            raise Reject("the line does not match the regex pattern of this log type")
        return text_event(values, trim, empty, expand_fields, typed)

    return line_by_line(row)


def check_regex(options: dict[str, Any], top: set[str], add: Callable[[str, str], None]) -> None:
    """Validate ``parser.regex`` options against the schema's top-level fields."""
    path = "parser.regex"
    if text_list(options.get("match")) is None:
        add(f"{path}.match", "expected a non-empty list of expression parts such as '%{IP:client} %{GREEDYDATA:rest}'")
        return
    definitions = options.get("patternDefinitions", {}) or {}
    if not isinstance(definitions, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in definitions.items()):
        add(f"{path}.patternDefinitions", "expected a mapping of NAME -> expression")
        return
    try:
        expression = compile_regex(options)
    except (GrokError, ValueError) as exc:
        add(f"{path}.match", str(exc))
        return
    if not expression.groupindex:
        add(f"{path}.match", "captures no field: name groups with %{PATTERN:field} or (?P<field>...)")
    for name in expression.groupindex:
        if name not in top:
            add(f"{path}.match", f"group {name!r} is not a top-level field of this schema")
    check_text_options(options, top, path, add)
