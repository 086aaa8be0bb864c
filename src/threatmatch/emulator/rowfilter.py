"""Compile query expressions into row predicates over the columns (fast paths per column kind).

The comparison semantics are exactly ``query.comparison_test``; only the way a field is read differs:
categorical columns are tested once per distinct label (a row test is then a set lookup), numeric columns
are compared directly, and fields without a column fall back to reading the whole object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from threatmatch.emulator.columns import NULL, Columns
from threatmatch.providers.threatstream.query import And, Comparison, Expr, comparison_test
from threatmatch.providers.threatstream.query_fields import FIELD_KINDS, convert_literal, dict_accessor

RowTest = Callable[[int], bool]


def compile_rows(expr: Expr, columns: Columns, load: Callable[[int], dict[str, Any]]) -> RowTest:
    """A predicate on row numbers equivalent to ``compile_predicate(expr)`` on the rows' objects."""
    if isinstance(expr, Comparison):
        return _comparison(expr, columns, load)
    parts = sorted((compile_rows(item, columns, load) for item in expr.items), key=_cost)
    return _all(parts) if isinstance(expr, And) else _any(parts)


def _cost(test: RowTest) -> int:
    return getattr(test, "cost", 0)


def _all(parts: Sequence[RowTest]) -> RowTest:
    if len(parts) == 1:
        return parts[0]
    first, rest = parts[0], _all(parts[1:])
    return _costed(lambda row: first(row) and rest(row), max(_cost(first), _cost(rest)))


def _any(parts: Sequence[RowTest]) -> RowTest:
    if len(parts) == 1:
        return parts[0]
    first, rest = parts[0], _any(parts[1:])
    return _costed(lambda row: first(row) or rest(row), max(_cost(first), _cost(rest)))


def _costed(test: RowTest, cost: int) -> RowTest:
    if cost:
        test.cost = cost  # type: ignore[attr-defined]
    return test


def _comparison(cmp: Comparison, columns: Columns, load: Callable[[int], dict[str, Any]]) -> RowTest:
    test = comparison_test(cmp)
    name = "source" if cmp.field == "feed_name" else cmp.field
    if name in columns.categories:
        cat = columns.categories[name]
        allowed = frozenset(code for code, label in enumerate(cat.labels) if test(label))
        codes = cat.codes
        return lambda row: codes[row] in allowed
    if name in columns.numbers:
        return _numeric(cmp, columns.numbers[name], test)
    if name == "value":
        values = columns.values
        return lambda row: test(values[row])
    read = dict_accessor(cmp.field)
    return _costed(lambda row: test(read(load(row))), 1)  # slow path: whole object


def _numeric(cmp: Comparison, column: Any, test: Callable[[Any], bool]) -> RowTest:
    """Direct array comparisons; NULL (a huge negative sentinel) must never satisfy < or <=."""
    if cmp.op in (">", ">=", "<", "<=", "=") and isinstance(cmp.value, str):
        operand = convert_literal(FIELD_KINDS[cmp.field], cmp.value)
        if cmp.op == ">":
            return lambda row: column[row] > operand
        if cmp.op == ">=":
            return lambda row: column[row] >= operand
        if cmp.op == "<":
            return lambda row: NULL < column[row] < operand
        if cmp.op == "<=":
            return lambda row: NULL < column[row] <= operand
        return lambda row: column[row] == operand

    def generic(row: int) -> bool:
        value = column[row]
        return test(None if value == NULL else value)

    return generic


def flatten_and(expr: Expr | None) -> list[Expr]:
    """The conjuncts of ``expr`` (``a and (b and c)`` gives ``[a, b, c]``)."""
    if expr is None:
        return []
    if isinstance(expr, And):
        return [part for item in expr.items for part in flatten_and(item)]
    return [expr]


def conjunction(parts: Sequence[Expr]) -> Expr | None:
    """``parts`` ANDed, or None when there are none."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


