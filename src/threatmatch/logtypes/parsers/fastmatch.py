"""Panther's ``fastmatch`` parser: text lines cut at the literal text between ``%{field}`` placeholders.

Options (Panther's): ``match`` (patterns, tried in order; the first that fits the whole line wins),
``emptyValues`` (texts meaning absent), ``trimSpace`` (strip each value), ``expandFields`` (field -> text template
using ``%{field}`` of the captured values).

A pattern is literal text and placeholders: ``%{name}`` captures a field, ``%{}`` captures and drops. The text
between two placeholders is the delimiter that ends the first one (it cannot be empty, and the value cannot hold
it); a last placeholder without text after it takes the rest of the line. A placeholder between quotes
(``"%{message}"`` or ``'%{message}'``) takes a quoted value, backslash escapes allowed, and is unescaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from threatmatch.logtypes.parsers.common import Coercer, LineParser, Reject, coerce_into, line_by_line

_PLACEHOLDER = re.compile(r"%\{([^{}]*)\}")
_QUOTES = ("\"", "'")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True)
class _Token:
    """Literal text (``name`` None), a value up to the next token (``quote`` ""), or a quoted value."""

    text: str = ""
    name: str | None = None
    quote: str = ""


@dataclass(frozen=True)
class Pattern:
    """A compiled fastmatch pattern."""

    text: str
    tokens: tuple[_Token, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The fields it captures (anonymous placeholders left out)."""
        return tuple(token.name for token in self.tokens if token.name)


def compile_pattern(text: str) -> Pattern:
    """Compile one pattern; ``ValueError`` says what is wrong with it."""
    pieces = _PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
    if len(pieces) == 1:
        raise ValueError("has no %{field} placeholder")
    if "%{" in _PLACEHOLDER.sub("", text):
        raise ValueError("has an unclosed %{ (write %{name})")
    literals, names = pieces[0::2], [name.strip() for name in pieces[1::2]]
    quotes = []
    for index in range(len(names)):
        before, after = literals[index], literals[index + 1]
        quote = before[-1:] if before[-1:] in _QUOTES and after[:1] == before[-1:] else ""
        if quote:  # the quotes belong to the value, not to the literals around it
            literals[index], literals[index + 1] = before[:-1], after[1:]
        quotes.append(quote)
    tokens: list[_Token] = []
    for index, name in enumerate(names):
        if literals[index]:
            tokens.append(_Token(literals[index]))
        elif index and not quotes[index] and not quotes[index - 1]:
            raise ValueError(f"has no text between %{{{names[index - 1]}}} and %{{{name}}} (a delimiter cannot be "
                             "empty)")
        tokens.append(_Token(name=name, quote=quotes[index]))
    if literals[-1]:
        tokens.append(_Token(literals[-1]))
    return Pattern(text, tuple(tokens))


def _quoted(line: str, at: int, quote: str) -> tuple[str, int]:
    """The unescaped value of the quoted text starting at ``line[at]`` (the quote), and the index after it."""
    if line[at:at + 1] != quote:
        raise Reject(f"expected {quote} at character {at + 1}")
    index = at + 1
    while True:
        end = line.find(quote, index)
        if end < 0:
            raise Reject(f"the quoted value at character {at + 1} never closes")
        backslashes = 0
        while line[end - 1 - backslashes] == "\\" and end - 1 - backslashes > at:
            backslashes += 1
        if backslashes % 2 == 0:
            return _UNESCAPE.sub(r"\1", line[at + 1:end]), end + 1
        index = end + 1


def match_pattern(pattern: Pattern, line: str) -> dict[str, str]:
    """The captured values of ``line``; ``Reject`` says where it stopped fitting."""
    at = 0
    values: dict[str, str] = {}
    tokens = pattern.tokens
    for index, token in enumerate(tokens):
        if token.name is None:
            if not line.startswith(token.text, at):
                where = "at the start" if index == 0 else f"at character {at + 1}"
                raise Reject(f"expected {token.text!r} {where}, found {line[at:at + 20]!r}")
            at += len(token.text)
            continue
        if token.quote:
            value, at = _quoted(line, at, token.quote)
        else:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None:
                value, at = line[at:], len(line)  # tail capture
            else:
                stop = following.text if following.name is None else following.quote
                end = line.find(stop, at)
                if end < 0:
                    raise Reject(f"expected {stop!r} after %{{{token.name}}} (from character {at + 1})")
                value, at = line[at:end], end
        if token.name:
            values[token.name] = value
    if line[at:].strip():
        raise Reject(f"unexpected text after the pattern at character {at + 1}: {line[at:at + 20]!r}")
    return values


def fastmatch_parser(options: dict[str, Any], typed: dict[str, Coercer]) -> LineParser:
    """Parser for lines matched by Panther fastmatch patterns (options already validated)."""
    texts = options["match"]
    patterns = [compile_pattern(text) for text in ([texts] if isinstance(texts, str) else texts)]
    empty = frozenset(str(value) for value in options.get("emptyValues", []) or [])
    trim = bool(options.get("trimSpace", False))
    expand = expander(options.get("expandFields") or {})

    def row(line: str) -> dict[str, Any]:
        failures: list[tuple[int, str]] = []
        for number, pattern in enumerate(patterns, 1):
            try:
                values = match_pattern(pattern, line)
            except Reject as exc:
                failures.append((number, str(exc)))
                continue
            return text_event(values, trim, empty, expand, typed)
        if len(failures) == 1:
            raise Reject(f"the line does not match the fastmatch pattern: {failures[0][1]}")
        listed = "; ".join(f"pattern {number}: {reason}" for number, reason in failures)
        raise Reject(f"the line matches none of the {len(failures)} fastmatch patterns ({listed})")

    return line_by_line(row)


def text_event(values: dict[str, str], trim: bool, empty: frozenset[str],
               expand: Callable[[dict[str, str]], dict[str, str]], typed: dict[str, Coercer]) -> dict[str, Any]:
    """The event of captured text values: trimmed (``trimSpace``), ``expandFields`` added from them, the
    ``emptyValues`` left out, the rest converted to the schema types (``Reject`` names a bad field)."""
    if trim:
        values = {name: value.strip() for name, value in values.items()}
    event: dict[str, Any] = {}
    for name, value in expand(values).items():
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
            out[name] = _PLACEHOLDER.sub(lambda found: values.get(found.group(1).strip(), ""), template)
        return out

    return expand


def check_fastmatch(options: dict[str, Any], top: set[str], add: Callable[[str, str], None]) -> None:
    """Validate ``parser.fastmatch`` options against the schema's top-level fields."""
    path = "parser.fastmatch"
    patterns = options.get("match")
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        add(f"{path}.match", "expected a non-empty list of patterns such as '%{client} - %{user} [%{time}] %{rest}'")
        return
    for index, text in enumerate(patterns):
        try:
            pattern = compile_pattern(text)
        except ValueError as exc:
            add(f"{path}.match[{index}]", f"the pattern {exc}")
            continue
        for name in pattern.names:
            if name not in top:
                add(f"{path}.match[{index}]", f"%{{{name}}} is not a top-level field of this schema")
    check_text_options(options, top, path, add)


def check_text_options(options: dict[str, Any], top: set[str], path: str, add: Callable[[str, str], None]) -> None:
    """``emptyValues``, ``trimSpace`` and ``expandFields``, shared by fastmatch and regex."""
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

