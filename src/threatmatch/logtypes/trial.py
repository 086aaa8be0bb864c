"""Try a schema on sample lines before saving it (Panther's "test schema against sample logs").

``try_schema(schema, lines, now=...)`` parses and normalises the lines exactly as ingestion would (parser, event
checks, ``p_*`` fields, indicator fields), without a home, a store or enrichment, and says what became of every
line: the events (the first ``keep``), and each rejected line with its number, reason and raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from threatmatch.logtypes.registry import LogType
from threatmatch.logtypes.rowid import RowIdGenerator
from threatmatch.logtypes.schema import Schema
from threatmatch.timefmt import panther_ts

__all__ = ["Trial", "try_schema"]

DEFAULT_KEEP = 100


@dataclass
class Trial:
    """What a schema made of sample lines."""

    log_type: str
    lines: int
    parsed: int = 0
    #: The first ``keep`` events, normalised (``p_*`` and ``p_any_*`` fields added).
    events: list[dict[str, Any]] = field(default_factory=list)
    #: ``(line number, reason, raw text)`` of every rejected line.
    rejects: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)


def try_schema(schema: Schema, lines: Sequence[bytes | str], *, now: datetime, keep: int = DEFAULT_KEEP) -> Trial:
    """Parse and normalise ``lines`` with ``schema`` (nothing saved); see the module docstring."""
    kind = LogType(schema, builtin=False)
    normalize = kind.compile_normalizer()
    parse_time = panther_ts(now)
    row_id = RowIdGenerator()
    trial = Trial(schema.name, len(lines))
    for number, event, reason in kind.parse(lines):
        if event is None:
            raw = lines[number - 1] if 0 < number <= len(lines) else b""
            text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
            trial.rejects.append((number, reason or "rejected", text.rstrip("\r\n")))
            continue
        trial.parsed += 1
        if len(trial.events) < keep:
            trial.events.append(normalize(event, parse_time, row_id()))
    return trial
