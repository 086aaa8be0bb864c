"""Reading a feed body into entries: the lines, csv and jsonl formats, gzip bodies, and the real feed files."""

from __future__ import annotations

import gzip
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import shared_path

from threatmatch.errors import ParseError
from threatmatch.indicators.normalize import normalize_cidr
from threatmatch.providers.feed.parse import (
    Entry,
    Rejected,
    decompress,
    parse_csv,
    parse_feed,
    parse_jsonl,
    parse_lines,
)
from threatmatch.providers.feed.rows import classify, refang

BOM = b"\xef\xbb\xbf"
COMMENT_STARTS = ("#", ";", "//")


def feed(*parts: str) -> Path:
    """A real feed file under ../shared/realdata/intel/feeds (the test skips when it is absent)."""
    return shared_path("realdata", "intel", "feeds", *parts)


def entries(items: list[Entry | Rejected]) -> list[Entry]:
    return [item for item in items if isinstance(item, Entry)]


def rejects(items: list[Entry | Rejected]) -> list[Rejected]:
    return [item for item in items if isinstance(item, Rejected)]


# --------------------------------------------------------------------------------------------------- lines


class TestLines:
    def test_blank_and_comment_lines_are_skipped(self) -> None:
        """Blank lines and lines starting with '#', ';' or '//' (after indentation) give no entry."""
        body = b"# banner\n\n   \n; Spamhaus note\n// C-style note\n  # indented\n\t\n8.8.8.8\n"
        assert list(parse_lines(body)) == [Entry(8, "8.8.8.8", {})]

    def test_spamhaus_comment_after_semicolon_is_kept_without_it(self) -> None:
        """Spamhaus DROP's 'CIDR ; SBL id' gives the CIDR as value and the SBL id as comment (';' dropped)."""
        assert list(parse_lines(b"1.10.16.0/20 ; SBL256894\n")) == [Entry(1, "1.10.16.0/20", {"comment": "SBL256894"})]

    def test_hash_comment_after_value_is_kept_without_it(self) -> None:
        """A trailing '# note' is kept as comment 'note'."""
        assert list(parse_lines(b"evil.example # seen 2024-01-01\n")) == [
            Entry(1, "evil.example", {"comment": "seen 2024-01-01"})]

    def test_ipsum_tab_separated_count_is_the_comment(self) -> None:
        """IPsum's 'ip<TAB>count' gives the address as value and the count as comment."""
        assert list(parse_lines(b"77.90.185.20\t10\n")) == [Entry(1, "77.90.185.20", {"comment": "10"})]

    def test_first_word_ends_at_space_tab_or_comma(self) -> None:
        """The value is the text up to the first space, tab or comma; the rest (trimmed) is the comment."""
        body = b"1.1.1.1,foo,bar\n2.2.2.2 \t x y\n3.3.3.3\ttab\n"
        assert list(parse_lines(body)) == [
            Entry(1, "1.1.1.1", {"comment": "foo,bar"}),
            Entry(2, "2.2.2.2", {"comment": "x y"}),
            Entry(3, "3.3.3.3", {"comment": "tab"}),
        ]

    def test_surrounding_whitespace_and_crlf_are_trimmed(self) -> None:
        """Indentation, trailing spaces and CRLF line ends never reach the value or give a comment."""
        assert list(parse_lines(b"  1.10.16.0/20 \r\n\t5.5.5.5\r\n")) == [
            Entry(1, "1.10.16.0/20", {}), Entry(2, "5.5.5.5", {})]

    def test_line_numbers_are_one_based_physical_lines(self) -> None:
        """Line numbers count every physical line, the skipped ones included, from 1."""
        body = b"# header\n\n1.1.1.1\n; x\n2.2.2.2\n\n\n3.3.3.3"
        assert [entry.line for entry in entries(list(parse_lines(body)))] == [3, 5, 8]

    def test_utf8_bom_is_ignored(self) -> None:
        """A UTF-8 byte order mark before the first line is not part of the first value."""
        assert list(parse_lines(BOM + b"1.1.1.1\n")) == [Entry(1, "1.1.1.1", {})]

    def test_utf8_bom_before_a_comment_keeps_it_a_comment(self) -> None:
        """A BOM before a '#' banner still lets the banner be recognised as a comment."""
        assert list(parse_lines(BOM + b"# banner\n1.1.1.1\n")) == [Entry(2, "1.1.1.1", {})]

    def test_invalid_utf8_is_replaced_not_raised(self) -> None:
        """Bytes that are not UTF-8 become U+FFFD in the value instead of failing the whole feed."""
        assert list(parse_lines(b"evil\xff.example\n")) == [Entry(1, "evil\ufffd.example", {})]

    def test_no_lines_gives_no_entries(self) -> None:
        """An empty body or one of comments only gives nothing (and no reject)."""
        assert list(parse_lines(b"")) == [] and list(parse_lines(b"# only\n;\n//\n")) == []

    def test_only_newlines_end_a_line(self) -> None:
        """A form feed or U+2028 inside a line neither splits it nor shifts the next line's number."""
        body = "1.1.1.1 note\u2028more\n2.2.2.2\x0cjunk\n3.3.3.3\n".encode()
        assert [(entry.line, entry.value) for entry in entries(list(parse_lines(body)))] == [
            (1, "1.1.1.1"), (2, "2.2.2.2\x0cjunk"), (3, "3.3.3.3")]

    def test_line_starting_with_comma_gives_no_empty_value(self) -> None:
        """A line whose first word is empty (',1.2.3.4') yields no Entry with an empty value."""
        assert all(entry.value for entry in entries(list(parse_lines(b",1.2.3.4\n"))))


_LINE_CHARS = st.characters(categories=("L", "M", "N", "P", "S", "Zs"))  # printable: no line breaks, no controls


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(_LINE_CHARS, max_size=30), max_size=30))
def test_parse_lines_accounts_for_every_line(lines: list[str]) -> None:
    """For any printable lines, parse_lines never raises and every non-blank, non-comment line (and only those)
    gives exactly one item with its 1-based number: an entry whose value is taken from that line, or, for a line
    of separators only, a reject."""
    items = list(parse_lines("\n".join(lines).encode()))
    numbers = [item.line for item in items]
    assert numbers == sorted(set(numbers))
    expected = [number for number, line in enumerate(lines, start=1)
                if line.strip() and not line.strip().startswith(COMMENT_STARTS)]
    assert numbers == expected
    for item in items:
        source = lines[item.line - 1].strip().lstrip(" \t,")
        if isinstance(item, Rejected):
            assert source == "" and "only separators" in item.reason
            continue
        assert item.value and source.startswith(item.value)
        assert not any(separator in item.value for separator in (" ", "\t", ","))
        assert set(item.extra) <= {"comment"}


class TestCsv:
    def test_banner_lines_are_skipped_and_quoted_header_is_read(self) -> None:
        """'#' banner lines before a quoted header are skipped; the column is found by its unquoted name."""
        body = b'#####\n# banner\n#\n"first_seen","dst_ip","port"\n"2024-01-01","1.2.3.4","443"\n'
        assert list(parse_csv(body, "dst_ip")) == [Entry(5, "1.2.3.4", {"first_seen": "2024-01-01", "port": "443"})]

    def test_commented_header_then_data_on_the_next_line(self) -> None:
        """A '#ip,ioc' header (column found only in the last '#' line) makes the very next line data."""
        body = b"#ip,ioc\n1.116.160.39,Possible C2\n1.117.59.12,Other\n"
        assert list(parse_csv(body, "ip")) == [
            Entry(2, "1.116.160.39", {"ioc": "Possible C2"}), Entry(3, "1.117.59.12", {"ioc": "Other"})]

    def test_commented_header_after_a_banner_is_still_found(self) -> None:
        """Only the last '#' line before the data is taken as the commented header."""
        body = b"# banner mentions ip\n# ip , ioc \n9.9.9.9,x\n"
        assert list(parse_csv(body, "ip")) == [Entry(3, "9.9.9.9", {"ioc": "x"})]

    def test_real_header_wins_over_commented_one(self) -> None:
        """When the first non-'#' line holds the column it is the header, even after a '#' line that also does."""
        body = b"#ip,old\nip,new\n1.1.1.1,x\n"
        assert list(parse_csv(body, "ip")) == [Entry(3, "1.1.1.1", {"new": "x"})]

    def test_wrong_column_raises_naming_the_header_columns(self) -> None:
        """A column absent from the header is a ParseError listing the columns there are."""
        with pytest.raises(ParseError) as caught:
            list(parse_csv(b'"first_seen_utc","dst_ip"\n"x","1.1.1.1"\n', "ip"))
        assert "'ip'" in str(caught.value) and "'first_seen_utc', 'dst_ip'" in str(caught.value)

    def test_wrong_field_count_is_rejected_with_the_counts(self) -> None:
        """A row with more or fewer fields than the header is Rejected, saying both counts; others still parse."""
        body = b"ip,note\n1.1.1.1\n2.2.2.2,a,b\n3.3.3.3,ok\n"
        assert list(parse_csv(body, "ip")) == [
            Rejected(2, "1 fields where the header has 2"),
            Rejected(3, "3 fields where the header has 2"),
            Entry(4, "3.3.3.3", {"note": "ok"}),
        ]

    def test_empty_value_is_rejected_naming_the_column(self) -> None:
        """A row whose indicator column is empty or blank is Rejected naming the column."""
        body = b'ip,note\n,x\n"  ",y\n'
        assert list(parse_csv(body, "ip")) == [Rejected(2, "column 'ip' is empty"), Rejected(3, "column 'ip' is empty")]

    def test_other_non_empty_columns_are_kept_as_extra(self) -> None:
        """Every other column with text is kept as published; empty ones and unnamed ones are dropped."""
        body = b"SHA256,MD5,Version,,Notes \n" + b"A" * 64 + b",b1,, orphan ,note \n"
        assert list(parse_csv(body, "SHA256")) == [Entry(2, "A" * 64, {"MD5": "b1", "Notes": "note "})]

    def test_value_is_trimmed(self) -> None:
        """Spaces around the indicator in its field are dropped."""
        assert list(parse_csv(b"ip\n 1.1.1.1 \n", "ip")) == [Entry(2, "1.1.1.1", {})]

    def test_trailing_hash_lines_and_blank_lines_are_skipped(self) -> None:
        """abuse.ch's '# END n entries' footer and blank lines give neither entries nor rejects."""
        body = b'"ip"\n"1.1.1.1"\n\n# END 1 entries\n#\n'
        assert list(parse_csv(body, "ip")) == [Entry(2, "1.1.1.1", {})]

    def test_comments_only_gives_nothing(self) -> None:
        """A body of '#' lines only (no header) gives no entries and no error."""
        assert list(parse_csv(b"# banner\n#\n\n", "ip")) == []

    def test_utf8_bom_is_ignored(self) -> None:
        """A UTF-8 BOM before the header does not hide the first column name."""
        assert list(parse_csv(BOM + b"ip,x\n1.1.1.1,y\n", "ip")) == [Entry(2, "1.1.1.1", {"x": "y"})]

    def test_multiline_quoted_field_does_not_crash(self) -> None:
        """A record whose quoted field holds a newline is parsed or rejected, never a bare ValueError."""
        found = list(parse_csv(b'ip,note\n"1.1.1.1","two\nlines"\n2.2.2.2,x\n', "ip"))
        assert Entry(4, "2.2.2.2", {"note": "x"}) in found

    def test_unterminated_quote_does_not_crash(self) -> None:
        """A row with an unbalanced quote is rejected (or the feed refused with ParseError), never a ValueError."""
        try:
            found = list(parse_csv(b'ip,note\n"1.1.1.1,x\n2.2.2.2,y\n', "ip"))
        except ParseError:
            return
        assert any(isinstance(item, Rejected) and item.line == 2 for item in found)


# --------------------------------------------------------------------------------------------------- jsonl


class TestJsonl:
    def test_value_and_other_keys(self) -> None:
        """The column's value is the indicator; every other key is kept (lists and numbers as they are)."""
        body = b'{"url":"http://x.example/a","id":"7","tags":["elf"],"n":3}\n'
        assert list(parse_jsonl(body, "url")) == [
            Entry(1, "http://x.example/a", {"id": "7", "tags": ["elf"], "n": 3})]

    def test_bad_json_line_is_rejected_and_the_next_line_still_parses(self) -> None:
        """A line that is not JSON is Rejected with a 'not valid JSON' reason; parsing goes on."""
        found = list(parse_jsonl(b'{"u":"a.example"\n{"u":"b.example"}\n', "u"))
        assert isinstance(found[0], Rejected) and found[0].line == 1
        assert found[0].reason.startswith("not valid JSON (")
        assert found[1] == Entry(2, "b.example", {})

    @pytest.mark.parametrize(("line", "kind"), [(b"[1,2]", "list"), (b'"x.example"', "str"), (b"5", "int"),
                                                (b"null", "NoneType")])
    def test_non_object_is_rejected_naming_its_type(self, line: bytes, kind: str) -> None:
        """A JSON value that is not an object is Rejected saying what it is."""
        assert list(parse_jsonl(line, "u")) == [Rejected(1, f"expected a JSON object, got {kind}")]

    def test_nested_key(self) -> None:
        """'a.b' names key b inside object a; the whole object stays in extra."""
        assert list(parse_jsonl(b'{"a":{"b":"x.example","c":1},"d":2}', "a.b")) == [
            Entry(1, "x.example", {"a": {"b": "x.example", "c": 1}, "d": 2})]

    @pytest.mark.parametrize("line", [b'{"other":1}', b'{"a":"flat"}', b'{"a":{"c":1}}', b'{"a":{"b":null}}'])
    def test_missing_key_is_rejected_as_absent(self, line: bytes) -> None:
        """A line without the (nested) key, or with null there, is Rejected as 'absent'."""
        assert list(parse_jsonl(line, "a.b")) == [Rejected(1, "key 'a.b' is absent")]

    @pytest.mark.parametrize(("line", "shown"), [(b'{"u":true}', "bool"), (b'{"u":["x"]}', "list"),
                                                 (b'{"u":{"v":1}}', "dict")])
    def test_non_scalar_value_is_rejected_naming_its_type(self, line: bytes, shown: str) -> None:
        """A boolean, list or object under the key is Rejected ('<type>, not text')."""
        assert list(parse_jsonl(line, "u")) == [Rejected(1, f"key 'u' is {shown}, not text")]

    def test_number_value_is_accepted_as_text(self) -> None:
        """An integer or float under the key becomes its text (ids published as numbers still load)."""
        assert list(parse_jsonl(b'{"u":12345,"x":1}\n{"u":1.5}\n{"u":0}', "u")) == [
            Entry(1, "12345", {"x": 1}), Entry(2, "1.5", {}), Entry(3, "0", {})]

    def test_value_is_trimmed_and_blank_value_rejected(self) -> None:
        """Spaces around a string value are dropped; a blank string is Rejected."""
        found = list(parse_jsonl(b'{"u":" a.example "}\n{"u":"   "}\n', "u"))
        assert found[0] == Entry(1, "a.example", {})
        assert isinstance(found[1], Rejected) and found[1].line == 2 and "'u'" in found[1].reason

    def test_blank_lines_skipped_but_counted(self) -> None:
        """Blank lines give nothing but still count for the line numbers (CRLF ends included)."""
        assert list(parse_jsonl(b'\r\n  \r\n{"u":"a.example"}\r\n', "u")) == [Entry(3, "a.example", {})]

    def test_utf8_bom_is_ignored(self) -> None:
        """A UTF-8 BOM before the first object does not make that line a reject."""
        assert list(parse_jsonl(BOM + b'{"u":"a.example"}\n', "u")) == [Entry(1, "a.example", {})]


# --------------------------------------------------------------------------------------------------- parse_feed


class TestParseFeed:
    def test_dispatches_by_format(self) -> None:
        """'lines', 'csv' and 'jsonl' reach their parsers (the lines format ignores the column)."""
        assert list(parse_feed(b"1.1.1.1 x\n", "lines", None)) == [Entry(1, "1.1.1.1", {"comment": "x"})]
        assert list(parse_feed(b"ip\n1.1.1.1\n", "csv", "ip")) == [Entry(2, "1.1.1.1", {})]
        assert list(parse_feed(b'{"ip":"1.1.1.1"}', "jsonl", "ip")) == [Entry(1, "1.1.1.1", {})]

    @pytest.mark.parametrize("fmt", ["csv", "jsonl"])
    def test_column_required_for_csv_and_jsonl(self, fmt: str) -> None:
        """A csv or jsonl feed without a column is a ParseError saying it needs one."""
        with pytest.raises(ParseError, match=f"a {fmt} feed needs a column"):
            parse_feed(b"", fmt, None)

    def test_unknown_format_raises(self) -> None:
        """An unknown format is a ParseError naming it."""
        with pytest.raises(ParseError, match="unknown feed format 'xml'"):
            parse_feed(b"", "xml", "ip")


# --------------------------------------------------------------------------------------------------- decompress


class TestDecompress:
    def test_gzip_detected_by_magic(self) -> None:
        """A body starting with the gzip magic bytes is inflated."""
        assert decompress(gzip.compress(b"1.1.1.1\n2.2.2.2\n"), limit=1000) == b"1.1.1.1\n2.2.2.2\n"

    @pytest.mark.parametrize("body", [b"", b"1.1.1.1\n", b"\x1f", b"\x8b\x1f rest"])
    def test_other_bodies_pass_through(self, body: bytes) -> None:
        """A body without the magic is returned unchanged (the limit does not apply to it)."""
        assert decompress(body, limit=0) is body

    def test_truncated_gzip_raises(self) -> None:
        """A gzip body cut before its end of stream is a ParseError saying it is truncated."""
        body = gzip.compress(bytes(range(256)) * 20)
        with pytest.raises(ParseError, match="truncated"):
            decompress(body[: len(body) // 2], limit=10**6)

    def test_corrupt_gzip_raises(self) -> None:
        """Gzip magic followed by garbage is a ParseError saying it cannot be decompressed."""
        with pytest.raises(ParseError, match="cannot be decompressed"):
            decompress(b"\x1f\x8b" + b"not deflate data at all", limit=10**6)

    def test_over_limit_raises(self) -> None:
        """Inflating past the limit is a ParseError (a gzip bomb stops at limit + 1 bytes)."""
        with pytest.raises(ParseError, match="more than 1,000 bytes"):
            decompress(gzip.compress(b"0" * 10**7), limit=1000)

    def test_exactly_at_limit_is_accepted(self) -> None:
        """A body inflating to exactly ``limit`` bytes is returned whole."""
        assert decompress(gzip.compress(b"x" * 100), limit=100) == b"x" * 100
        with pytest.raises(ParseError):
            decompress(gzip.compress(b"x" * 100), limit=99)

    def test_multi_member_gzip_is_read_whole(self) -> None:
        """Concatenated gzip members (pigz, 'cat a.gz b.gz') decompress to all their data."""
        body = gzip.compress(b"1.1.1.1\n") + gzip.compress(b"2.2.2.2\n")
        assert decompress(body, limit=1000) == b"1.1.1.1\n2.2.2.2\n"


# --------------------------------------------------------------------------------------------------- real feeds


class TestRealFeeds:
    def test_spamhaus_drop_every_entry_is_a_cidr(self) -> None:
        """Spamhaus DROP: 989 entries on lines 1-989, each a canonical CIDR block, no comment."""
        found = list(parse_feed(feed("spamhaus", "drop.txt").read_bytes(), "lines", None))
        assert not rejects(found) and len(found) == 989
        assert [entry.line for entry in entries(found)] == list(range(1, 990))
        assert found[0] == Entry(1, "1.10.16.0/20", {}) and found[-1] == Entry(989, "223.254.0.0/16", {})
        for entry in entries(found):
            assert classify(entry.value) == ("cidr", entry.value, {})
            assert normalize_cidr(entry.value) == entry.value

    def test_ipsum_address_and_count(self) -> None:
        """IPsum: the 7 banner lines are skipped; 120430 entries, each an IPv4 address with its list count."""
        found = list(parse_feed(feed("ipsum", "ipsum.txt").read_bytes(), "lines", None))
        assert not rejects(found) and len(found) == 120430
        assert found[0] == Entry(8, "77.90.185.20", {"comment": "10"})
        assert found[-1] == Entry(120437, "162.251.62.103", {"comment": "1"})
        assert all(entry.extra["comment"].isdigit() for entry in entries(found))
        for entry in entries(found)[::499]:
            assert isinstance(ipaddress.ip_address(entry.value), ipaddress.IPv4Address)

    def test_feodo_tracker_csv(self) -> None:
        """Feodo Tracker: the banner and '# END' footer skipped; 28 entries (lines 10-37), all IPv4 C2s, the other
        columns kept (the file's header makes 29 non-'#' lines; its footer says '# END 28 entries')."""
        found = list(parse_feed(feed("abuse.ch", "feodotracker_ipblocklist.csv").read_bytes(), "csv", "dst_ip"))
        assert not rejects(found) and len(found) == 28
        first = entries(found)[0]
        assert (first.line, first.value) == (10, "192.9.135.73")
        assert first.extra == {"first_seen_utc": "2023-05-23 17:51:44", "dst_port": "1194", "c2_status": "online",
                               "last_online": "2024-04-01", "malware": "Pikabot"}
        assert [entry.line for entry in entries(found)] == list(range(10, 38))
        assert entries(found)[-1].value == "172.233.221.61"
        assert {(classify(entry.value) or ("",))[0] for entry in entries(found)} == {"ip"}

    def test_urlhaus_ndjson(self) -> None:
        """URLhaus dump: 2 URL entries, other keys (id, tags...) kept, the url key itself not repeated in extra."""
        found = list(parse_feed(feed("abuse.ch", "urlhaus_dump_sample.ndjson").read_bytes(), "jsonl", "url"))
        assert [(item.line, item.value) for item in entries(found)] == [
            (1, "http://115.55.244.160:41619/Mozi.m"), (2, "http://27.206.236.188:59429/i")]
        assert len(found) == 2
        assert entries(found)[0].extra["id"] == "2786904"
        assert entries(found)[1].extra["tags"] == ["32-bit", "elf", "mips", "Mozi"]
        assert all("url" not in entry.extra for entry in entries(found))
        assert all(classify(entry.value) == ("url", entry.value, {}) for entry in entries(found))

    def test_jayp232_commented_header(self) -> None:
        """IPC2s-30day.csv: the '#ip,ioc' header makes line 2 the first entry; 1318 entries, all IPv4."""
        found = list(parse_feed(feed("jayp232", "IPC2s-30day.csv").read_bytes(), "csv", "ip"))
        assert not rejects(found) and len(found) == 1318
        assert found[0] == Entry(2, "172.21.25.140", {"ioc": "TEST DATA"})
        assert found[1] == Entry(3, "1.116.160.39", {"ioc": "Possible Cobaltstrike C2 IP"})
        assert all(classify(entry.value) == ("ip", entry.value, {}) for entry in entries(found))

    def test_sunburst_hashes_csv(self) -> None:
        """FireEye SUNBURST hashes: 11 SHA-256 entries; SHA1/MD5 kept as extra, empty columns dropped, the header's
        'Notes ' name trimmed."""
        found = list(parse_feed(feed("fireeye-sunburst", "Indicator_Release_Hashes.csv").read_bytes(), "csv",
                                "SHA256"))
        assert not rejects(found) and len(found) == 11
        first = entries(found)[0]
        assert first.value == "d0d626deb3f9484e649294a8dfa814c5568f846d5aa02d4cdad5d041a29d5600"
        assert first.extra["MD5"] == "02af7cec58b9a5da1c542b5a32151ba1" and "Version" not in first.extra
        assert entries(found)[1].extra["FILENAME"] == "Solarwinds Worldwide, LLC "
        assert "Notes" in entries(found)[1].extra
        for entry in entries(found):
            assert classify(entry.value) == ("md5", entry.value.lower(), {"subtype": "SHA256"})
            assert len(entry.extra["SHA1"]) == 40 and len(entry.extra["MD5"]) == 32

    def test_maltrail_emotet_trails(self) -> None:
        """Maltrail emotet.txt: 15034 entries; ip:port trails keep their port; every value classify rejects has a
        '/' (4737 bare URL paths plus scheme-less host/path trails)."""
        found = list(parse_feed(feed("maltrail", "malware", "emotet.txt").read_bytes(), "lines", None))
        assert not rejects(found) and len(found) == 15034
        assert found[0] == Entry(8, "66.210.228.178:443", {})
        assert classify(found[0].value) == ("ip", "66.210.228.178", {"port": 443})
        unclassified = [entry.value for entry in entries(found) if classify(refang(entry.value)) is None]
        assert all("/" in value for value in unclassified)
        assert sum(value.startswith("/") for value in unclassified) == 4737

    def test_tor_exit_nodes(self) -> None:
        """Tor exit list: 1746 addresses (1127 IPv4, 619 IPv6 written in full and canonicalised by classify)."""
        found = entries(list(parse_feed(feed("tor", "tor-exit-nodes.lst").read_bytes(), "lines", None)))
        assert len(found) == 1746 and found[0] == Entry(1, "101.99.92.179", {})
        kinds = [classify(entry.value) for entry in found]
        assert sum(kind is not None and kind[0] == "ip" for kind in kinds) == 1127
        assert sum(kind is not None and kind[0] == "ipv6" for kind in kinds) == 619
        expanded = next(entry.value for entry in found if entry.value.startswith("2001:0470:0001:0908"))
        assert classify(expanded) == ("ipv6", "2001:470:1:908::9001", {})


def test_a_record_swallowing_lines_names_them() -> None:
    """An unbalanced quote makes one record of the lines after it: its reject says which lines it took, so the
    count of one rejected record does not hide them."""
    [item] = parse_csv(b'ip,note\n"1.1.1.1,x\n2.2.2.2,y\n3.3.3.3,z\n', "ip")
    assert isinstance(item, Rejected) and item.line == 2
    assert item.reason == "1 fields where the header has 2 (read over lines 2-4: an unbalanced quote?)"
