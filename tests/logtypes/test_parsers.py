"""Text and JSON parsers: real format rules on hand-written lines, clear reject reasons, never an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from threatmatch.logtypes import LogTypeRegistry, load_schema
from threatmatch.logtypes.parsers import build_parser

REGISTRY = LogTypeRegistry.load()


def parse(name: str, *lines: str | bytes) -> list[tuple[int, dict | None, str | None]]:
    return list(REGISTRY.get(name).parse(lines))


class TestJson:
    def test_blank_invalid_and_non_object_lines(self) -> None:
        """Blank lines are skipped (not rejects); invalid JSON and non-objects are rejected with the reason."""
        got = parse("Okta.SystemLog", b'{"uuid": "a"}\n', b"\n", b"[1, 2]\n", b'{"uuid": \n', b'"text"\n')
        assert got[0] == (1, {"uuid": "a"}, None)
        assert [n for n, _, _ in got] == [1, 3, 4, 5]
        assert got[1][2] == "expected a JSON object, got an array"
        assert got[2][2] is not None and got[2][2].startswith("invalid JSON: ")
        assert got[3][2] == "expected a JSON object, got a string"

    def test_multiline_document_with_records(self) -> None:
        """A pretty-printed {"Records": [...]} document yields one event per record at its first line."""
        lines = ["{\n", '  "Records": [\n', '    {"eventName": "A"},\n', "    7\n", "  ]\n", "}\n",
                 '{"eventName": "B"}\n']
        got = parse("AWS.CloudTrail", *lines)
        assert got[0] == (1, {"eventName": "A"}, None)
        assert got[1] == (1, None, "Records[1]: expected a JSON object, got a number")
        assert got[2] == (7, {"eventName": "B"}, None)

    def test_truncated_line_does_not_swallow_later_records(self) -> None:
        """A record cut after '[' or ',' is one reject; the next column-0 record is parsed normally."""
        got = parse("Okta.SystemLog", '{"uuid": "a", "target": [\n', '{"uuid": "b"}\n')
        assert got == [(1, None, "invalid JSON (lines 1-1): the record never closes"), (2, {"uuid": "b"}, None)]

    def test_unclosed_document_is_one_reject(self) -> None:
        """A document that never closes is reported once, at its first line."""
        got = parse("AWS.CloudTrail", "{\n", '  "a": 1,\n')
        assert got == [(1, None, "invalid JSON document (lines 1-2): input ended before the document closed")]


class TestZeek:
    HEADER = [
        "#separator \\x09\n", "#set_separator\t,\n", "#empty_field\t(empty)\n", "#unset_field\t-\n",
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tquery\tanswers\tTTLs\tAA\n",
        "#types\ttime\tstring\taddr\tport\tstring\tvector[string]\tvector[interval]\tbool\n",
    ]

    def test_types_unset_empty_and_escapes(self) -> None:
        """Values are typed from #types; '-' is absent, (empty) an empty list, \\xHH decoded."""
        row = "1600000000.5\tCx1\t10.0.0.1\t53\tb\\x2cc.example\ta.example,1.2.3.4\t30.0,60.0\tT\n"
        got = parse("Zeek.DNS", *self.HEADER, row, "1.0\tC2\t::1\t1\t-\t(empty)\t(empty)\tF\n", "#close\t2020\n")
        assert got[0] == (7, {"ts": 1600000000.5, "uid": "Cx1", "id.orig_h": "10.0.0.1", "id.orig_p": 53,
                              "query": "b,c.example", "answers": ["a.example", "1.2.3.4"], "TTLs": [30.0, 60.0],
                              "AA": True}, None)
        assert got[1][1] == {"ts": 1.0, "uid": "C2", "id.orig_h": "::1", "id.orig_p": 1, "answers": [],
                             "TTLs": [], "AA": False}

    def test_rejects(self) -> None:
        """Wrong field counts, bad numbers and data before the header are rejected with the reason."""
        assert parse("Zeek.Conn", "1.0\tx\n")[0][2] == "data line before any #fields header (is this a Zeek TSV log?)"
        got = parse("Zeek.DNS", *self.HEADER, "x\tC\t1.1.1.1\t1\tq\t-\t-\tT\n", "1\t2\n")
        assert got[0][2] == "field ts: expected a time value, got 'x'"
        assert got[1][2] == "expected 8 tab-separated fields (from #fields), got 2"

    def test_integers_must_fit_64_bits(self) -> None:
        """A port or count beyond 64 bits is a reject with its reason, as in every other text format."""
        row = f"1.0\tC\t10.0.0.1\t{2**64}\tq\t-\t-\tT\n"
        got = parse("Zeek.DNS", *self.HEADER, row)[0]
        assert got[1] is None and got[2] == f"field id.orig_p: port value out of the 64-bit range: '{2**64}'"

    def test_zeek_json_lines(self) -> None:
        """Zeek JSON output is accepted by the same log type."""
        assert parse("Zeek.DNS", '{"ts": 1.5, "query": "a.example"}')[0][1] == {"ts": 1.5, "query": "a.example"}


class TestAccessLogs:
    def test_combined_with_escapes_and_forwarded_for(self) -> None:
        """Quoted fields keep escaped quotes; X-Forwarded-For becomes a list; '-' is absent."""
        line = ('203.0.113.9 - bob [01/Feb/2021:10:00:00 +0100] "GET /a\\"b HTTP/1.1" 200 - "-" '
                '"curl/8" X-Forwarded-For="198.51.100.1, 198.51.100.2"')
        (number, event, reason), = parse("Apache.AccessCombined", line)
        assert reason is None and event == {
            "remoteHostIPAddress": "203.0.113.9", "userID": "bob", "requestTime": "01/Feb/2021:10:00:00 +0100",
            "request": 'GET /a"b HTTP/1.1', "requestMethod": "GET", "requestURI": '/a"b', "requestProtocol": "HTTP/1.1",
            "responseStatus": 200, "userAgent": "curl/8", "forwardedFor": ["198.51.100.1", "198.51.100.2"]}

    def test_vhost_and_extras(self) -> None:
        """A leading virtual host and trailing unknown fields are kept."""
        line = 'shop.example 10.1.1.1 - - [01/Feb/2021:10:00:00 +0000] "GET / HTTP/1.1" 404 12 "-" "ua" 0.003'
        event = parse("Nginx.Access", line)[0][1]
        assert event is not None and event["host"] == "shop.example" and event["extra"] == ["0.003"]

    def test_rejects(self) -> None:
        """Lines that are not CLF are rejected with what was expected."""
        assert parse("Nginx.Access", "hello world")[0][2] == "no [time] field: not a common/combined log line"
        got = parse("Nginx.Access", '1.1.1.1 - - [01/Feb/2021:10:00:00 +0000] "GET /" abc 1')[0][2]
        assert got == "field status: expected an integer, got 'abc'"
        assert "unterminated quoted field" in (parse("Nginx.Access", '1 - - [x] "GET')[0][2] or "")


class TestColumns:
    def test_vpcflow_default_layout_and_header(self) -> None:
        """v2 lines use the default layout; a header line sets a custom column order."""
        v2 = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1600000000 1600000060 ACCEPT OK"
        event = parse("AWS.VPCFlow", v2)[0][1]
        assert event is not None and event["srcAddr"] == "10.0.0.1" and event["srcPort"] == 443
        assert event["start"] == 1600000000 and event["status"] == "OK"
        custom = parse("AWS.VPCFlow", "srcaddr dstaddr flow-direction ecs-cluster-name", "10.0.0.9 - egress c1")
        assert custom[0][1] == {"srcAddr": "10.0.0.9", "flowDirection": "egress", "ecsClusterName": "c1"}

    def test_vpcflow_reject_reason(self) -> None:
        """A short v2 record says how many fields the version needs."""
        got = parse("AWS.VPCFlow", "2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 9")[0][2]
        assert got == "expected 14 space-separated fields for AWS.VPCFlow v2, got 9"

    def test_integers_must_fit_64_bits(self) -> None:
        """An integer column holds -2**63 .. 2**63-1 (Panther's bigint); anything larger is a reject, not a crash."""
        base = "2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 {} 1600000000 1600000060 ACCEPT OK"
        assert parse("AWS.VPCFlow", base.format(2**63 - 1))[0][1]["bytes"] == 2**63 - 1  # type: ignore[index]
        got = parse("AWS.VPCFlow", base.format(2**63))[0]
        assert got[1] is None and got[2] == f"field bytes: integer out of the 64-bit range: '{2**63}'"

    def test_alb_splits_client_and_request(self) -> None:
        """ALB client ip:port and the request line are split into their fields."""
        line = ('h2 2024-01-01T00:00:00.5Z app/x/1 192.0.2.1:5000 10.0.0.1:80 0.001 0.002 0.000 200 200 10 20 '
                '"GET https://a.example:443/p HTTP/2.0" "ua" TLS_AES TLSv1.3 - "Root=1-abc" "a.example" "-" 0')
        event = parse("AWS.ALB", line)[0][1]
        assert event is not None
        assert (event["clientIp"], event["clientPort"], event["requestUrl"]) == ("192.0.2.1", 5000,
                                                                                  "https://a.example:443/p")
        assert event["traceId"] == "Root=1-abc" and "targetGroupArn" not in event


class TestSyslog:
    def test_nil_values_structured_data_and_bom(self) -> None:
        """NILVALUE fields are absent, SD params unescape \\" and \\], a BOM before MSG is dropped."""
        line = '<14>1 - - app - - [id@1 a="x\\"y" b="p\\]q" a="z"] \ufeffhello'
        assert parse("Syslog.RFC5424", line)[0][1] == {
            "priority": 14, "facility": 1, "severity": 6, "version": 1, "appname": "app",
            "structured_data": {"id@1": {"a": ['x"y', "z"], "b": "p]q"}}, "message": "hello"}

    def test_rejects(self) -> None:
        """RFC 3164 lines and bad PRI values are rejected with the reason."""
        assert "version number" in (parse("Syslog.RFC5424", "<13>Feb  5 17:32:18 host msg")[0][2] or "")
        assert "bad PRI" in (parse("Syslog.RFC5424", "<999>1 - - - - - -")[0][2] or "")


def test_csv_parser_with_header() -> None:
    """The csv parser reads a header, quoted commas and empty values."""
    schema = load_schema({"schema": "Custom.Csv", "parser": {"csv": {"hasHeader": True}},
                          "fields": [{"name": "ip", "type": "string", "indicators": ["ip"]},
                                     {"name": "n", "type": "int"}, {"name": "note", "type": "string"}]})
    got = list(build_parser(schema)(["ip,n,note\n", '1.2.3.4,5,"a, b"\n', "5.6.7.8,,x\n", "1,2\n"]))
    assert got[0] == (2, {"ip": "1.2.3.4", "n": 5, "note": "a, b"}, None)
    assert got[1] == (3, {"ip": "5.6.7.8", "note": "x"}, None)
    assert got[2] == (4, None, "expected 3 ','-separated fields, got 2")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=120), st.binary(max_size=120)), max_size=6))
def test_every_parser_rejects_instead_of_raising(lines: list[str | bytes]) -> None:
    """Arbitrary text or bytes never raise: each record is an event or a reject with a reason."""
    for log_type in REGISTRY:
        for number, event, reason in log_type.parse(lines):
            assert number >= 1
            assert (event is None) != (reason is None)


_CLF_WORD = st.text(st.sampled_from('ab-1.:/"[]\\= \t'), min_size=1, max_size=6)
_CLF_QUOTED = st.text(st.sampled_from('ab -/"\\'), max_size=8).map(lambda t: '"' + t + '"')


@given(st.lists(st.one_of(_CLF_WORD, _CLF_QUOTED, st.just("[26/Dec/2016:16:22:13 +0000]"), st.just("-")),
                min_size=6, max_size=10))
def test_the_plain_access_log_fast_path_equals_the_tokenizer(pieces: list[str]) -> None:
    """Whenever the one-regex fast path reads a line, it reads what the tokenizer reads."""
    from threatmatch.logtypes.parsers.clf import _plain, _split_tokens
    from threatmatch.logtypes.parsers.common import Reject

    line = " ".join(pieces)
    fast = _plain(line)
    if fast is None:
        return
    try:
        slow = _split_tokens(line)
    except Reject as exc:
        raise AssertionError(f"the fast path read a line the tokenizer rejects ({exc}): {line!r}") from None
    assert fast == slow


def test_the_plain_access_log_fast_path_reads_real_lines_as_the_tokenizer() -> None:
    """The real Apache and nginx lines (and Panther V1's Go test inputs): the same slots either way, and most
    lines take the fast path."""
    from tests.logtypes.samples import SOURCES, source_files

    from threatmatch.logtypes.parsers.clf import _plain, _split_tokens

    fast_lines = 0
    for log_type in ("Apache.AccessCombined", "Nginx.Access"):
        for name, _ in SOURCES[log_type]:
            for _, lines in source_files(name):
                for raw in lines:
                    line = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
                    fast = _plain(line)
                    if fast is not None:
                        fast_lines += 1
                        assert fast == _split_tokens(line), line
    assert fast_lines >= 10
