"""Enriched events need no cyclic garbage collector: reference counting frees every batch.

This is what lets the bulk commands run the collector rarely (``threatmatch.runtime``): a batch of events
that formed reference cycles would only be freed by a collection, and memory would grow between them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from tests.conftest import shared_path

from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.logtypes import LogTypeRegistry
from threatmatch.runtime import BULK_GC_THRESHOLDS, tune_gc_for_bulk_work

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The cyclic collector paused (and everything collected first), restored afterwards."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@pytest.mark.parametrize("log_type, sample", [
    ("AWS.CloudTrail", ("panther-analysis-tests", "AWS.CloudTrail.jsonl")),
    ("Okta.SystemLog", ("panther-analysis-tests", "Okta.SystemLog.jsonl")),
])
def test_enriched_batches_leave_no_cyclic_garbage(collector_off: None, log_type: str,
                                                  sample: tuple[str, str]) -> None:
    """Events parsed, normalised and enriched (with matches attached), then dropped, leave nothing for
    the collector to find, on both the dict path and the JSON-lines path."""
    lines = shared_path("realdata", "logs", *sample).read_bytes().splitlines()
    registry = LogTypeRegistry.load()
    rows = [{"match": ["203.0.113.50"], "value": "203.0.113.50", "itype": "mal_ip", "status": "active"}]
    pipeline = Pipeline(registry, Enricher({"anomali": TableIndex.build(rows, name="anomali")}, None, registry))
    pipeline.process(log_type, lines[:1], now=NOW)  # first use compiles the log type's plans (kept, not garbage)
    list(pipeline.stream_lines(log_type, lines[:1], now=NOW))
    gc.collect()
    events = pipeline.process(log_type, lines * 5, now=NOW).events
    assert len(events) == 5 * len(lines)
    del events
    for batch in pipeline.stream_lines(log_type, lines * 5, now=NOW):
        assert batch.output
    assert gc.collect() == 0


def test_bulk_thresholds_are_applied() -> None:
    """``tune_gc_for_bulk_work`` sets the documented thresholds (restored here afterwards)."""
    before = gc.get_threshold()
    try:
        tune_gc_for_bulk_work()
        assert gc.get_threshold() == BULK_GC_THRESHOLDS
    finally:
        gc.set_threshold(*before)
