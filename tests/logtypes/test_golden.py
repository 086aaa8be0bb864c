"""Golden tests: every built-in log type parsed and normalised from its real samples.

``golden/<LogType>.jsonl`` holds one record per input record: the source and line, then either the
reject reason or the ``p_*`` results (``p_row_id``/``p_parse_time`` excluded; ``p_log_type`` and
``p_schema_version`` are checked separately) plus a SHA-256 of the parsed fields. For permissive
sources the first records also carry the parsed fields themselves, for review.
Regenerate after a deliberate change with ``TM_REGEN_GOLDEN=1 .venv/bin/pytest tests/logtypes/test_golden.py``
and review the diff.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import orjson
import pytest
from tests.logtypes.samples import GOLDEN_DIR, SOURCES, iter_sources

from threatmatch.logtypes import LogTypeRegistry, RowIdGenerator

REGISTRY = LogTypeRegistry.load()
PARSE_TIME = "2024-05-01 10:00:00.000"
SHOWN_PER_SOURCE = 3


def _records(log_type_name: str) -> list[dict[str, Any]]:
    log_type = REGISTRY.get(log_type_name)
    normalize = log_type.compile_normalizer()
    next_id = RowIdGenerator()
    records: list[dict[str, Any]] = []
    for label, permissive, lines in iter_sources(log_type_name):
        shown = 0
        for number, raw, reason in log_type.parse(lines):
            if raw is None:
                records.append({"source": label, "line": number, "reject": reason})
                continue
            event = normalize(raw, PARSE_TIME, next_id())
            assert event["p_log_type"] == log_type_name
            assert event["p_schema_version"] == log_type.schema.version
            assert event["p_parse_time"] == PARSE_TIME and len(event["p_row_id"]) == 32
            fields = {k: v for k, v in event.items() if not k.startswith("p_")}
            record: dict[str, Any] = {
                "source": label,
                "line": number,
                "p": {k: v for k, v in event.items() if k.startswith(("p_any_", "p_event_time"))},
                "sha256": hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest(),
            }
            if permissive and shown < SHOWN_PER_SOURCE:
                record["fields"] = fields
                shown += 1
            records.append(record)
    return records


@pytest.mark.parametrize("log_type_name", sorted(SOURCES))
def test_golden(log_type_name: str) -> None:
    """Parsing and normalising the real samples gives exactly the reviewed golden output."""
    records = _records(log_type_name)
    path = GOLDEN_DIR / f"{log_type_name}.jsonl"
    rendered = b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in records)
    if os.environ.get("TM_REGEN_GOLDEN") == "1":
        path.write_bytes(rendered)
    assert path.exists(), f"missing golden file {path.name}; run with TM_REGEN_GOLDEN=1 and review it"
    expected = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(records) == len(expected)
    for got, want in zip(records, expected, strict=True):
        assert orjson.loads(orjson.dumps(got)) == want, f"{got['source']} line {got['line']}"


def test_every_builtin_has_golden_samples() -> None:
    """Each built-in log type has real samples and at least one parsed (not rejected) event."""
    assert sorted(SOURCES) == REGISTRY.names()
    for name in REGISTRY.names():
        path = GOLDEN_DIR / f"{name}.jsonl"
        records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert any("p" in record for record in records), name
