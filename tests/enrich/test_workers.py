"""Forked workers share the table and give the same output, in order, as one process."""

from __future__ import annotations

import orjson
import pytest

from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.enrich.workers import ChunkResult, WorkerPool, chunk_lines, run_chunk
from threatmatch.logtypes import LogTypeRegistry

VOLATILE = ("p_row_id", "p_parse_time")


def _lines(count: int) -> list[bytes]:
    lines = []
    for n in range(count):
        if n % 97 == 13:
            lines.append(b"{not json\n")
        else:
            ip = f"198.51.100.{n % 200}" if n % 10 else f"10.{n % 250}.0.1"
            event = {"eventName": f"e{n}", "eventTime": "2026-01-01T00:00:00Z", "sourceIPAddress": ip}
            lines.append(orjson.dumps(event) + b"\n")
    return lines


def _stable(output: bytes) -> list[dict[str, object]]:
    events = [orjson.loads(line) for line in output.splitlines()]
    for event in events:
        for key in VOLATILE:
            event.pop(key)
    return events


def test_chunks_are_cut_only_between_complete_objects() -> None:
    """A pretty-printed document is never split; all lines are kept, numbered from 1."""
    lines = [b'{"a": 1}\n'] * 3 + [b"{\n", b'  "b": {\n', b"  }\n", b"}\n"] + [b'{"c": 3}\n'] * 3
    chunks = list(chunk_lines(lines, size=2))
    assert b"".join(data for _, data in chunks) == b"".join(lines)
    assert [first for first, _ in chunks] == [1, 3, 8, 10]
    assert chunks[1][1].startswith(b'{"a": 1}\n{\n') and chunks[1][1].endswith(b"}\n")


@pytest.fixture(scope="module")
def make_pipeline() -> object:
    registry = LogTypeRegistry.load()
    rows = [{"match": [f"198.51.100.{n}"], "n": n} for n in range(0, 200, 3)] + [{"match": ["10.0.0.0/8"], "n": -1}]
    enricher = Enricher({"intel": TableIndex.build(rows, name="intel")}, None, registry)
    return lambda: Pipeline(registry, enricher)


def test_two_workers_match_one_process(make_pipeline: object) -> None:
    """Output of 2 forked workers equals the in-process output, in input order, with the same rejects."""
    lines = _lines(3000)
    serial: list[ChunkResult] = [run_chunk(make_pipeline(), "AWS.CloudTrail", "in", first, data)  # type: ignore[operator]
                                 for first, data in chunk_lines(lines, size=250)]
    parallel: list[ChunkResult] = []
    with WorkerPool(make_pipeline, 2) as pool:  # type: ignore[arg-type]
        assert len(set(pool.pids)) == 2
        pool.run("AWS.CloudTrail", "in", chunk_lines(lines, size=250), parallel.append)
    assert [r.seq for r in parallel] == list(range(len(serial)))
    assert _stable(b"".join(r.output for r in parallel)) == _stable(b"".join(r.output for r in serial))
    assert [(j.line, j.reason) for r in parallel for j in r.rejects] == \
        [(j.line, j.reason) for r in serial for j in r.rejects]
    counts = [sum(r.counts[i] for r in parallel) for i in range(4)]
    assert counts[0] == 3000 == counts[1] + counts[3]
    assert counts[3] == len([n for n in range(3000) if n % 97 == 13])
    row_ids = [orjson.loads(line)["p_row_id"] for r in parallel for line in r.output.splitlines()]
    assert len(set(row_ids)) == len(row_ids)  # each worker has its own row-id generator
