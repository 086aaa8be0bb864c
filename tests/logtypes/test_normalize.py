"""The compiled normaliser: standard fields, p_any_* assembly, reserved keys, and no exceptions on any JSON."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from threatmatch.logtypes import LogTypeRegistry, RowIdGenerator, load_schema

REGISTRY = LogTypeRegistry.load()
PARSE_TIME = "2024-05-01 10:00:00.000"

SCHEMA = load_schema({
    "schema": "Custom.Test",
    "version": 3,
    "fields": [
        {"name": "first", "type": "timestamp", "timeFormat": "rfc3339", "isEventTime": True},
        {"name": "meta", "type": "object", "fields": [
            {"name": "second", "type": "timestamp", "timeFormat": "unix", "isEventTime": True}]},
        {"name": "src", "type": "string", "indicators": ["ip"]},
        {"name": "hosts", "type": "array", "element": {"type": "string", "indicators": ["hostname"]}},
        {"name": "hops", "type": "array", "element": {"type": "object", "fields": [
            {"name": "ip", "type": "string", "indicators": ["ip"]}]}},
        {"name": "body", "type": "json", "scan": "aws"},
    ],
})


def normalize(event: dict[str, Any]) -> dict[str, Any]:
    from threatmatch.logtypes.compile import compile_normalizer

    return compile_normalizer(SCHEMA)(event, PARSE_TIME, "0" * 32)


def test_standard_fields_and_sorted_unique_indicators() -> None:
    """Standard fields are set; indicator values are de-duplicated, sorted, IPs canonical."""
    event = normalize({"src": "10.0.0.2", "hosts": ["b.example", "10.0.0.1", "b.example", ""],
                       "hops": [{"ip": "2001:DB8::1"}, {"ip": "10.0.0.2"}, "junk"],
                       "body": {"roleArn": "arn:aws:iam::123456789012:role/r", "nested": [{"instanceId": "i-9"}]}})
    assert event["p_log_type"] == "Custom.Test" and event["p_schema_version"] == 3
    assert event["p_row_id"] == "0" * 32 and event["p_parse_time"] == PARSE_TIME
    assert event["p_event_time"] == PARSE_TIME
    assert event["p_any_ip_addresses"] == ["10.0.0.1", "10.0.0.2", "2001:db8::1"]
    assert event["p_any_domain_names"] == ["b.example"]
    assert event["p_any_aws_arns"] == ["arn:aws:iam::123456789012:role/r"]
    assert event["p_any_aws_account_ids"] == ["123456789012"]
    assert event["p_any_aws_instance_ids"] == ["i-9"]
    assert "p_any_emails" not in event
    assert event["src"] == "10.0.0.2" and event["hosts"][0] == "b.example"


def test_first_non_empty_event_time_in_schema_order() -> None:
    """The first isEventTime field that is present and parses wins; the parse time is the fallback."""
    assert normalize({"first": "", "meta": {"second": 1600000000}})["p_event_time"] == "2020-09-13 12:26:40.000"
    assert normalize({"first": "2021-01-01T00:00:00Z", "meta": {"second": 1}})["p_event_time"] == (
        "2021-01-01 00:00:00.000")
    assert normalize({"first": "garbage"})["p_event_time"] == PARSE_TIME


def test_input_p_fields_cannot_forge_results() -> None:
    """Keys starting with p_ in the input are dropped before the standard fields are added."""
    event = normalize({"src": "1.1.1.1", "p_any_ip_addresses": ["6.6.6.6"], "p_enrichment": {"x": 1},
                       "p_event_time": "1999-01-01 00:00:00.000"})
    assert event["p_any_ip_addresses"] == ["1.1.1.1"]
    assert "p_enrichment" not in event and event["p_event_time"] == PARSE_TIME


def test_builtin_contract_attributes() -> None:
    """Every built-in has indicator fields (its default selectors) and JSON-path field paths."""
    cloudtrail = REGISTRY.get("AWS.CloudTrail")
    assert "$.userIdentity.arn" in cloudtrail.field_paths
    assert "$.resources" in cloudtrail.field_paths and "$.resources[*].arn" in cloudtrail.field_paths
    assert "$['id.orig_h']" in REGISTRY.get("Zeek.Conn").field_paths
    for log_type in REGISTRY:
        assert log_type.indicator_fields == tuple(sorted(log_type.indicator_fields))
        assert all(name.startswith("p_any_") for name in log_type.indicator_fields)


def test_row_ids_are_unique_hex() -> None:
    """Row ids are 32 lower-case hex characters and unique."""
    next_id = RowIdGenerator()
    ids = {next_id() for _ in range(10000)}
    assert len(ids) == 10000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
# Keys the built-in schemas look at, so generated events reach the indicator paths.
KEYS = sorted({spec.name for log_type in REGISTRY for spec in log_type.schema.fields})


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), JSON, max_size=8))
def test_extraction_never_raises_on_arbitrary_json(event: dict[str, Any]) -> None:
    """For every built-in log type, any JSON object normalises without error to JSON-serialisable output."""
    for log_type in REGISTRY:
        out = log_type.compile_normalizer()(orjson.loads(orjson.dumps(event)), PARSE_TIME, "f" * 32)
        orjson.dumps(out)
        for field in log_type.indicator_fields:
            if field in out:
                assert out[field] and out[field] == sorted(set(out[field]))


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["src", "hosts", "hops", "body", "meta", "first"]), JSON, max_size=6))
def test_extraction_is_idempotent(event: dict[str, Any]) -> None:
    """Normalising an already normalised event gives the same p_any_* fields."""
    once = normalize(orjson.loads(orjson.dumps(event)))
    twice = normalize(orjson.loads(orjson.dumps(once)))
    assert {k: v for k, v in once.items() if k.startswith("p_any_")} == {
        k: v for k, v in twice.items() if k.startswith("p_any_")}
