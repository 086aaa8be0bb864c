"""Panther's `validate` and `isEmbeddedJSON` schema keys: applied to every event, with a precise reject reason."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from threatmatch.cli.main import cli
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.errors import SchemaError
from threatmatch.logtypes import LogTypeRegistry, load_schema
from threatmatch.logtypes.checks import MAX_SHOWN, compile_check, rewrites
from threatmatch.logtypes.describe import field_rows
from threatmatch.logtypes.registry import LogType

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SCHEMA = {"schema": "Custom.Login", "fields": [
    {"name": "time", "type": "timestamp", "timeFormat": "rfc3339", "isEventTime": True},
    {"name": "event_type", "type": "string", "required": True, "validate": {"allow": ["login", "logout"]}},
    {"name": "src", "type": "string", "indicators": ["ip"], "validate": {"ip": "any"}},
    {"name": "net", "type": "string", "validate": {"cidr": "ipv4", "deny": ["0.0.0.0/0"]}},
    {"name": "v6", "type": "string", "validate": {"ip": "ipv6"}},
    {"name": "message", "type": "object", "isEmbeddedJSON": True, "fields": [
        {"name": "host", "type": "string", "indicators": ["domain"]},
        {"name": "peer", "type": "string", "indicators": ["ip"], "required": True},
        {"name": "level", "type": "string", "validate": {"deny": ["debug"]}}]},
    {"name": "hops", "type": "array", "isEmbeddedJSON": True, "element": {"type": "string", "indicators": ["ip"]}},
    {"name": "extra", "type": "json", "isEmbeddedJSON": True},
    {"name": "tags", "type": "array", "element": {"type": "string", "validate": {"deny": ["bad"]}}},
    {"name": "steps", "type": "array", "element": {
        "type": "object", "fields": [{"name": "detail", "type": "object", "isEmbeddedJSON": True,
                                      "fields": [{"name": "url", "type": "string", "indicators": ["url"]}]}]}},
]}
SUFFIX = ": the event does not match log type Custom.Login"


def _parse(event: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    [(_, parsed, reason)] = list(LogType(load_schema(SCHEMA), builtin=False).parse([orjson.dumps(event)]))
    return parsed, reason


@pytest.mark.parametrize(("data", "path", "words"), [
    ({"name": "a", "type": "int", "validate": {"allow": ["1"]}}, "fields[0].validate",
     "validate applies to string fields, not int"),
    ({"name": "a", "type": "string", "validate": ["login"]}, "fields[0].validate", "expected a mapping"),
    ({"name": "a", "type": "string", "validate": {"alow": ["x"]}}, "fields[0].validate.alow",
     "unknown key (known: allow, deny, ip, cidr)"),
    ({"name": "a", "type": "string", "validate": {"allow": "login"}}, "fields[0].validate.allow",
     "non-empty list of strings"),
    ({"name": "a", "type": "string", "validate": {"deny": []}}, "fields[0].validate.deny", "non-empty list"),
    ({"name": "a", "type": "string", "validate": {"ip": "ipv5"}}, "fields[0].validate.ip",
     "expected one of ipv4, ipv6, any, got 'ipv5'"),
    ({"name": "a", "type": "string", "validate": {"cidr": True}}, "fields[0].validate.cidr", "expected one of"),
    ({"name": "a", "type": "string", "isEmbeddedJSON": True}, "fields[0].isEmbeddedJSON",
     "applies to object, array and json fields, not string"),
    ({"name": "a", "type": "json", "isEmbeddedJSON": "yes"}, "fields[0].isEmbeddedJSON", "expected true or false"),
    ({"name": "a", "type": "array", "element": {"type": "int", "validate": {"ip": "any"}}},
     "fields[0].element.validate", "not int"),
])
def test_bad_keys_are_refused_with_their_path(data: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(SchemaError) as caught:
        load_schema({"schema": "Custom.X", "fields": [data]})
    assert caught.value.path == path
    assert words in str(caught.value)


def test_applied_keys_carry_no_warning() -> None:
    schema = load_schema(SCHEMA)
    assert schema.warnings == ()
    assert schema.fields[1].validate is not None and schema.fields[1].validate.allow == ("login", "logout")
    assert schema.fields[5].embedded_json and rewrites(schema)
    assert not rewrites(load_schema({"schema": "Custom.Y", "fields": [
        {"name": "a", "type": "string", "validate": {"ip": "ipv4"}}]}))
    assert compile_check(load_schema({"schema": "Custom.Z", "fields": [{"name": "a", "type": "string"}]})) is None


@pytest.mark.parametrize(("event", "reason"), [
    ({"event_type": "signup"}, f'field event_type: "signup" is not in validate.allow ("login", "logout"){SUFFIX}'),
    ({"event_type": "Login"}, f'field event_type: "Login" is not in validate.allow ("login", "logout"){SUFFIX}'),
    ({"event_type": "login", "src": "10.0.0.256"},
     f'field src: "10.0.0.256" is not an IP address (validate.ip: any){SUFFIX}'),
    ({"event_type": "login", "src": 7}, f'field src: "7" is not an IP address (validate.ip: any){SUFFIX}'),
    ({"event_type": "login", "src": ["10.0.0.1"]},
     f"field src: expected a string for its validate rule, got an array{SUFFIX}"),
    ({"event_type": "login", "v6": "10.0.0.1"},
     f'field v6: "10.0.0.1" is not an IPv6 address (validate.ip: ipv6){SUFFIX}'),
    ({"event_type": "login", "net": "10.0.0.1"},
     f'field net: "10.0.0.1" is not an IPv4 CIDR block such as 10.0.0.0/8 (validate.cidr: ipv4){SUFFIX}'),
    ({"event_type": "login", "net": "2001:db8::/32"},
     f'field net: "2001:db8::/32" is not an IPv4 CIDR block such as 10.0.0.0/8 (validate.cidr: ipv4){SUFFIX}'),
    ({"event_type": "login", "net": "0.0.0.0/0"}, f'field net: "0.0.0.0/0" is in validate.deny{SUFFIX}'),
    ({"event_type": "login", "tags": ["ok", "bad"]}, f'field tags[1]: "bad" is in validate.deny{SUFFIX}'),
    ({"event_type": "login", "message": '{"peer": "192.0.2.1", "level": "debug"}'},
     f'field message.level: "debug" is in validate.deny{SUFFIX}'),
    ({"event_type": "login", "message": "{oops"},
     "field message: isEmbeddedJSON: the text is not valid JSON (unexpected character, expected a string key: "
     f"line 1 column 2 (char 1)){SUFFIX}"),
    ({"event_type": "login", "message": "[1, 2]"},
     f"field message: isEmbeddedJSON: expected the JSON text of an object (type: object), got an array{SUFFIX}"),
    ({"event_type": "login", "hops": '{"a": 1}'},
     f"field hops: isEmbeddedJSON: expected the JSON text of an array (type: array), got an object{SUFFIX}"),
    ({"event_type": "login", "steps": [{"detail": "{}"}, {"detail": "nope"}]},
     "field steps[1].detail: isEmbeddedJSON: the text is not valid JSON (invalid literal, expected 'null': line 1 "
     f"column 1 (char 0)){SUFFIX}"),
    # required fields are checked after decoding, so they apply inside embedded JSON (and in an optional object)
    ({"event_type": "login", "message": '{"host": "a.example"}'}, "required field message.peer is missing"),
    ({"event_type": "login", "message": {"peer": ""}}, "required field message.peer is missing"),
    ({"src": "10.0.0.1"}, "required field event_type is missing"),
])
def test_events_breaking_a_rule_are_rejected_with_it(event: dict[str, Any], reason: str) -> None:
    assert _parse(event) == (None, reason)


@pytest.mark.parametrize("event", [
    {"event_type": "login"},
    {"event_type": "logout", "src": "2001:db8::1", "v6": "2001:db8::1", "net": "10.0.0.1/8", "tags": ["ok", None]},
    {"event_type": "login", "src": "", "net": None, "message": "", "hops": "  "},  # empty and absent values pass
    {"event_type": "login", "message": {"peer": "192.0.2.1"}, "hops": ["192.0.2.2"]},  # already decoded
])
def test_events_keeping_the_rules_pass_unchanged(event: dict[str, Any]) -> None:
    assert _parse(event) == (event, None)


def test_embedded_json_is_decoded_where_it_is_declared() -> None:
    """Objects, arrays and any JSON value inside text are decoded in place, at any depth, inside arrays too."""
    parsed, reason = _parse({
        "event_type": "login", "message": '{"host": "c2.example", "peer": "203.0.113.7"}',
        "hops": '["198.51.100.1", "198.51.100.2"]', "extra": "42",
        "steps": [{"detail": '{"url": "http://drop.example/x"}'}, {"detail": {"url": "http://as-is.example/"}}],
    })
    assert reason is None and parsed is not None
    assert parsed["message"] == {"host": "c2.example", "peer": "203.0.113.7"}
    assert parsed["hops"] == ["198.51.100.1", "198.51.100.2"] and parsed["extra"] == 42
    assert parsed["steps"] == [{"detail": {"url": "http://drop.example/x"}}, {"detail": {"url": "http://as-is.example/"}}]


def test_a_logged_value_is_escaped_and_shortened_in_the_reason() -> None:
    value = '<script>"\n' + "x" * 200
    _, reason = _parse({"event_type": value})
    assert reason is not None
    quoted = orjson.dumps(value[:MAX_SHOWN]).decode()
    assert reason.startswith(f"field event_type: {quoted}... is not in validate.allow")
    assert "\n" not in reason and "x" * (MAX_SHOWN + 1) not in reason


def test_long_allow_lists_are_shortened_in_the_reason() -> None:
    check = compile_check(load_schema({"schema": "Custom.Many", "fields": [
        {"name": "a", "type": "string", "validate": {"allow": [f"v{i}" for i in range(9)]}}]}))
    assert check is not None
    assert check({"a": "w"}) == ('field a: "w" is not in validate.allow ("v0", "v1", "v2", "v3", "v4", ... 9 in all)'
                                 ": the event does not match log type Custom.Many")


_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=20),
                  st.floats(allow_nan=False, allow_infinity=False))
_JSON = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=4), max_leaves=12)


@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=5), st.lists(_JSON, max_size=5), _JSON)
def test_embedded_text_decodes_to_the_value_it_encodes(obj: dict[str, Any], items: list[Any], anything: Any) -> None:
    check = compile_check(load_schema({"schema": "Custom.Embedded", "fields": [
        {"name": "o", "type": "object", "isEmbeddedJSON": True, "fields": [{"name": "k", "type": "string"}]},
        {"name": "a", "type": "array", "isEmbeddedJSON": True, "element": {"type": "json"}},
        {"name": "j", "type": "json", "isEmbeddedJSON": True}]}))
    assert check is not None
    event = {"o": orjson.dumps(obj).decode(), "a": orjson.dumps(items).decode(), "j": orjson.dumps(anything).decode()}
    assert check(event) is None
    assert event == {"o": obj, "a": items, "j": anything}


@given(st.one_of(st.ip_addresses().map(str), st.text(max_size=45), st.from_regex(r"[0-9a-f:.]{2,20}", fullmatch=True)))
def test_ip_rules_accept_exactly_the_addresses_of_their_version(text: str) -> None:
    schema = load_schema({"schema": "Custom.Ip", "fields": [
        {"name": name, "type": "string", "validate": {"ip": name}} for name in ("ipv4", "ipv6", "any")]})
    check = compile_check(schema)
    assert check is not None
    try:
        version: int | None = ipaddress.ip_address(text).version
    except ValueError:
        version = None
    expected = {"ipv4": version == 4, "ipv6": version == 6, "any": version is not None}
    for name, ok in expected.items():
        assert (check({name: text}) is None) is (ok or text == ""), (name, text)


def test_enrich_cli_decodes_embedded_json_and_keeps_rejected_lines(home_dir: Path, tmp_path: Path) -> None:
    """End to end through `threatmatch enrich`: indicators inside embedded JSON are extracted and matched, the
    output holds the decoded object, every line breaking a rule is in the rejects file with its reason, and the
    counts add up."""
    schema_file = tmp_path / "login.yml"
    schema_file.write_bytes(orjson.dumps(SCHEMA))  # JSON is YAML
    runner = CliRunner()
    assert runner.invoke(cli, ["log-types", "add", str(schema_file)]).exit_code == 0
    shown = runner.invoke(cli, ["log-types", "show", "Custom.Login"])
    assert shown.exit_code == 0 and "warning" not in shown.output
    notes = {row.path: row.notes for row in field_rows(load_schema(SCHEMA).fields)}  # the table's notes column
    assert notes["event_type"] == "required; validate allow login, logout"
    assert notes["net"] == "validate deny 0.0.0.0/0; cidr ipv4"
    assert [path for path, note in notes.items() if note == "embedded JSON decoded"] == [
        "message", "hops", "extra", "steps.detail"]
    table = tmp_path / "c2.txt"
    table.write_text("203.0.113.7\n")
    lines = [
        {"time": "2026-01-01T00:00:00Z", "event_type": "login",
         "message": '{"host": "c2.example", "peer": "203.0.113.7"}'},
        {"time": "2026-01-01T00:00:01Z", "event_type": "signup", "src": "192.0.2.1"},
        {"time": "2026-01-01T00:00:02Z", "event_type": "logout", "src": "192.0.2.2"},
        {"time": "2026-01-01T00:00:03Z", "event_type": "login", "message": "{truncated"},
    ]
    source = tmp_path / "login.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    result = runner.invoke(cli, ["enrich", "--log-type", "Custom.Login", str(source), "-o", str(out),
                                 "--rejects", str(rejects), "--table", f"c2={table}"])
    assert result.exit_code == 0, result.output
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    kept = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert len(events) + len(kept) == len(lines)
    assert [e["event_type"] for e in events] == ["login", "logout"]
    first = events[0]
    assert first["message"] == {"host": "c2.example", "peer": "203.0.113.7"}
    assert first["p_any_ip_addresses"] == ["203.0.113.7"] and first["p_any_domain_names"] == ["c2.example"]
    assert first["p_enrichment"]["c2"]["p_any_ip_addresses"][0]["p_match"] == "203.0.113.7"
    assert [(r["line"], r["raw"]) for r in kept] == [(2, orjson.dumps(lines[1]).decode()),
                                                     (4, orjson.dumps(lines[3]).decode())]
    assert kept[0]["reason"] == f'field event_type: "signup" is not in validate.allow ("login", "logout"){SUFFIX}'
    assert kept[1]["reason"].startswith("field message: isEmbeddedJSON: the text is not valid JSON")


def test_texts_path_reencodes_events_whose_json_was_decoded() -> None:
    """The ingest path (`stream_texts`) cannot reuse a line whose embedded JSON was decoded: it hands the event
    itself (no text), so what is stored is the decoded event; a log type with validate only still reuses lines."""
    registry = LogTypeRegistry([LogType(load_schema(SCHEMA), builtin=False), LogType(load_schema(
        {"schema": "Custom.Plain", "fields": [
            {"name": "src", "type": "string", "indicators": ["ip"], "validate": {"ip": "ipv4"}}]}), builtin=False)])
    pipeline = Pipeline(registry, Enricher({"t": TableIndex.build([], name="t")}, None, registry))
    line = orjson.dumps({"event_type": "login", "message": '{"peer": "192.0.2.9"}'})
    [batch] = list(pipeline.stream_texts("Custom.Login", [line], now=NOW))
    assert batch.texts == [None] and batch.events[0]["message"] == {"peer": "192.0.2.9"}
    assert batch.events[0]["p_any_ip_addresses"] == ["192.0.2.9"]
    [plain] = list(pipeline.stream_texts("Custom.Plain", [b'{"src":"192.0.2.9"}', b'{"src":"::1"}'], now=NOW))
    assert plain.texts[0] is not None and plain.texts[0].startswith(b'{"src":"192.0.2.9",')
    assert [r.reason for r in plain.rejects] == [
        'field src: "::1" is not an IPv4 address (validate.ip: ipv4): the event does not match log type Custom.Plain']


@given(st.dictionaries(st.sampled_from(["event_type", "src", "net", "v6", "message", "hops", "extra", "tags", "steps",
                                        "time"]), _JSON | st.text(max_size=30).map(lambda t: "{" + t), max_size=8))
def test_the_check_never_raises_whatever_the_event(event: dict[str, Any]) -> None:
    """Any mix of types and broken JSON text in the checked fields gives a verdict, never an exception."""
    check = compile_check(load_schema(SCHEMA))
    assert check is not None
    reason = check(event)
    assert reason is None or isinstance(reason, str)
