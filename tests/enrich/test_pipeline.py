"""Pipeline: raw lines -> normalised, enriched events; rejects keep line, reason and raw text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.conftest import shared_path

from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.logtypes import LogTypeRegistry

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def registry() -> LogTypeRegistry:
    return LogTypeRegistry.load()


@pytest.fixture
def pipeline(registry: LogTypeRegistry) -> Pipeline:
    table = TableIndex.build([
        {"match": ["203.0.113.50"], "value": "203.0.113.50", "itype": "mal_ip", "status": "active"},
        {"match": ["arn:aws:iam::123456789012:user/john.developer"], "itype": "actor"},
    ], name="anomali")
    return Pipeline(registry, Enricher({"anomali": table}, None, registry))


def test_real_cloudtrail_events_are_normalised_and_enriched(pipeline: Pipeline) -> None:
    """Real CloudTrail test events gain p_any fields and, where a value is listed, p_enrichment."""
    lines = shared_path("realdata", "logs", "panther-analysis-tests", "AWS.CloudTrail.jsonl").read_bytes().splitlines()
    result = pipeline.process("AWS.CloudTrail", lines, now=NOW)
    assert result.read == len(lines) == result.enriched + result.rejected
    assert result.rejected == 0
    first = result.events[0]
    assert first["p_log_type"] == "AWS.CloudTrail" and len(first["p_row_id"]) == 32
    assert first["p_enrichment"]["anomali"]["p_any_ip_addresses"] == [
        {"match": ["203.0.113.50"], "value": "203.0.113.50", "itype": "mal_ip", "status": "active",
         "p_match": "203.0.113.50"}]
    assert first["p_enrichment"]["anomali"]["p_any_aws_arns"][0]["p_match"] == \
        "arn:aws:iam::123456789012:user/john.developer"
    assert result.matched == sum(1 for event in result.events if "p_enrichment" in event)
    assert 0 < result.matched < result.enriched


def test_malformed_lines_become_rejects_with_line_number_reason_and_raw(pipeline: Pipeline) -> None:
    """Broken JSON and non-objects are rejected with their 1-based line number; counts balance."""
    lines = [b'{"sourceIPAddress": "203.0.113.50", "eventTime": "2024-01-01T00:00:00Z"}', b"{broken", b"",
             b"[1, 2]", b'{"sourceIPAddress": "192.0.2.1"}']
    result = pipeline.process("AWS.CloudTrail", lines, source="in.jsonl", now=NOW)
    assert (result.read, result.enriched, result.matched, result.rejected) == (4, 2, 1, 2)
    assert [(r.line, r.source) for r in result.rejects] == [(2, "in.jsonl"), (4, "in.jsonl")]
    assert result.rejects[0].raw == "{broken"
    assert result.rejects[1].raw == "[1, 2]" and "object" in result.rejects[1].reason
    assert result.rejects[0].as_dict().keys() == {"file", "line", "reason", "raw"}


def test_stream_batches_add_up_to_the_whole(pipeline: Pipeline) -> None:
    """Streaming in small batches gives the same events and counts as one pass; first_line offsets numbers."""
    lines = [b'{"sourceIPAddress": "203.0.113.50"}', b"nope"] * 25
    batches = list(pipeline.stream("AWS.CloudTrail", lines, batch_size=7, first_line=101, now=NOW))
    assert len(batches) == 8
    assert sum(b.read for b in batches) == 50
    assert sum(b.matched for b in batches) == 25
    rejects = [r for b in batches for r in b.rejects]
    assert [r.line for r in rejects] == list(range(102, 151, 2))
    assert all(r.raw == "nope" for r in rejects)


def test_input_cannot_forge_enrichment(pipeline: Pipeline) -> None:
    """A log line carrying its own p_enrichment / p_any fields does not keep them."""
    line = b'{"sourceIPAddress": "192.0.2.1", "p_enrichment": {"anomali": {"x": 1}}, "p_any_ip_addresses": ["1.1.1.1"]}'
    event = pipeline.process("AWS.CloudTrail", [line], now=NOW).events[0]
    assert "p_enrichment" not in event
    assert event["p_any_ip_addresses"] == ["192.0.2.1"]


def test_unknown_log_type_suggests_a_name(pipeline: Pipeline) -> None:
    """An unknown log type raises NotFoundError naming the closest known one."""
    from threatmatch.errors import NotFoundError

    with pytest.raises(NotFoundError, match="AWS.CloudTrail"):
        pipeline.process("AWS.Cloudtrail", [])
