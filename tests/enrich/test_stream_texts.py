"""``Pipeline.stream_texts``: the dict API's events, plus each spliced event's own JSON text without p_enrichment.

A store that keeps every event as JSON (the lake's ``event`` column) takes that text instead of encoding the
dict again, so it must always parse to exactly the event minus ``p_enrichment``, key order included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.enrich.test_spliced_output import (
    EDGE_LINES,
    GENERATED_EVENTS,
    _counter,
    _table_from,
    generated_enricher,
    generated_lines,
)
from tests.logtypes.samples import SOURCES, iter_sources

from threatmatch.enrich.config import EnrichmentSettings, Override
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.pipeline import Pipeline, TextsResult
from threatmatch.lake.schema import events_table
from threatmatch.logtypes import LogTypeRegistry

REGISTRY = LogTypeRegistry.load()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _both(enricher: Enricher, log_type: str, lines: list[Any], batch_size: int = 7,
          registry: LogTypeRegistry = REGISTRY) -> tuple[list[dict[str, Any]], list[Any], list[TextsResult]]:
    slow = Pipeline(registry, enricher, row_ids=_counter(), clock=lambda: NOW)
    fast = Pipeline(registry, enricher, row_ids=_counter(), clock=lambda: NOW)
    result = slow.process(log_type, lines, now=NOW)
    return result.events, result.rejects, list(fast.stream_texts(log_type, lines, now=NOW, batch_size=batch_size))


def _check(events: list[dict[str, Any]], rejects: list[Any], batches: list[TextsResult]) -> int:
    """Same events, rejects and counts as the dict API; every text is its event without p_enrichment.
    Returns how many events came with a text."""
    got = [event for batch in batches for event in batch.events]
    assert got == events
    assert [list(event) for event in got] == [list(event) for event in events]  # same key order
    assert [reject for batch in batches for reject in batch.rejects] == rejects
    assert sum(batch.read for batch in batches) == len(events) + len(rejects)
    assert sum(batch.matched for batch in batches) == sum("p_enrichment" in event for event in events)
    texts = [text for batch in batches for text in batch.texts]
    assert len(texts) == len(events)
    for event, text in zip(events, texts, strict=True):
        if text is not None:
            parsed = orjson.loads(text)
            expected = {key: value for key, value in event.items() if key != "p_enrichment"}
            assert parsed == expected
            assert list(parsed) == list(expected)
    return sum(text is not None for text in texts)


@pytest.mark.parametrize("log_type_name", sorted(SOURCES))
def test_golden_samples_give_the_dict_events_and_their_texts(log_type_name: str) -> None:
    lines = [line for _, _, source in iter_sources(log_type_name) for line in source]
    bare = Pipeline(REGISTRY, Enricher({}, None, REGISTRY), row_ids=_counter())
    enricher = Enricher({"intel": _table_from(bare.process(log_type_name, lines, now=NOW).events)}, None, REGISTRY)
    events, rejects, batches = _both(enricher, log_type_name, lines)
    with_text = _check(events, rejects, batches)
    if REGISTRY.get(log_type_name).input_format != "json":
        assert with_text == 0, "text formats have no JSON text of their own"


def test_edge_lines() -> None:
    """The edge lines of the spliced output: same events; only single-object lines without p_* keys get a text."""
    enricher = Enricher({"intel": TableIndex.build([{"match": ["203.0.113.9"], "v": 1}], name="intel")}, None,
                        REGISTRY)
    lines = EDGE_LINES
    for batch_size in (1, 3, 100):
        events, rejects, batches = _both(enricher, "AWS.CloudTrail", lines, batch_size)
        assert _check(events, rejects, batches) == 5  # first, spaced, duplicate keys, escaped, big integer
    texts = [text for batch in batches for text in batch.texts if text is not None]
    assert all(b"forged" not in text and b"6.6.6.6" not in text for text in texts)
    assert texts[0].startswith(b'{"sourceIPAddress": "203.0.113.9", "eventTime": "2024-01-01T00:00:00Z",'
                               b'"p_log_type":"AWS.CloudTrail"')  # the line itself, not re-encoded


def test_path_selectors_give_no_texts() -> None:
    """A selector reading an event field takes the dict path: the same events, no texts."""
    table = TableIndex.build([{"match": ["203.0.113.9"]}], name="intel")
    overrides = {("intel", "AWS.CloudTrail"): Override("intel", "AWS.CloudTrail", True, ("$.sourceIPAddress",))}
    enricher = Enricher({"intel": table}, EnrichmentSettings(overrides), REGISTRY)
    events, rejects, batches = _both(enricher, "AWS.CloudTrail", [b'{"sourceIPAddress": "203.0.113.9"}'])
    assert _check(events, rejects, batches) == 0
    assert events[0]["p_enrichment"]["intel"]["sourceIPAddress"]["p_match"] == "203.0.113.9"


def test_lake_table_from_texts_equals_the_table_from_dicts() -> None:
    """The lake table built with the texts has the same columns and values; ``event`` parses the same."""
    lines = [line for _, _, source in iter_sources("Okta.SystemLog") for line in source]
    bare = Pipeline(REGISTRY, Enricher({}, None, REGISTRY), row_ids=_counter())
    enricher = Enricher({"intel": _table_from(bare.process("Okta.SystemLog", lines, now=NOW).events)}, None, REGISTRY)
    events, _, batches = _both(enricher, "Okta.SystemLog", lines, batch_size=1000)
    texts = [text for batch in batches for text in batch.texts]
    plain, reused = events_table("Okta.SystemLog", events), events_table("Okta.SystemLog", events, texts)
    assert plain.column_names == reused.column_names and plain.schema == reused.schema
    for name in plain.column_names:
        if name != "event":
            assert plain[name].equals(reused[name]), name
    assert [orjson.loads(v) for v in plain["event"].to_pylist()] == [orjson.loads(v) for v in
                                                                   reused["event"].to_pylist()]
    assert any(p != r for p, r in zip(plain["event"].to_pylist(), reused["event"].to_pylist(), strict=True))


@settings(max_examples=60, deadline=None)
@given(GENERATED_EVENTS, st.sampled_from([0, 2]))
def test_generated_events(events: list[dict[str, Any]], indent: int) -> None:
    """Arbitrary CloudTrail-shaped objects, compact or spaced out: the dict API's events and exact texts."""
    lines = generated_lines(events, indent)
    enricher = generated_enricher()
    for log_type in ("AWS.CloudTrail", "Okta.SystemLog"):
        _check(*_both(enricher, log_type, lines, batch_size=4))
