"""The frozen matcher of one lookup table: exact values plus CIDR longest-prefix.

``TableIndex.build(rows, name=...)`` takes table rows (dicts with a ``match`` key, or
``(match_values, row_orjson_bytes)`` pairs as ``LookupStore.iter_match_blobs`` yields them) and
returns an immutable index:

* ``exact``: canonical value -> row number (or a tuple of row numbers when several rows share it);
* CIDR rows (``match`` like ``10.0.0.0/8``) also go to per-family ``CidrTable``s; an IP that has no
  exact row takes the longest prefix containing it (an exact IP row always beats any CIDR);
* rows stay as orjson bytes in a ``RowStore`` and are decoded only on a hit, freshly for every hit,
  so no caller can ever alter the stored row.

Lookups normalise event values with ``fast_canonical`` (same result as ``canonical``) after a first
try with the raw text, and remember recent answers in a small bounded memo (logs repeat values).
Nothing here reads a clock: ``now`` is passed in for the active/expired decision.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from threatmatch.enrich.choose import choose
from threatmatch.enrich.cidr import BITS, CidrTable
from threatmatch.enrich.rowstore import RowStore, RowStoreBuilder
from threatmatch.enrich.values import fast_canonical, ip_int

Entry = int | tuple[int, ...]
RowSource = Iterable[Mapping[str, Any] | tuple[Sequence[str], bytes]]

MISSING: Any = object()  # "not in the memo" sentinel for ``TableIndex.cached``
DEFAULT_MEMO_SIZE = 1 << 16


@dataclass(frozen=True)
class IndexStats:
    """What a build produced."""

    name: str
    rows: int
    keys: int
    cidr_blocks: int
    shared_keys: int
    skipped_rows: int
    row_bytes: int
    spooled: bool
    build_seconds: float


def _match_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [_text(item) for item in value if _text(item)]
    text = _text(value)
    return [text] if text else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _cidr_parts(text: str) -> tuple[int, int, int] | None:
    address, _, prefix = text.partition("/")
    parsed = ip_int(address)
    if parsed is None or not prefix.isdigit():
        return None
    version, network = parsed
    length = int(prefix)
    if length > BITS[version]:
        return None
    return version, network, length


class _Builder:
    def __init__(self, name: str, key: str, spool_dir: Path | None) -> None:
        self.name = name
        self.key = key
        self.rows = RowStoreBuilder(spool_dir)
        self.exact: dict[str, Entry] = {}
        self.cidrs: list[str] = []
        self.shared = 0
        self.skipped = 0

    def run(self, source: RowSource) -> None:
        """Index every row of ``source`` (one tight loop: this is the table-load hot path)."""
        exact = self.exact
        setdefault = exact.setdefault
        cidrs_append = self.cidrs.append
        canonical = fast_canonical
        dumps = orjson.dumps
        key = self.key
        rows = self.rows
        offsets_append = rows.offsets.append
        end = rows.offsets[-1]
        number = len(rows.offsets) - 1
        pending = rows.pending
        for item in source:
            if item.__class__ is tuple:
                values, blob = item
            else:
                values = _match_values(item.get(key))  # type: ignore[union-attr]
                blob = dumps(item, default=str)
            canon: tuple[str, ...]
            if len(values) == 1 and values[0].__class__ is str and values[0]:
                canon = (canonical(values[0]),)
            else:
                canon = tuple(dict.fromkeys(canonical(v) for v in _match_values(list(values)) if v))
                if not canon:
                    self.skipped += 1
                    continue
            pending.append(blob)
            end += len(blob)
            offsets_append(end)
            for value in canon:
                previous = setdefault(value, number)
                if previous is not number:
                    self.shared += 1
                    exact[value] = (previous, number) if isinstance(previous, int) else (*previous, number)
                elif "/" in value:
                    cidrs_append(value)
            number += 1
            if not number & 0xFFF:
                rows.spill()
                pending = rows.pending

    def cidr_tables(self) -> tuple[CidrTable[Entry] | None, CidrTable[Entry] | None, int]:
        blocks: dict[int, list[tuple[int, int, Entry]]] = {4: [], 6: []}
        for text in self.cidrs:
            parts = _cidr_parts(text)
            if parts is not None:
                version, network, length = parts
                blocks[version].append((network, length, self.exact[text]))
        tables = [CidrTable.build(blocks[v], bits=BITS[v]) if blocks[v] else None for v in (4, 6)]
        return tables[0], tables[1], len(blocks[4]) + len(blocks[6])


class TableIndex:
    """Immutable matcher over one table's rows. Build with ``TableIndex.build``."""

    __slots__ = ("name", "built_at", "stats", "cached", "_exact", "_cidr4", "_cidr6", "_rows", "_memo",
                 "_memo_size")

    def __init__(self, name: str, exact: dict[str, Entry], cidr4: CidrTable[Entry] | None,
                 cidr6: CidrTable[Entry] | None, rows: RowStore, stats: IndexStats, built_at: datetime,
                 memo_size: int = DEFAULT_MEMO_SIZE) -> None:
        self.name = name
        self.built_at = built_at
        self.stats = stats
        self._exact = exact
        self._cidr4 = cidr4
        self._cidr6 = cidr6
        self._rows = rows
        self._memo: dict[str, Entry | None] = {}
        self._memo_size = memo_size
        # ``cached(value, MISSING)``: the answer for a value seen recently, else MISSING -> call ``resolve``.
        self.cached = self._memo.get

    @classmethod
    def build(cls, source: RowSource, *, name: str, now: datetime | None = None, key: str = "match",
              spool_dir: Path | None = None, memo_size: int = DEFAULT_MEMO_SIZE) -> TableIndex:
        """Index ``source`` (dict rows keyed by ``key``, or ``(match_values, row_bytes)`` pairs).

        ``spool_dir``: where a large table's rows are spooled and memory-mapped (e.g. ``home.snapshots``);
        None keeps them in memory. ``now`` is recorded as ``built_at``.
        """
        started = time.perf_counter()
        builder = _Builder(name, key, spool_dir)
        builder.run(source)
        cidr4, cidr6, blocks = builder.cidr_tables()
        rows = builder.rows.freeze()
        stats = IndexStats(name=name, rows=len(rows), keys=len(builder.exact), cidr_blocks=blocks,
                           shared_keys=builder.shared, skipped_rows=builder.skipped, row_bytes=rows.nbytes,
                           spooled=rows.spooled, build_seconds=time.perf_counter() - started)
        return cls(name, builder.exact, cidr4, cidr6, rows, stats, now or datetime.now(UTC), memo_size)

    @classmethod
    def empty(cls, name: str) -> TableIndex:
        """An index with no rows (matches nothing)."""
        return cls.build((), name=name)

    # -- matching ------------------------------------------------------------------------------

    def resolve(self, value: str) -> Entry | None:
        """Entry for ``value`` (raw text, then canonical form, then CIDR), remembered in the memo."""
        exact = self._exact
        found = exact.get(value)
        if found is None:
            canon = fast_canonical(value)
            if canon != value:
                found = exact.get(canon)
            if found is None and (self._cidr4 is not None or self._cidr6 is not None):
                parsed = ip_int(canon)
                if parsed is not None:
                    table = self._cidr4 if parsed[0] == 4 else self._cidr6
                    if table is not None:
                        found = table.lookup(parsed[1])
        memo = self._memo
        if len(memo) >= self._memo_size:
            memo.clear()
        memo[value] = found
        return found

    def clear_memo(self) -> None:
        """Forget remembered answers (benchmarks; answers never go stale, the index is frozen)."""
        self._memo.clear()

    def lookup(self, value: str) -> Entry | None:
        """Entry (row number or numbers) matching ``value``, or None."""
        found = self.cached(value, MISSING)
        return self.resolve(value) if found is MISSING else found

    def materialize(self, entry: Entry, value: Any, now: datetime) -> dict[str, Any]:
        """A fresh copy of the winning row for ``entry``, with ``p_match`` = ``value``."""
        loads = orjson.loads
        if type(entry) is int:
            row: dict[str, Any] = loads(self._rows.get(entry))
        else:
            candidates = [loads(self._rows.get(number)) for number in entry]  # type: ignore[union-attr]
            row = candidates[choose(candidates, now)]
        row["p_match"] = value
        return row

    def match(self, value: str, now: datetime) -> dict[str, Any] | None:
        """The row an event value enriches with (``p_match`` set), or None."""
        entry = self.lookup(value)
        return None if entry is None else self.materialize(entry, value, now)

    # -- inspection ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<TableIndex {self.name!r} rows={len(self._rows)} keys={len(self._exact)}>"

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """Every stored row, decoded (for inspection and tests)."""
        for number in range(len(self._rows)):
            yield orjson.loads(self._rows.get(number))

    def heap_bytes(self) -> int:
        """Approximate heap bytes of the matcher (map, keys, entries, CIDR lists, offsets); O(keys)."""
        total = sys.getsizeof(self._exact) + self._rows.heap_bytes
        for text, entry in self._exact.items():
            total += sys.getsizeof(text) + (0 if type(entry) is int and entry < 257 else sys.getsizeof(entry))
        for table in (self._cidr4, self._cidr6):
            if table is not None:
                total += table.heap_bytes()
        return total
