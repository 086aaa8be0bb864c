"""What the lookup store keeps per row, and the listing of a table (plain records, no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

__all__ = ["StoredRow", "TableInfo", "dumps_row", "stored_id", "stored_row"]

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
