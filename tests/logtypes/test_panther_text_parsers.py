"""Panther's `fastmatch` and `regex` parsers: custom schemas written for Panther parse the same text lines here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import shared_path

from threatmatch.errors import SchemaError
from threatmatch.logtypes import load_schema
from threatmatch.logtypes.registry import LogType

NOW = datetime(2026, 1, 1, tzinfo=UTC)

ACCESS = """
schema: Custom.Access
parser:
  fastmatch:
    match:
      - '%{client} %{ident} %{user} [%{time}] "%{request}" %{status} %{bytes} "%{referer}" "%{agent}"%{rest}'
      - '%{client} %{ident} %{user} [%{time}] "%{request}" %{status} %{bytes}'
    emptyValues: ['-']
fields:
  - {name: client, type: string, indicators: [hostname]}
  - {name: ident, type: string}
  - {name: user, type: string, indicators: [username]}
  - {name: time, type: timestamp, timeFormat: '%d/%b/%Y:%H:%M:%S %z', isEventTime: true}
  - {name: request, type: string}
  - {name: status, type: int}
  - {name: bytes, type: bigint}
  - {name: referer, type: string, indicators: [url]}
  - {name: agent, type: string}
  - {name: rest, type: string}
"""

AUDIT = r"""
schema: Custom.WebAudit
parser:
  regex:
    patternDefinitions:
      STAMP: '[A-Z][a-z]{2} +\d?\d \d\d:\d\d:\d\d'
      KEY: '[a-fA-F0-9]{32}'
      ACCOUNT: '\w{1,31}'
    match:
      - '^%{STAMP:timestamp}'
      - ' %{NOTSPACE:host} \[mws-audit\]'
      - '\[%{DATA:level}\] ?'
      - '(\[%{KEY:apikey}\]|\[%{ACCOUNT:username}\]) ?'
      - '(\[%{IP:source}\])?'
      - '%{GREEDYDATA:message}'
    trimSpace: true
fields:
  - {name: timestamp, type: timestamp, timeFormat: '%b %d %H:%M:%S', required: true}
  - {name: host, type: string}
  - {name: level, type: string, required: true}
  - {name: apikey, type: string}
  - {name: username, type: string, indicators: [username]}
  - {name: source, type: string, indicators: [ip]}
  - {name: message, type: string}
"""


def _log_type(text: str) -> LogType:
    return LogType(load_schema(yaml.safe_load(text)), builtin=False)


def _parse(text: str, lines: list[str]) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    return list(_log_type(text).parse(lines))


def test_fastmatch_tries_patterns_in_order_and_types_the_values() -> None:
    results = _parse(ACCESS, [
        '203.0.113.9 - alice [10/Oct/2024:13:55:36 -0700] "GET /a?b=c HTTP/1.1" 200 2326 "http://ref.example/x" '
        '"curl/8.0" extra',
        'host.example - - [10/Oct/2024:13:55:36 +0000] "POST /login HTTP/1.1" 401 -',
    ])
    assert results == [
        (1, {"client": "203.0.113.9", "user": "alice", "time": "10/Oct/2024:13:55:36 -0700",
             "request": "GET /a?b=c HTTP/1.1", "status": 200, "bytes": 2326, "referer": "http://ref.example/x",
             "agent": "curl/8.0", "rest": " extra"}, None),
        (2, {"client": "host.example", "time": "10/Oct/2024:13:55:36 +0000", "request": "POST /login HTTP/1.1",
             "status": 401}, None),
    ]


def test_fastmatch_rejects_say_where_each_pattern_stopped() -> None:
    [(_, event, reason)] = _parse(ACCESS, ["203.0.113.9 - alice 10/Oct/2024 GET / 200"])
    assert event is None
    assert reason == ("the line matches none of the 2 fastmatch patterns (pattern 1: expected ' [' after %{user} "
                      "(from character 15); pattern 2: expected ' [' after %{user} (from character 15))")
    [(_, _, typed)] = _parse(ACCESS, ['h - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" OK 12'])
    assert typed == "field status: expected an integer, got 'OK'"


@pytest.mark.parametrize(("pattern", "line", "expected"), [
    ('%{time} "%{message}"', r'2024-01-01T00:00:00Z "quoted \"text\" with \\ inside"',
     {"time": "2024-01-01T00:00:00Z", "message": 'quoted "text" with \\ inside'}),
    ("%{time} '%{message}' %{}", "2024-01-01T00:00:00Z 'it''s' dropped", None),  # unescaped inner quote: no fit
    ("%{time} '%{message}' %{}", r"2024-01-01T00:00:00Z 'it\'s' dropped",
     {"time": "2024-01-01T00:00:00Z", "message": "it's"}),
    ('[%{time}] [%{service}@%{message}] %{}', "[t] [svc@1.2.3.4] tail is dropped",
     {"time": "t", "service": "svc", "message": "1.2.3.4"}),
    ('%{time}"%{message}"', 'now"a b"', {"time": "now", "message": "a b"}),
])
def test_fastmatch_quotes_anonymous_fields_and_tails(pattern: str, line: str,
                                                     expected: dict[str, str] | None) -> None:
    schema = {"schema": "Custom.Q", "parser": {"fastmatch": {"match": [pattern]}},
              "fields": [{"name": "time", "type": "string"}, {"name": "service", "type": "string"},
                         {"name": "message", "type": "string"}]}
    [(_, event, reason)] = list(LogType(load_schema(schema), builtin=False).parse([line]))
    assert event == expected, reason


def test_fastmatch_trim_space_and_expand_fields() -> None:
    schema = {"schema": "Custom.Expand", "parser": {"fastmatch": {
        "match": ["%{host}|%{port}|%{note}"], "trimSpace": True, "emptyValues": ["n/a"],
        "expandFields": {"endpoint": "%{host}:%{port}"}}},
        "fields": [{"name": n, "type": "string"} for n in ("host", "port", "note", "endpoint")]}
    [(_, event, _)] = list(LogType(load_schema(schema), builtin=False).parse([" db.example | 5432 | n/a "]))
    assert event == {"host": "db.example", "port": "5432", "endpoint": "db.example:5432"}


@pytest.mark.parametrize(("fastmatch", "path", "words"), [
    ({"match": ["%{a}%{b}"]}, "parser.fastmatch.match[0]", "no text between %{a} and %{b}"),
    ({"match": ["%{a} %{nope}"]}, "parser.fastmatch.match[0]", "%{nope} is not a top-level field"),
    ({"match": ["%{a} %{b"]}, "parser.fastmatch.match[0]", "unclosed %{"),
    ({"match": ["plain text"]}, "parser.fastmatch.match[0]", "has no %{field} placeholder"),
    ({"match": []}, "parser.fastmatch.match", "non-empty list of patterns"),
    ({"match": ["%{a} %{b}"], "expandFields": {"c": "%{a}"}}, "parser.fastmatch.expandFields.c",
     "not a top-level field"),
    ({"match": ["%{a} %{b}"], "emptyValues": "-"}, "parser.fastmatch.emptyValues", "list of strings"),
    ({"match": ["%{a} %{b}"], "trimSpace": "yes"}, "parser.fastmatch.trimSpace", "true or false"),
])
def test_bad_fastmatch_options_are_refused_with_their_path(fastmatch: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(SchemaError) as caught:
        load_schema({"schema": "Custom.F", "parser": {"fastmatch": fastmatch},
                     "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}]})
    assert caught.value.path == path and words in str(caught.value)


_FREE = st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))


@given(st.text(st.characters(blacklist_characters="|\r\n", blacklist_categories=("Cs",)), max_size=12),
       st.text(st.characters(blacklist_characters=" \r\n", blacklist_categories=("Cs",)), max_size=12),
       st.text(_FREE, max_size=20), st.text(_FREE, max_size=20))
def test_fastmatch_gives_back_the_values_a_line_was_made_of(first: str, second: str, quoted: str, tail: str) -> None:
    """A line written from a pattern and values parses back to those values (quoted ones escaped as written). A
    value may hold anything but the delimiter that ends it (Panther's rule): ``a`` no ``|``, ``b`` no space."""
    schema = {"schema": "Custom.Round", "parser": {"fastmatch": {"match": ['%{a}|%{b} "%{c}" %{d}']}},
              "fields": [{"name": n, "type": "string"} for n in "abcd"]}
    escaped = quoted.replace("\\", "\\\\").replace('"', '\\"')
    line = f'{first}|{second} "{escaped}" {tail}'
    if line.lstrip().startswith("{") or not line.strip():
        return  # a JSON-looking or blank line is not a text record
    [(_, event, reason)] = list(LogType(load_schema(schema), builtin=False).parse([line]))
    assert reason is None
    assert event == {"a": first, "b": second, "c": quoted, "d": tail}


def test_fastmatch_reads_real_apache_lines_like_the_native_parser() -> None:
    """Real Apache/Elastic test lines: every line the combined-log pattern fits gives the client, user, status and
    bytes the built-in NCSA parser gives (except lines with a virtual host first, which a fixed pattern reads one
    field off, as in Panther: the native parser exists for those); the others are rejected with a reason."""
    lines = shared_path("realdata", "logs", "apache", "elastic-integrations", "test-access-basic.log").read_text(
        encoding="utf-8").splitlines()
    ours = _parse(ACCESS, lines)
    from threatmatch.logtypes import LogTypeRegistry
    native = {number: event for number, event, _ in LogTypeRegistry.load().get("Apache.AccessCombined").parse(lines)}
    assert len(ours) == len([line for line in lines if line.strip()])
    parsed = [(number, event) for number, event, _ in ours if event is not None]
    assert len(parsed) >= 10
    for number, event in parsed:
        reference = native[number]
        assert reference is not None
        if "virtualHost" in reference:
            continue
        assert event["client"] == reference["remoteHostIPAddress"]
        assert event["status"] == reference["responseStatus"]
        assert event.get("bytes") == reference.get("responseSize")
        assert event.get("user") == reference.get("userID")
    assert all(reason for _, event, reason in ours if event is None)


def test_regex_parses_real_juniper_audit_lines() -> None:
    """The four real Juniper WebApp Secure audit lines with a grok expression like Panther's example: the API key
    or user name alternatives, the optional source address and the trimmed message."""
    lines = shared_path("realdata", "logs", "panther-v1-parser-fixtures", "juniperlogs__audit_samples.log").read_text(
        encoding="utf-8").splitlines()
    events = [event for _, event, _ in _parse(AUDIT, lines)]
    assert events == [
        {"timestamp": "Jan 22 16:14:23", "host": "my-jwas", "level": "INFO", "username": "mykonos",
         "source": "10.10.0.117", "message": "Logged in successfully"},
        {"timestamp": "Jan 23 19:16:22", "host": "my-jwas", "level": "INFO",
         "apikey": "ea77722a8516b0d1135abb19b1982852", "message": "Deactivate response 1832840420318015488"},
        {"timestamp": "Feb 7 20:29:51", "host": "my-jwas", "level": "INFO", "username": "mykonos",
         "source": "10.10.0.113", "message": "Login failed. Attempt: 1"},
        {"timestamp": "Feb 14 19:02:54", "host": "my-jwas", "level": "INFO", "username": "mykonos",
         "message": "Changed configuration parameters: services.spotlight.enabled, services.spotlight.server_address"},
    ]
    normalize = _log_type(AUDIT).compile_normalizer()
    first = normalize(dict(events[0]), "2026-01-01 00:00:00.000", "r1")
    assert first["p_any_ip_addresses"] == ["10.10.0.117"] and first["p_any_usernames"] == ["mykonos"]


def test_regex_rejects_lines_it_does_not_match_and_checks_required_fields() -> None:
    results = _parse(AUDIT, ["not an audit line", "Jan 22 16:14:23 my-jwas [mws-audit][] [x] hi"])
    assert results == [(1, None, "the line does not match the regex pattern of this log type"),
                       (2, None, "required field level is missing")]


def test_regex_empty_values_raw_named_groups_and_expand_fields() -> None:
    schema = {"schema": "Custom.Raw", "parser": {"regex": {
        "match": [r"^(?P<user>\S+) (?P<addr>\S+)(?: %{INT:code:int})?$"], "emptyValues": ["-"],
        "expandFields": {"who": "%{user}@%{addr}"}}},
        "fields": [{"name": "user", "type": "string"}, {"name": "addr", "type": "string", "indicators": ["ip"]},
                   {"name": "code", "type": "int"}, {"name": "who", "type": "string"}]}
    results = list(LogType(load_schema(schema), builtin=False).parse(["bob 192.0.2.1 42", "- 192.0.2.2"]))
    assert results == [(1, {"user": "bob", "addr": "192.0.2.1", "code": 42, "who": "bob@192.0.2.1"}, None),
                       (2, {"addr": "192.0.2.2", "who": "@192.0.2.2"}, None)]


@pytest.mark.parametrize(("regex", "words"), [
    ({"match": ["%{NOPE:a}"]}, "unknown pattern %{NOPE}: define it under patternDefinitions"),
    ({"match": ["(?<=x)%{WORD:a}"]}, "not a valid RE2 expression: invalid perl operator: (?<="),
    ({"match": ["%{WORD:zzz}"]}, "group 'zzz' is not a top-level field"),
    ({"match": ["%{WORD}"]}, "captures no field"),
    ({"match": ["%{LOOP:a}"], "patternDefinitions": {"LOOP": "%{LOOP}"}}, "nest deeper than 20 levels"),
    ({"match": "%{WORD:a}", "patternDefinitions": ["x"]}, "mapping of NAME -> expression"),
    ({"match": [1]}, "non-empty list of expression parts"),
])
def test_bad_regex_options_are_refused_with_their_reason(regex: dict[str, Any], words: str) -> None:
    with pytest.raises(SchemaError) as caught:
        load_schema({"schema": "Custom.R", "parser": {"regex": regex}, "fields": [{"name": "a", "type": "string"}]})
    assert caught.value.path.startswith("parser.regex") and words in str(caught.value)


@pytest.mark.timeout(60)
def test_regex_matching_time_stays_linear_on_hostile_lines() -> None:
    """`(a+)+$` against 'aaa...a!' backtracks exponentially in a backtracking engine; RE2 answers at once (this test
    would not finish with Python's re)."""
    schema = {"schema": "Custom.Evil", "parser": {"regex": {"match": ["^(?P<a>(a+)+)$"]}},
              "fields": [{"name": "a", "type": "string"}]}
    line = "a" * 100_000 + "!"
    assert list(LogType(load_schema(schema), builtin=False).parse([line, "aaa"])) == [
        (1, None, "the line does not match the regex pattern of this log type"), (2, {"a": "aaa"}, None)]


def test_the_docs_list_every_built_in_grok_pattern() -> None:
    from pathlib import Path

    from threatmatch.logtypes.parsers.grok import BUILTIN

    text = (Path(__file__).resolve().parents[2] / "docs" / "logtypes.md").read_text(encoding="utf-8")
    listed = text.split("built in: `", 1)[1].split("`", 1)[0].split()
    assert sorted(listed) == sorted(BUILTIN)


@given(st.ip_addresses())
def test_the_ip_pattern_takes_any_address_written_short_or_long(address: Any) -> None:
    schema = {"schema": "Custom.Ip", "parser": {"regex": {"match": ["^%{IP:a}$"]}},
              "fields": [{"name": "a", "type": "string"}]}
    forms = {str(address), address.exploded}
    results = list(LogType(load_schema(schema), builtin=False).parse(sorted(forms)))
    assert [event for _, event, _ in results] == [{"a": form} for form in sorted(forms)]


def test_csv_expand_fields_and_checked_options() -> None:
    """Panther's csv parser takes expandFields too; its options are checked like fastmatch's and regex's."""
    schema = {"schema": "Custom.Csv", "parser": {"csv": {
        "delimiter": ",", "columns": ["host", "port", "-"], "emptyValues": ["", "-"],
        "expandFields": {"endpoint": "%{host}:%{port}"}}},
        "fields": [{"name": n, "type": "string"} for n in ("host", "port", "endpoint")]}
    results = list(LogType(load_schema(schema), builtin=False).parse(["db.example,5432,x", "-,22,y"]))
    assert results == [(1, {"host": "db.example", "port": "5432", "endpoint": "db.example:5432"}, None),
                       (2, {"port": "22", "endpoint": ":22"}, None)]  # an empty value is absent everywhere
    with pytest.raises(SchemaError) as caught:
        load_schema({**schema, "parser": {"csv": {"columns": ["host"], "expandFields": {"nope": "%{host}"}}}})
    assert caught.value.path == "parser.csv.expandFields.nope"


def test_regex_groups_keep_non_ascii_text_whole() -> None:
    """Groups are cut from the line's UTF-8 bytes: multi-byte characters before and inside them stay whole."""
    schema = {"schema": "Custom.Utf", "parser": {"regex": {"match": [r"^(?P<who>\S+) → (?P<what>.+)$"]}},
              "fields": [{"name": "who", "type": "string"}, {"name": "what", "type": "string"}]}
    [(_, event, _)] = list(LogType(load_schema(schema), builtin=False).parse(["José → 日本語 ünïcode 🎉".encode()]))
    assert event == {"who": "José", "what": "日本語 ünïcode 🎉"}


_LINE_CHARS = st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))


@given(st.lists(st.text(_LINE_CHARS, max_size=60) | st.sampled_from(
    ['x "a\\" b', "'", '"', "\\", "[t] [s@", "a|b", '1.2.3.4 - - [', "%{x}"]), max_size=6))
def test_text_parsers_never_raise_on_any_line(lines: list[str]) -> None:
    """Whatever the line (quotes never closed, trailing backslashes, placeholders in the data...), each parser gives
    an event or a reason for it: a hostile line can reject itself, never a whole request."""
    kinds = [_log_type(ACCESS), _log_type(AUDIT), LogType(load_schema({
        "schema": "Custom.Q", "parser": {"fastmatch": {"match": ['%{a} "%{b}" %{c}', "%{a}|'%{b}'|%{c}"],
                                                        "trimSpace": True, "emptyValues": ["-"]}},
        "fields": [{"name": n, "type": "string"} for n in "abc"]}), builtin=False)]
    for kind in kinds:
        results = list(kind.parse(lines))
        assert all((event is None) != (reason is None) for _, event, reason in results)
        assert len(results) == len([line for line in lines if line.strip()])
