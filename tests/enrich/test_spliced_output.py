"""Serialised batches (``Pipeline.stream_lines``) parse to exactly the events of the dict API, in order."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.logtypes.samples import SOURCES, iter_sources

from threatmatch.enrich.config import EnrichmentSettings, Override
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.pipeline import LinesResult, Pipeline, serialize
from threatmatch.logtypes import LogTypeRegistry

REGISTRY = LogTypeRegistry.load()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _counter() -> Callable[[], str]:
    numbers = itertools.count()
    return lambda: f"{next(numbers):032x}"


def _table_from(events: Iterable[dict[str, Any]]) -> TableIndex:
    """A table listing every third indicator value the events carry (so some events match, most do not)."""
    values = sorted({value for event in events for key, items in event.items() if key.startswith("p_any_")
                     for value in items})
    rows = [{"match": [value], "value": value, "itype": "test", "status": "active"} for value in values[::3]]
    rows.append({"match": ["10.0.0.0/8"], "value": "10.0.0.0/8", "itype": "block"})
    return TableIndex.build(rows, name="intel")


def _both(registry: LogTypeRegistry, enricher: Enricher, log_type: str, lines: list[Any],
          batch_size: int = 7) -> tuple[list[dict[str, Any]], list[Any], list[LinesResult]]:
    """(events of the dict API, their rejects, serialised batches) for the same lines, same ids and clock."""
    slow = Pipeline(registry, enricher, row_ids=_counter(), clock=lambda: NOW)
    fast = Pipeline(registry, enricher, row_ids=_counter(), clock=lambda: NOW)
    result = slow.process(log_type, lines, now=NOW)
    batches = list(fast.stream_lines(log_type, lines, now=NOW, batch_size=batch_size))
    return result.events, result.rejects, batches


def _check_same(events: list[dict[str, Any]], rejects: list[Any], batches: list[LinesResult]) -> None:
    output = b"".join(batch.output for batch in batches)
    assert output == b"" or output.endswith(b"\n")
    parsed = [orjson.loads(line) for line in output.splitlines()]
    expected = orjson.loads(b"[" + serialize(events).replace(b"\n", b",").rstrip(b",") + b"]")
    assert parsed == expected
    assert [list(event) for event in parsed] == [list(event) for event in expected]  # same key order
    assert [reject for batch in batches for reject in batch.rejects] == rejects
    assert sum(batch.matched for batch in batches) == sum("p_enrichment" in event for event in events)
    assert sum(batch.read for batch in batches) == len(events) + len(rejects)
    assert all(batch.events == [] for batch in batches)


@pytest.mark.parametrize("log_type_name", sorted(SOURCES))
def test_golden_samples_serialise_like_the_dict_path(log_type_name: str) -> None:
    """For every built-in log type's real samples the serialised output equals the dict API's events."""
    lines = [line for _, _, source in iter_sources(log_type_name) for line in source]
    bare = Pipeline(REGISTRY, Enricher({}, None, REGISTRY), row_ids=_counter())
    table = _table_from(bare.process(log_type_name, lines, now=NOW).events)
    enricher = Enricher({"intel": table}, None, REGISTRY)
    events, rejects, batches = _both(REGISTRY, enricher, log_type_name, lines)
    _check_same(events, rejects, batches)
    if REGISTRY.get(log_type_name).input_format == "json":
        assert any(batch.matched for batch in batches)


# Input p_* keys, wrappers, documents, empty objects, spacing, escapes, duplicate keys, a truncated document.
EDGE_LINES: list[Any] = [
    b'{"sourceIPAddress": "203.0.113.9", "eventTime": "2024-01-01T00:00:00Z"}\n',
    b'{"sourceIPAddress": "203.0.113.9", "p_enrichment": {"intel": {"forged": true}}}\n',
    b'{"\\u0070_any_ip_addresses": ["6.6.6.6"], "sourceIPAddress": "1.1.1.1"}\n',
    b'{"Records": [{"sourceIPAddress": "203.0.113.9"}, {"eventName": "x"}, 5]}\n',
    b"{}\n", b"  { }  \r\n", b'   {"sourceIPAddress" : "203.0.113.9" }   \r\n', b"\n", b"[1]\n", b"not json\n",
    b'{"sourceIPAddress": "203.0.113.9", "sourceIPAddress": "1.1.1.1"}',
    b"{\n", b'  "sourceIPAddress": "203.0.113.9",\n', b'  "eventName": "Multi"\n', b"}\n",
    '{"sourceIPAddress": "203.0.113.9", "text": "caf\u00e9"}',
    b'{"sourceIPAddress": "203.0.113.9", "text": "caf\xc3\xa9 \\" } \\\\"}',
    b'{"a": 18446744073709551616, "sourceIPAddress": "203.0.113.9"}',
    b'{"eventName": "truncated", "resources": [\n', b'{"sourceIPAddress": "203.0.113.9"}\n',
]


def test_edge_lines_take_the_dict_path_or_splice_correctly() -> None:
    """Input p_* keys, wrappers, documents, empty objects, missing required fields, odd spacing: same events."""
    enricher = Enricher({"intel": TableIndex.build([{"match": ["203.0.113.9"], "v": 1}], name="intel")}, None,
                        REGISTRY)
    lines = EDGE_LINES
    for batch_size in (1, 3, 100):
        events, rejects, batches = _both(REGISTRY, enricher, "AWS.CloudTrail", lines, batch_size)
        _check_same(events, rejects, batches)
    assert events[0]["p_enrichment"]["intel"]["p_any_ip_addresses"][0]["p_match"] == "203.0.113.9"
    output = b"".join(batch.output for batch in batches)
    assert b"forged" not in output and b"6.6.6.6" not in output
    assert b'   {"sourceIPAddress" : "203.0.113.9" ,"p_log_type":"AWS.CloudTrail",' in output  # spliced, not re-encoded


def test_required_fields_are_checked_on_the_spliced_path() -> None:
    """A JSON log type with a required field rejects events without it on both paths."""
    schema = {"schema": "Custom.Req", "fields": [{"name": "id", "type": "string", "required": True},
                                                {"name": "ip", "type": "string", "indicators": ["ip"]}]}
    from threatmatch.logtypes import load_schema
    from threatmatch.logtypes.registry import LogType

    registry = LogTypeRegistry([LogType(load_schema(schema), builtin=False)])
    enricher = Enricher({"intel": TableIndex.build([{"match": ["1.2.3.4"]}], name="intel")}, None, registry)
    lines = [b'{"id": "a", "ip": "1.2.3.4"}', b'{"ip": "1.2.3.4"}', b'{"id": "", "ip": "1.2.3.4"}']
    events, rejects, batches = _both(registry, enricher, "Custom.Req", lines)
    _check_same(events, rejects, batches)
    assert len(events) == 1 and len(rejects) == 2


def test_path_selectors_use_the_dict_path() -> None:
    """A selector reading an event field (not a p_* field) still gives the dict API's result."""
    table = TableIndex.build([{"match": ["203.0.113.9"]}], name="intel")
    overrides = {("intel", "AWS.CloudTrail"): Override("intel", "AWS.CloudTrail", True, ("$.sourceIPAddress",))}
    enricher = Enricher({"intel": table}, EnrichmentSettings(overrides), REGISTRY)
    assert not enricher.reads_only_p_fields("AWS.CloudTrail")
    assert Enricher({"intel": table}, None, REGISTRY).reads_only_p_fields("AWS.CloudTrail")
    events, rejects, batches = _both(REGISTRY, enricher, "AWS.CloudTrail", [b'{"sourceIPAddress": "203.0.113.9"}'])
    _check_same(events, rejects, batches)
    assert events[0]["p_enrichment"]["intel"]["sourceIPAddress"]["p_match"] == "203.0.113.9"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["203.0.113.9", "10.1.2.3", "arn:aws:iam::123456789012:role/x",
                                               "2024-01-01T00:00:00Z", "evil.example"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10) | st.sampled_from(
        ["arn", "accountId", "instanceId", "ipAddress", "sourceIPAddress", "p_x", "Records"]), children, max_size=4),
    max_leaves=20,
)
KEYS = sorted({spec.name for spec in REGISTRY.get("AWS.CloudTrail").schema.fields} | {"p_any_emails", "Records"})


GENERATED_EVENTS = st.lists(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), JSON, max_size=6),
                            max_size=6)


def generated_lines(events: list[dict[str, Any]], indent: int) -> list[bytes]:
    """``events`` as one line each, compact or (``indent``) spaced out."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return [orjson.dumps(event, option=option).replace(b"\n", b" ") for event in events]


def generated_enricher() -> Enricher:
    """An enricher over a few values the generated events may carry (an IP, a CIDR, a domain, an ARN)."""
    table = TableIndex.build([{"match": [value]} for value in ("203.0.113.9", "10.0.0.0/8", "evil.example",
                                                                "arn:aws:iam::123456789012:role/x")], name="intel")
    return Enricher({"intel": table}, None, REGISTRY)


@settings(max_examples=60, deadline=None)
@given(GENERATED_EVENTS, st.sampled_from([0, 2]))
def test_generated_events_serialise_like_the_dict_path(events: list[dict[str, Any]], indent: int) -> None:
    """Arbitrary CloudTrail-shaped objects, compact or spaced out, give the dict API's events when spliced."""
    lines = generated_lines(events, indent)
    enricher = generated_enricher()
    for log_type in ("AWS.CloudTrail", "Okta.SystemLog"):
        found, rejects, batches = _both(REGISTRY, enricher, log_type, lines, batch_size=4)
        _check_same(found, rejects, batches)
