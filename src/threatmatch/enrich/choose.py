"""Which row wins when several rows share one ``match`` value (pure; ``now`` is passed in).

Panther's rule for Anomali: "if only one entry is active, use it; if several are active, use the
active entry with the highest confidence". We complete it deterministically:

* a row is *active* when its ``status`` is ``active`` (rows without a ``status`` field, as in custom
  tables, count as active) and its ``expiration_ts`` is absent or still in the future;
* among active rows the highest ``confidence`` wins; ties go to the newest ``modified_ts``, then the
  highest ``id``;
* when no row is active, the same ordering picks one among all rows; its ``status`` (or past
  ``expiration_ts``) tells detections it is not active.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from threatmatch.timefmt import parse_iso

RankKey = tuple[float, float, float, str]


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return -math.inf
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return -math.inf


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        return parse_iso(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # epoch seconds or milliseconds
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def is_active(row: Mapping[str, Any], now: datetime) -> bool:
    """True when ``row`` is active at ``now`` (status ``active`` or absent, not expired)."""
    status = row.get("status")
    if status is not None and str(status).lower() != "active":
        return False
    expires = row.get("expiration_ts")
    if expires:
        moment = _moment(expires)
        if moment is not None and moment <= now:
            return False
    return True


def rank(row: Mapping[str, Any]) -> RankKey:
    """Ordering key: confidence, then modification time, then id (greater is preferred)."""
    modified = _moment(row.get("modified_ts"))
    identity = row.get("id")
    return (
        _number(row.get("confidence")),
        modified.timestamp() if modified is not None else -math.inf,
        _number(identity),
        "" if identity is None else str(identity),
    )


def choose(rows: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Index of the winning row among ``rows`` (non-empty) at ``now``."""
    if not rows:
        raise ValueError("choose() needs at least one row")
    active = [i for i, row in enumerate(rows) if is_active(row, now)]
    pool = active or range(len(rows))
    return max(pool, key=lambda i: rank(rows[i]))
