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

from threatmatch.logtypes.parsers.common import (
    PLACEHOLDER,
    Coercer,
    LineParser,
    Reject,
    check_text_options,
    expander,
    line_by_line,
    text_event,
    text_list,
)

_QUOTES = ("\"", "'")
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True)
class _Token:
    """Literal text (``name`` None), a value up to the next token (``quote`` ""), or a quoted value."""

    text: str = ""
    name: str | None = None
    quote: str = ""


_LITERAL, _UNTIL, _TAIL, _QUOTED = range(4)  # step kinds of a compiled pattern


@dataclass(frozen=True)
class Pattern:
    """A compiled fastmatch pattern: its tokens, and the steps matching runs (kind, text, field name)."""

    text: str
    tokens: tuple[_Token, ...]
    steps: tuple[tuple[int, str, str], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The fields it captures (anonymous placeholders left out)."""
        return tuple(token.name for token in self.tokens if token.name)


def _steps(tokens: list[_Token]) -> tuple[tuple[int, str, str], ...]:
    """``(_LITERAL, text, "")``, ``(_UNTIL, stop text, name)``, ``(_TAIL, "", name)`` or ``(_QUOTED, quote, name)``
    per token; a value that is not quoted ends where the next token starts."""
    steps = []
    for index, token in enumerate(tokens):
        if token.name is None:
            steps.append((_LITERAL, token.text, ""))
        elif token.quote:
            steps.append((_QUOTED, token.quote, token.name))
        elif index + 1 == len(tokens):
            steps.append((_TAIL, "", token.name))
        else:
            following = tokens[index + 1]
            steps.append((_UNTIL, following.text if following.name is None else following.quote, token.name))
    return tuple(steps)


def compile_pattern(text: str) -> Pattern:
    """Compile one pattern; ``ValueError`` says what is wrong with it."""
    pieces = PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
    if len(pieces) == 1:
        raise ValueError("has no %{field} placeholder")
    if "%{" in PLACEHOLDER.sub("", text):
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
    return Pattern(text, tuple(tokens), _steps(tokens))


def _quoted(line: str, at: int, quote: str) -> tuple[str, int]:
    """The unescaped value of the quoted text starting at ``line[at]`` (the quote), and the index after it."""
    if line[at:at + 1] != quote:
        raise Reject(f"expected {quote} at character {at + 1}")
    end = line.find(quote, at + 1)
    if end > 0 and "\\" not in line[at + 1:end]:  # the usual case: no escapes inside
        return line[at + 1:end], end + 1
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
    for kind, text, name in pattern.steps:
        if kind == _LITERAL:
            if not line.startswith(text, at):
                where = "at the start" if at == 0 else f"at character {at + 1}"
                raise Reject(f"expected {text!r} {where}, found {line[at:at + 20]!r}")
            at += len(text)
            continue
        if kind == _UNTIL:
            end = line.find(text, at)
            if end < 0:
                raise Reject(f"expected {text!r} after %{{{name}}} (from character {at + 1})")
            value, at = line[at:end], end
        elif kind == _TAIL:
            value, at = line[at:], len(line)
        else:
            value, at = _quoted(line, at, text)
        if name:
            values[name] = value
    if line[at:].strip():
        raise Reject(f"unexpected text after the pattern at character {at + 1}: {line[at:at + 20]!r}")
    return values


def fastmatch_parser(options: dict[str, Any], typed: dict[str, Coercer]) -> LineParser:
    """Parser for lines matched by Panther fastmatch patterns (options already validated)."""
    patterns = [compile_pattern(text) for text in text_list(options["match"]) or []]
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


def check_fastmatch(options: dict[str, Any], top: set[str], add: Callable[[str, str], None]) -> None:
    """Validate ``parser.fastmatch`` options against the schema's top-level fields."""
    path = "parser.fastmatch"
    patterns = text_list(options.get("match"))
    if patterns is None:
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
