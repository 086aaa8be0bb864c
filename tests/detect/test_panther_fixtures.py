"""Panther's own enriched test events read the same through our event object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from tests.conftest import shared_path

from threatmatch.detect.event import PantherEvent


def _rows(value: object) -> list[object]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def test_every_enrichment_row_is_reachable() -> None:
    """Each p_enrichment table/selector of the 69 events is reachable with deep_get, lists stay lists."""
    path = shared_path("realdata", "rules", "panther-analysis", "p_enrichment_test_events.jsonl")
    checked = 0
    for line in path.read_bytes().splitlines():
        log = orjson.loads(line)["log"]
        event = PantherEvent(log)
        for table, selectors in (log["p_enrichment"] or {}).items():
            if not isinstance(selectors, Mapping):
                assert event.deep_get("p_enrichment", table) == selectors or selectors in (None, {}, [], False)
                continue
            for selector, value in selectors.items():
                found = event.deep_get("p_enrichment", table, selector)
                assert found == value or value is None
                if isinstance(value, list):
                    assert isinstance(found, Sequence) and len(_rows(found)) == len(value)
                checked += 1
    assert checked > 60


def test_golden_fixture_events() -> None:
    """The copied fixture events keep scalar rows as mappings and array-selector rows as lists of mappings."""
    fixtures = orjson.loads(shared_path("fixtures", "panther", "enriched_test_events.json").read_bytes())
    entries = fixtures if isinstance(fixtures, list) else fixtures.get("events", [])
    assert entries
    listed = with_match = 0
    for entry in entries:
        log = entry.get("log") or entry.get("Log") or entry
        event = PantherEvent(log)
        for table, selectors in log.get("p_enrichment", {}).items():
            for selector, value in selectors.items():
                for row in _rows(event.deep_get("p_enrichment", table, selector)):
                    assert isinstance(row, Mapping)
                    if isinstance(value, list):
                        listed += 1
                        with_match += "p_match" in row
    assert listed and with_match  # some hand-made rows in Panther's fixtures (GreyNoise RIOT) lack p_match
