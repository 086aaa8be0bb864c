"""The emulator's indicator store: columns, pre-sorted orders, cached filter results, keyset paging.

Rows never move. The update_id order (the bulk-sync order) is an array of row numbers kept sorted at all
times: a mutation gives the row the next update_id, so the row simply moves to the end. Other orders are
sorted once per dataset version and cached. A filter's matching rows, in a given order, are computed once
(one scan) and cached too, so paging through a million indicators with ``update_id__gt`` costs two
bisections per page, never a sort or a scan.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from threatmatch.emulator.columns import NULL, Columns
from threatmatch.emulator.generate import ID_BASE, Generator
from threatmatch.emulator.render import make_renderer, object_from_text
from threatmatch.emulator.rowfilter import compile_rows, conjunction, flatten_and
from threatmatch.providers.threatstream.query import Comparison, Expr, format_query
from threatmatch.providers.threatstream.query_fields import FIELD_KINDS, convert_literal

_RANGE_OPS = frozenset({">", ">=", "<", "<="})
_CACHE_SIZE = 16


@dataclass(frozen=True)
class PageRequest:
    """One listing request, already validated: conditions are ANDed."""

    conditions: tuple[Expr, ...] = ()
    order_field: str = "modified_ts"
    descending: bool = True
    limit: int = 20
    offset: int = 0
    search_after: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Page:
    """The rows of one page, the count after filters, and whether more rows follow."""

    rows: list[int]
    total_count: int
    has_more: bool


class Dataset:
    """Indicators held as columns (+ whole objects for added, mutated or loaded rows)."""

    def __init__(self, columns: Columns, seed: int | None = None) -> None:
        self.columns = columns
        self.seed = seed
        self.generated = len(columns) if seed is not None else 0
        self._render = make_renderer(columns, seed) if seed is not None else None
        self.overrides: dict[int, dict[str, Any]] = {}
        self._override_text: dict[int, str] = {}
        self._extra_ids: dict[int, int] = {}
        self.lock = threading.RLock()
        self.version = 0
        uids = columns.numbers["update_id"]
        if seed is not None:  # generated: update_id (and modified_ts) already grow with the row number
            self.uid_order = array("l", range(len(columns)))
        else:
            self.uid_order = array("l", sorted(range(len(columns)), key=uids.__getitem__))
        self.next_update_id = (max(uids) if uids else 100_000_000) + 1
        self._orders: dict[tuple[str, bool], Sequence[int]] = {}
        self._matches: OrderedDict[tuple[Any, ...], Sequence[int]] = OrderedDict()
        self._stats: dict[str, tuple[int, int, bool]] = {}
        self.mod_follows_uid = seed is not None or self._check_mod_follows_uid()
        self.max_modified = max((v for v in columns.numbers["modified_ts"] if v != NULL), default=0)

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def generate(cls, count: int, seed: int) -> Dataset:
        """``count`` realistic indicators, identical for the same ``seed``."""
        columns = Columns()
        Generator(seed).fill(columns, count)
        return cls(columns, seed)

    @classmethod
    def from_objects(cls, objects: Iterable[dict[str, Any]]) -> Dataset:
        """A dataset serving exactly ``objects`` (each needs an integer ``id``)."""
        columns = Columns()
        stored = []
        for obj in objects:
            obj = {k: v for k, v in obj.items() if k != "sort"}
            columns.append_object(obj)
            stored.append(obj)
        dataset = cls(columns)
        for row, obj in enumerate(stored):
            dataset.store(row, obj)
        return dataset

    # ---- objects ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.columns)

    def texts(self, rows: Sequence[int]) -> list[str]:
        """Open JSON object texts (no closing brace) of ``rows``, in order."""
        texts: list[str] = []
        override = self._override_text
        render = self._render
        if not override and render is not None:
            return render(rows)
        for row in rows:
            text = override.get(row)
            if text is None:
                assert render is not None
                text = render((row,))[0]
            texts.append(text)
        return texts

    def object(self, row: int) -> dict[str, Any]:
        """The full object of ``row`` (a fresh dict the caller may change)."""
        return object_from_text(self.texts((row,))[0])

    def store(self, row: int, obj: dict[str, Any]) -> None:
        """Make ``obj`` the object of ``row`` and update its columns."""
        obj.pop("sort", None)
        self.overrides[row] = obj
        self._override_text[row] = orjson.dumps(obj).decode()[:-1]
        self.columns.set_object(row, obj)
        self.max_modified = max(self.max_modified, self.columns.numbers["modified_ts"][row])
        ident = self.columns.numbers["id"][row]
        if row >= self.generated and ident != NULL:
            self._extra_ids[ident] = row

    def find(self, ident: int) -> int | None:
        """Row holding indicator ``id``, or None."""
        row = self._extra_ids.get(ident)
        if row is not None:
            return row
        ids = self.columns.numbers["id"]
        for guess in ((ident - ID_BASE) // 4, (ident - 2**53 - 1) // 2):
            if 0 <= guess < self.generated and ids[guess] == ident:
                return guess
        return None

    # ---- mutation bookkeeping -----------------------------------------------------------------

    def touched(self, row: int, old_update_id: int | None) -> None:
        """Record that ``row`` now has a new (maximal) update_id: move it to the end of the order."""
        uids = self.columns.numbers["update_id"]
        order = self.uid_order
        if old_update_id is not None:
            at = bisect_left(order, old_update_id, key=uids.__getitem__)
            while at < len(order) and order[at] != row:
                at += 1
            if at < len(order):
                del order[at]
        previous = order[-1] if order else None
        order.append(row)
        if self.mod_follows_uid and previous is not None:
            self.mod_follows_uid = self._sort_key(previous) <= self._sort_key(row)
        self.version += 1
        self._orders.clear()
        self._matches.clear()
        self._stats.clear()

    def _sort_key(self, row: int) -> tuple[int, int]:
        return self.columns.numbers["modified_ts"][row], self.columns.numbers["id"][row]

    def _check_mod_follows_uid(self) -> bool:
        mods, ids = self.columns.numbers["modified_ts"], self.columns.numbers["id"]
        order = self.uid_order
        return all((mods[a], ids[a]) <= (mods[b], ids[b]) for a, b in zip(order, order[1:], strict=False))

    # ---- orders and matches -------------------------------------------------------------------

    def order(self, field: str, descending: bool) -> Sequence[int]:
        """Row numbers sorted by ``field`` then id (both reversed when descending); cached per version."""
        if field == "modified_ts" and self.mod_follows_uid:
            field = "update_id"
        if field == "update_id" and not descending:
            return self.uid_order
        cached = self._orders.get((field, descending))
        if cached is None:
            if descending:
                cached = self.order(field, False)[::-1]
            else:
                rows = sorted(range(len(self.columns)), key=self.columns.numbers["id"].__getitem__)
                rows.sort(key=self.sort_key(field))
                cached = array("l", rows)
            self._orders[(field, descending)] = cached
        return cached

    def sort_key(self, field: str) -> Callable[[int], Any]:
        """Per-row sort key of ``field`` (nulls first)."""
        cols = self.columns
        field = "source" if field == "feed_name" else field
        if field in cols.numbers:
            return cols.numbers[field].__getitem__
        if field in cols.categories:
            cat = cols.categories[field]
            rank = {code: i for i, code in enumerate(sorted(range(len(cat.labels)), key=lambda c: cat.labels[c] or ""))}
            codes = cat.codes
            return lambda row: rank[codes[row]]
        values = cols.values
        return lambda row: values[row] or ""

    def stats(self, field: str) -> tuple[int, int, bool]:
        """(min, max, has_null) of a numeric column, cached per version."""
        found = self._stats.get(field)
        if found is None:
            column = self.columns.numbers[field]
            has_null = NULL in column
            present = [v for v in column if v != NULL] if has_null else column
            found = (min(present, default=0), max(present, default=0), has_null)
            self._stats[field] = found
        return found

    def matches(self, expr: Expr | None, field: str, descending: bool) -> Sequence[int]:
        """Rows satisfying ``expr`` in the given order; one scan per distinct filter, then cached."""
        order = self.order(field, descending)
        if expr is None:
            return order
        key = (self.version, field, descending, format_query(expr))
        found = self._matches.get(key)
        if found is None:
            test = compile_rows(expr, self.columns, self.object)
            found = array("l", filter(test, order))
            self._matches[key] = found
            if len(self._matches) > _CACHE_SIZE:
                self._matches.popitem(last=False)
        else:
            self._matches.move_to_end(key)
        return found

    # ---- paging -------------------------------------------------------------------------------

    def page(self, request: PageRequest) -> Page:
        """Evaluate one listing request."""
        field, desc = request.order_field, request.descending
        ranges, rest = self._split(request.conditions, field)
        matched = self.matches(conjunction(rest), field, desc)
        lo, hi = 0, len(matched)
        if ranges:
            lo, hi = self._window(matched, ranges, field, desc, lo, hi)
        total = hi - lo
        if request.search_after is not None:
            lo = self._after(matched, request.search_after, field, desc, lo, hi)
        start = min(lo + request.offset, hi)
        end = min(start + request.limit, hi)
        return Page(rows=list(matched[start:end]), total_count=total, has_more=end < hi)

    def _split(self, conditions: Sequence[Expr], field: str) -> tuple[list[Comparison], list[Expr]]:
        """Separate range conditions on the (numeric, null-free) order field from the rest; drop no-ops."""
        ranges: list[Comparison] = []
        rest: list[Expr] = []
        numeric = field in self.columns.numbers
        for cond in (part for c in conditions for part in flatten_and(c)):
            if isinstance(cond, Comparison) and cond.op in _RANGE_OPS and cond.field in self.columns.numbers:
                low, high, has_null = self.stats(cond.field)
                if not has_null and self._always_true(cond, low, high):
                    continue
                if numeric and cond.field == field and not has_null:
                    ranges.append(cond)
                    continue
            rest.append(cond)
        return ranges, rest

    @staticmethod
    def _always_true(cond: Comparison, low: int, high: int) -> bool:
        value = convert_literal(FIELD_KINDS[cond.field], str(cond.value))
        return bool({">": low > value, ">=": low >= value, "<": high < value, "<=": high <= value}[cond.op])

    def _window(self, matched: Sequence[int], ranges: list[Comparison], field: str, desc: bool,
                lo: int, hi: int) -> tuple[int, int]:
        column = self.columns.numbers[field]
        sign = -1 if desc else 1  # negate along a descending list so bisect sees a rising sequence

        def key(row: int) -> int:
            return sign * column[row]

        for cond in ranges:
            value = convert_literal(FIELD_KINDS[field], str(cond.value))
            op = cond.op
            if desc:
                value = -value
                op = {">": "<", ">=": "<=", "<": ">", "<=": ">="}[op]
            if op == ">":
                lo = max(lo, bisect_right(matched, value, lo, hi, key=key))
            elif op == ">=":
                lo = max(lo, bisect_left(matched, value, lo, hi, key=key))
            elif op == "<":
                hi = min(hi, bisect_left(matched, value, lo, hi, key=key))
            else:
                hi = min(hi, bisect_right(matched, value, lo, hi, key=key))
            if lo >= hi:
                return lo, lo
        return lo, hi

    def _after(self, matched: Sequence[int], cursor: tuple[Any, ...], field: str, desc: bool, lo: int, hi: int) -> int:
        """First position strictly after the ``search_after`` cursor (sort values of the last row seen)."""
        ids = self.columns.numbers["id"]
        base = self.sort_key(field)
        sign = -1 if desc else 1
        if field == "update_id":
            return bisect_right(matched, sign * cursor[0], lo, hi, key=lambda row: sign * base(row))
        target = (sign * cursor[0], sign * cursor[1])
        return bisect_right(matched, target, lo, hi, key=lambda row: (sign * base(row), sign * ids[row]))
