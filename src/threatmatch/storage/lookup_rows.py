"""What the lookup store keeps per row, and the listing of a table (plain records, no I/O)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

import orjson

__all__ = ["LOAD_COLUMNS", "LoadRow", "PackedRows", "StoredRow", "TableInfo", "dumps_row", "load_row", "pack_rows",
           "stored_id", "stored_row", "unpack_rows"]

_INT64 = (1 << 63) - 1


class StoredRow(NamedTuple):
    """A row ready for the store: the columns it filters on plus the full row as JSON bytes."""

    match: list[str]
    id: int | str | None
    type: str | None
    itype: str | None
    status: str | None
    confidence: int | None
    modified_ts: str | None
    expiration_ts: str | None
    update_id: int | None
    row: bytes


LoadRow = tuple[str | None, int | str | None, str | None, str | None, str | None, int | None, int | None, bytes]
"""A row with at most one match value, in the order the store loads it (a plain tuple, cheap to make and move):
``(match, id, type, itype, status, confidence, update_id, row JSON bytes)``."""


@dataclass(frozen=True)
class TableInfo:
    """A lookup table as listed: its active generation and size."""

    name: str
    kind: str
    row_count: int
    generation: int | None
    updated_at: str | None


def stored_id(value: int) -> int | str:
    """An id for the INTEGER column; beyond 64 bits it keeps its exact digits as text."""
    return value if -_INT64 <= value <= _INT64 else str(value)


def dumps_row(row: dict[str, Any]) -> bytes:
    """JSON bytes of a row; integers beyond 64 bits (which orjson refuses) keep their exact digits."""
    try:
        return orjson.dumps(row)
    except TypeError:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stored_row(row: dict[str, Any], row_bytes: bytes | None = None) -> StoredRow:
    """Columns of a row dict (``row_bytes`` = its JSON when already encoded)."""
    match = row.get("match")
    obj_id = _int(row.get("id"))
    return StoredRow(
        match=[m for m in match if isinstance(m, str)] if isinstance(match, list) else [],
        id=stored_id(obj_id) if obj_id is not None else None,
        type=_text(row.get("type")), itype=_text(row.get("itype")), status=_text(row.get("status")),
        confidence=_int(row.get("confidence")), modified_ts=_text(row.get("modified_ts")),
        expiration_ts=_text(row.get("expiration_ts")), update_id=_int(row.get("update_id")),
        row=row_bytes if row_bytes is not None else dumps_row(row),
    )


def load_row(row: StoredRow) -> LoadRow:
    """The load shape of a stored row that has at most one match value."""
    if len(row.match) > 1:
        raise ValueError("a row with several match values cannot be loaded as a LoadRow; use StoredRow")
    return (row.match[0] if row.match else None, row.id, row.type, row.itype, row.status, row.confidence,
            row.update_id, row.row)


LOAD_COLUMNS = 8  # values per row in a pack: the LoadRow fields


class PackedRows(NamedTuple):
    """Load-shaped rows flattened into one list, cheap to move between threads and processes and bound by the
    store as they are: ``params`` holds, row after row, ``match, id, type, itype, status, confidence, update_id,
    row JSON bytes`` (the parameters of a multi-row ``INSERT ... VALUES``). ``counts`` (rows per type and
    status) lets the store keep its totals without reading the rows back; ``ids`` are the rows' ids.
    ``confidence`` and ``update_id`` may be integers beyond 64 bits (the row JSON keeps them exactly)."""

    params: list[Any]
    counts: list[tuple[str | None, str | None, int]]

    @property
    def ids(self) -> list[int | str | None]:
        return self.params[1::LOAD_COLUMNS]


def pack_rows(rows: list[LoadRow]) -> PackedRows:
    """Pack rows (every per-row step runs in C)."""
    params: list[Any] = list(chain.from_iterable(rows))
    counts: Counter[tuple[str | None, str | None]] = Counter(
        zip(params[2::LOAD_COLUMNS], params[4::LOAD_COLUMNS], strict=True))
    return PackedRows(params, [(type_, status, n) for (type_, status), n in counts.items()])


def unpack_rows(packed: PackedRows) -> list[LoadRow]:
    """The rows of a pack, as ``pack_rows`` was given them."""
    values = iter(packed.params)
    return list(zip(*[values] * LOAD_COLUMNS, strict=True))
