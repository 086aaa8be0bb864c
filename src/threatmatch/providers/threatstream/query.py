"""ThreatStream's ``q=`` query language: parse, validate, print and evaluate.

Grammar (keywords and operators case-insensitive, whitespace optional around operators)::

    query      := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := atom ("and" atom)*
    atom       := "(" or_expr ")" | FIELD OP VALUE
    OP         := "=" | "!=" | ">" | ">=" | "<" | "<=" | "contains"
    VALUE      := '"' chars with \\-escapes '"' | "'" ... "'" | bare text up to a blank or ")"
                | null  (bare, meaning "no value")

``and`` binds tighter than ``or``. Fields are the indicator object fields (dotted ``meta.severity``,
``tags.name``) plus ``feed_name`` (the feed's name, i.e. ``source``). Values are typed by their field:
numbers (``confidence``, ``feed_id``, ``id``, ``update_id`` ...), timestamps (``*_ts``; ``2024-01-31`` or
``2024-01-31T12:00:00Z``), booleans and text. Text comparisons ignore case. Every problem raises
``QuerySyntaxError`` with a 0-based position, so a user's query is validated before any request is made.

Only ``=``, ``contains``, ``and``/``or`` and parentheses are confirmed in public material; the other
operators are our inference (see the ThreatStream API spec, section 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from threatmatch.errors import QuerySyntaxError
from threatmatch.providers.threatstream.query_fields import (
    FIELD_KINDS,
    KNOWN_FIELDS,
    MULTI_VALUED,
    Accessor,
    convert_literal,
    dict_accessor,
    suggest_field,
    value_test,
)

__all__ = [
    "KNOWN_FIELDS",
    "And",
    "Comparison",
    "Expr",
    "Or",
    "compile_predicate",
    "format_query",
    "parse_query",
]

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "contains")
_SYMBOL_OPS = ("!=", ">=", "<=", "=", ">", "<")  # longest first
_FIELD_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_FIELD_CHARS = _FIELD_START + "0123456789.$"
_ORDERING = frozenset({">", ">=", "<", "<="})


@dataclass(frozen=True)
class Comparison:
    """``field op value``. ``value`` is the unescaped literal text, a tuple for the internal ``in`` op,
    or None for the bare word ``null``. ``position`` (ignored by ``==``) is where the field starts."""

    field: str
    op: str
    value: str | tuple[str, ...] | None
    position: int = dataclass_field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    """All of ``items`` hold."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """At least one of ``items`` holds."""

    items: tuple[Expr, ...]


Expr = Comparison | And | Or


def parse_query(q: str) -> Expr:
    """Parse and validate a ``q=`` expression; raise ``QuerySyntaxError`` with the offending position."""
    parser = _Parser(q)
    if parser.at_end():
        raise QuerySyntaxError("the query is empty; write a condition such as status = active", q, 0)
    expr = parser.or_expr()
    if not parser.at_end():
        raise parser.error(f"expected 'and', 'or' or the end of the query, found {parser.peek_word()!r}")
    return expr


def format_query(expr: Expr) -> str:
    """Render ``expr`` back as ``q=`` text that parses to an equal expression."""
    if isinstance(expr, Comparison):
        if expr.op == "in":
            values = expr.value if isinstance(expr.value, tuple) else ()
            return "(" + " or ".join(f"{expr.field} = {_quote(v)}" for v in values) + ")"
        value = "null" if expr.value is None else _quote(str(expr.value))
        return f"{expr.field} {expr.op} {value}"
    joiner = " and " if isinstance(expr, And) else " or "
    return "(" + joiner.join(format_query(item) for item in expr.items) + ")"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def compile_predicate(expr: Expr, accessor: Callable[[str], Accessor] = dict_accessor) -> Callable[[Any], bool]:
    """Turn ``expr`` into one closure over an indicator (a dict by default).

    ``accessor(field)`` returns a function that reads that field's normalised value from a record
    (numbers as int/float, times as epoch milliseconds, text as str, multi-valued fields as lists);
    the emulator passes one that reads its columns instead of dicts.
    """
    if isinstance(expr, Comparison):
        read = accessor(expr.field)
        test = comparison_test(expr)
        return lambda record: test(read(record))
    parts = [compile_predicate(item, accessor) for item in expr.items]
    if isinstance(expr, And):
        return lambda record: all(part(record) for part in parts)
    return lambda record: any(part(record) for part in parts)


def comparison_test(cmp: Comparison) -> Callable[[Any], bool]:
    """The test one comparison applies to a field's normalised value (scalar, or list for multi-valued)."""
    kind = FIELD_KINDS[cmp.field]
    scalar: Callable[[Any], bool]
    if cmp.op == "in":
        values = cmp.value if isinstance(cmp.value, tuple) else ()
        tests = [value_test("=", convert_literal(kind, v), kind) for v in values]
        scalar = _any_test(tests)
    else:
        operand = None if cmp.value is None else convert_literal(kind, str(cmp.value))
        scalar = value_test("=" if cmp.op == "!=" else cmp.op, operand, kind)
    test = _any_of_list(scalar) if cmp.field in MULTI_VALUED else scalar
    if cmp.op == "!=":
        return lambda value: not test(value)
    return test


def _any_test(tests: list[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    return lambda value: any(t(value) for t in tests)


def _any_of_list(base: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        if isinstance(value, list):
            return any(base(v) for v in value) if value else base(None)
        return base(value)

    return test


class _Parser:
    """Recursive descent straight over the text (values are context-sensitive, so no separate lexer)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, position: int | None = None) -> QuerySyntaxError:
        return QuerySyntaxError(message, self.text, self.pos if position is None else position)

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_blanks()
        return self.pos >= len(self.text)

    def peek_word(self) -> str:
        self.skip_blanks()
        end = self.pos
        while end < len(self.text) and not self.text[end].isspace() and end - self.pos < 30:
            end += 1
        return self.text[self.pos:end]

    def keyword(self, word: str) -> bool:
        """Consume ``word`` (case-insensitive) when it stands alone at the cursor."""
        self.skip_blanks()
        end = self.pos + len(word)
        if self.text[self.pos:end].lower() != word:
            return False
        if end < len(self.text) and self.text[end] in _FIELD_CHARS:
            return False
        self.pos = end
        return True

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Expr:
        items = [self.atom()]
        while self.keyword("and"):
            items.append(self.atom())
        return items[0] if len(items) == 1 else And(tuple(items))

    def atom(self) -> Expr:
        if self.at_end():
            raise self.error("the query ends where a condition was expected (field operator value)")
        if self.text[self.pos] == "(":
            opened = self.pos
            self.pos += 1
            expr = self.or_expr()
            if self.at_end():
                raise self.error(f"missing ')' to close the '(' at position {opened}")
            if self.text[self.pos] != ")":
                raise self.error(f"expected 'and', 'or' or ')', found {self.peek_word()!r}")
            self.pos += 1
            return expr
        return self.comparison()

    def comparison(self) -> Comparison:
        start = self.pos
        name = self.field_name()
        op = self.operator(name)
        self.skip_blanks()
        value_at = self.pos
        value = self.value(op)
        self.check(name, op, value, start, value_at)
        return Comparison(name, op, value, start)

    def field_name(self) -> str:
        start = self.pos
        if self.text[start] not in _FIELD_START:
            raise self.error(f"expected a field name, found {self.peek_word()!r}")
        end = start
        while end < len(self.text) and self.text[end] in _FIELD_CHARS:
            end += 1
        name = self.text[start:end]
        if name not in KNOWN_FIELDS:
            hint = suggest_field(name)
            suffix = f" (did you mean {hint!r}?)" if hint else ""
            raise self.error(f"unknown field {name!r}{suffix}", start)
        self.pos = end
        return name

    def operator(self, name: str) -> str:
        self.skip_blanks()
        for symbol in _SYMBOL_OPS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return symbol
        if self.keyword("contains"):
            return "contains"
        found = self.peek_word() or "the end of the query"
        raise self.error(f"expected an operator (=, !=, >, >=, <, <=, contains) after {name!r}, found {found!r}")

    def value(self, op: str) -> str | None:
        self.skip_blanks()
        if self.pos >= len(self.text):
            raise self.error(f"expected a value after {op!r}")
        quote = self.text[self.pos]
        if quote in "\"'":
            return self.quoted(quote)
        start = self.pos
        while self.pos < len(self.text) and not self.text[self.pos].isspace() and self.text[self.pos] not in "()":
            self.pos += 1
        if self.pos == start:
            raise self.error(f"expected a value after {op!r}, found {self.text[start]!r}")
        word = self.text[start:self.pos]
        return None if word.lower() == "null" else word

    def quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return "".join(chars)
            chars.append(char)
        raise self.error(f"unterminated string: the {quote} opened here is never closed", start)

    def check(self, name: str, op: str, value: str | None, start: int, value_at: int) -> None:
        """Reject operators and literals that do not fit the field's type."""
        kind = FIELD_KINDS[name]
        if op in _ORDERING and kind not in ("number", "time"):
            raise self.error(f"operator {op!r} compares numbers and timestamps, but {name!r} is {kind}", start)
        if op == "contains" and kind != "text":
            raise self.error(f"operator 'contains' needs a text field, but {name!r} is a {kind}", start)
        if value is None:
            if op not in ("=", "!="):
                raise self.error(f"null can only be compared with = or !=, not {op!r}", value_at)
            return
        try:
            convert_literal(kind, value)
        except ValueError as exc:
            raise self.error(f"invalid value for {name!r}: {exc}", value_at) from None
