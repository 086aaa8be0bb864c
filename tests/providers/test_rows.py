"""Unit behaviour of the ThreatStream row builder: indicator fields, rejects, and the byte-exact fast path."""

from __future__ import annotations

import ipaddress
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threatmatch.errors import ParseError
from threatmatch.indicators.normalize import canonical, normalize_cidr, normalize_ip
from threatmatch.providers.threatstream.rows import build_row, encode_raw, event_time, fast_canonical, fast_ip, url_host

PT = "2026-01-01 00:00:00.000"
RID = "f" * 32


def row(**fields: Any) -> dict[str, Any]:
    obj = {"id": 1, "update_id": 10, "status": "active", **fields}
    return build_row(obj, parse_time=PT, row_id=RID)


class TestIndicatorFields:
    def test_ipv6_value_is_canonical(self) -> None:
        """An IPv6 indicator matches and indexes on its canonical text."""
        built = row(type="ipv6", value="2001:DB8:0:0::1")
        assert built["match"] == ["2001:db8::1"] and built["p_any_ip_addresses"] == ["2001:db8::1"]

    def test_domain_is_lower_cased_and_resolved_ip_indexed_but_not_matched(self) -> None:
        """A domain's resolved ip goes to p_any_ip_addresses, never to match."""
        built = row(type="domain", value="Evil.Example.COM.", ip="10.0.0.1")
        assert built["match"] == ["evil.example.com"]
        assert built["p_any_domain_names"] == ["evil.example.com"]
        assert built["p_any_ip_addresses"] == ["10.0.0.1"]

    def test_url_host_goes_to_domain_names_and_match_keeps_url(self) -> None:
        """A url matches on the URL itself and indexes its host name."""
        built = row(type="url", value="https://User@Bad.Example:8443/x?y=1")
        assert built["match"] == ["https://User@Bad.Example:8443/x?y=1"]
        assert built["p_any_domain_names"] == ["bad.example"]

    def test_url_with_address_host_goes_to_ip_addresses(self) -> None:
        """A url whose host is an address indexes it as an IP, not a domain."""
        built = row(type="url", value="http://[2001:db8::1]:80/a", ip="2001:db8::1")
        assert built["p_any_ip_addresses"] == ["2001:db8::1"] and "p_any_domain_names" not in built

    @pytest.mark.parametrize(("subtype", "value", "field"), [
        ("MD5", "0DA9B790450C4331DF8ACCBB89C6F651", "p_any_md5_hashes"),
        ("SHA1", "b97d099e6c132d19a47cf7e72840cac6c3ddd6dc", "p_any_sha1_hashes"),
        ("SHA256", "a" * 64, "p_any_sha256_hashes"),
        (None, "b" * 40, "p_any_sha1_hashes"),
        ("SHA256", "c" * 32, "p_any_md5_hashes"),
    ])
    def test_hash_kind_from_subtype_else_length(self, subtype: str | None, value: str, field: str) -> None:
        """Hashes land in the p_any field of their kind (subtype first, hex length when absent or contradicted)."""
        built = row(type="md5", subtype=subtype, value=value)
        assert built[field] == [value.lower()] and built["match"] == [value.lower()]

    def test_sha512_and_strings_have_no_indicator_field(self) -> None:
        """Kinds Panther has no p_any field for (sha512, ssdeep, file names) only get a match."""
        assert not [k for k in row(type="md5", subtype="SHA512", value="d" * 128) if k.startswith("p_any")]
        built = row(type="string", value="384:MdPnITsHlTxk7:MdAT05x")
        assert built["match"] == ["384:MdPnITsHlTxk7:MdAT05x"]
        assert not [k for k in built if k.startswith("p_any")]

    def test_email_is_lower_cased(self) -> None:
        """E-mail indicators match lower-cased."""
        assert row(type="email", value="Bob@Example.ORG")["p_any_emails"] == ["bob@example.org"]

    def test_invalid_typed_value_is_kept_without_indicator_field(self) -> None:
        """An ip-typed value that is not an address stays a row (matched verbatim) with no p_any field."""
        built = row(type="ip", value="not-an-ip")
        assert built["match"] == ["not-an-ip"] and "p_any_ip_addresses" not in built


class TestStandardFields:
    def test_event_time_falls_back_to_parse_time(self) -> None:
        """Without a usable modified_ts, p_event_time is the parse time (Panther's rule)."""
        assert row(type="ip", value="1.2.3.4")["p_event_time"] == PT
        assert event_time("garbage", PT) == PT

    def test_event_time_converts_other_iso_shapes_to_utc(self) -> None:
        """Offsets and missing milliseconds are converted to UTC with three fraction digits."""
        assert event_time("2023-08-11T12:35:52+02:00", PT) == "2023-08-11 10:35:52.000"

    def test_ids_above_2_53_stay_exact_ints(self) -> None:
        """Ids beyond float precision stay exact ints in the row and in the fast path."""
        big = 2**60 + 1
        raw = orjson.dumps({"id": big, "value": "1.2.3.4", "type": "ip", "update_id": big})
        stored = encode_raw(raw, parse_time=PT, row_id=RID)
        assert stored.id == big and orjson.loads(stored.row)["id"] == big

    def test_ids_beyond_64_bits_are_stored_as_text_column(self) -> None:
        """An id too large for SQLite INTEGER keeps its exact digits (as text) in the id column."""
        raw = b'{"id": 123456789012345678901234567890, "value": "x.example"}'
        stored = encode_raw(raw, parse_time=PT, row_id=RID)
        assert stored.id == "123456789012345678901234567890"
        assert b'"id": 123456789012345678901234567890' in stored.row


    def test_ids_beyond_64_bits_survive_the_safe_path(self) -> None:
        """A >64-bit id in an object that needs the dict path is still encoded exactly."""
        raw = b'{"id": 123456789012345678901234567890, "value": "x.example", "match": 1}'
        stored = encode_raw(raw, parse_time=PT, row_id=RID)
        assert msgspec.json.decode(stored.row)["match"] == ["x.example"]
        assert b"123456789012345678901234567890" in stored.row


class TestRejects:
    @pytest.mark.parametrize(("raw", "reason"), [
        (b"[1, 2]", "not a JSON object"),
        (b'{"value": "1.2.3.4"}', "no integer `id`"),
        (b'{"id": "7", "value": "1.2.3.4"}', "no integer `id`"),
        (b'{"id": 7, "value": "  "}', "has no `value`"),
        (b'{"id": 7, "value": 5}', "has no `value`"),
        (b'{"id": 7, "value": "a.b", "update_id": 1.5}', "non-integer `update_id`"),
    ])
    def test_broken_objects_are_rejected_with_a_reason(self, raw: bytes, reason: str) -> None:
        """Objects without an integer id or a value are rejected, naming where and why."""
        with pytest.raises(ParseError, match=reason) as info:
            encode_raw(raw, parse_time=PT, row_id=RID, where="page 3, object 9")
        assert "page 3, object 9" in str(info.value)
        if raw.startswith(b"{"):
            with pytest.raises(ParseError, match=reason):
                build_row(orjson.loads(raw), parse_time=PT, row_id=RID)


class TestFastPath:
    def test_object_already_carrying_our_keys_takes_the_safe_path(self) -> None:
        """An API object that already has `match` or a p_ key gets ours, never a duplicate JSON key."""
        raw = b'{"id": 1, "value": "1.2.3.4", "type": "ip", "match": ["x"], "p_log_type": "y"}'
        stored = encode_raw(raw, parse_time=PT, row_id=RID)
        assert stored.row.count(b'"match"') == 1
        assert orjson.loads(stored.row)["match"] == ["1.2.3.4"]

    def test_original_bytes_are_kept(self) -> None:
        """Numbers and spacing of the API's bytes are preserved (no float round-trip)."""
        raw = b'{"id": 1, "value": "1.2.3.4", "latitude": 37.7510, "type": "ip"}'
        assert encode_raw(raw, parse_time=PT, row_id=RID).row.startswith(raw[:-1])


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_values = st.one_of(
    _text, st.ip_addresses().map(str), st.emails(),
    st.from_regex(r"[0-9a-fA-F]{32}|[0-9a-f]{40}|[0-9A-F]{64}", fullmatch=True),
    st.from_regex(r"(https?://)?[A-Za-z0-9.-]{1,20}(:[0-9]{2,5})?(/[a-z]*)?", fullmatch=True),
)
_objects = st.fixed_dictionaries(
    {"id": st.integers(0, 2**64 - 1), "value": _values.filter(lambda v: bool(v.strip()))},
    optional={
        "type": st.sampled_from(["ip", "ipv6", "domain", "url", "email", "md5", "string", "other"]),
        "subtype": st.one_of(st.none(), st.sampled_from(["MD5", "SHA1", "SHA256", "SHA512", "bogus"])),
        "ip": st.one_of(st.none(), st.just(""), st.ip_addresses().map(str), _text),
        "status": st.sampled_from(["active", "inactive", "falsepos"]),
        "confidence": st.integers(-1, 100),
        "modified_ts": st.one_of(_text, st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds") + "Z")),
        "update_id": st.integers(0, 2**63),
        "tags": st.one_of(st.none(), st.lists(st.fixed_dictionaries({"id": _text, "name": _text}), max_size=2)),
        "extra": st.one_of(_text, st.floats(allow_nan=False, allow_infinity=False), st.booleans()),
    },
)


@settings(max_examples=300, deadline=None)
@given(_objects)
def test_fast_path_equals_reference_builder(obj: dict[str, Any]) -> None:
    """For any object, encode_raw's row decodes to exactly build_row's row and its columns agree."""
    raw = orjson.dumps(obj)
    stored = encode_raw(raw, parse_time=PT, row_id=RID)
    expected = build_row(obj, parse_time=PT, row_id=RID)
    assert orjson.loads(stored.row) == expected
    assert stored.match == expected["match"]
    assert stored.status == obj.get("status") and stored.confidence == obj.get("confidence")


@settings(max_examples=200, deadline=None)
@given(_values)
def test_url_host_never_raises(value: str) -> None:
    """url_host accepts any text and returns a non-empty host or None."""
    host = url_host(value)
    assert host is None or host


_shapes = st.one_of(
    _text, _values, st.ip_addresses().map(lambda a: f" [{a}] "), st.ip_addresses(v=6).map(lambda a: str(a).upper()),
    st.from_regex(r"0?[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,4}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._%+-]{1,10}@[A-Za-z0-9.-]{1,12}", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}/[0-9]{1,2}", fullmatch=True),
    st.ip_addresses(v=6).map(lambda a: a.exploded), st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=4).map(lambda a: f"1::{a}"), st.from_regex(r"[0-9a-fA-F:.%]{1,45}", fullmatch=True),
    st.from_regex(r"(0{0,4}|[0-9a-f]{1,5}):(:|[0-9a-f]{0,4}:){1,8}[0-9a-f]{0,4}", fullmatch=True),
    st.tuples(st.ip_addresses(v=4), st.integers(0, 33)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 129)).map(lambda t: f" {t[0].exploded}/{t[1]} "),
    st.from_regex(r"[0-9a-fA-F:./% ]{1,40}", fullmatch=True),
)

def _reference_cidr(text: str) -> str | None:
    """``normalize_cidr`` without its character screen: whatever ``ipaddress`` makes of the text."""
    value = text.strip()
    if "/" not in value:
        return None
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return None


_TRICKY_ADDRESSES = [
    "::", "::1", "1::", "::ffff:1.2.3.4", "::1.2.3.4", "1::1.2.3.4", "::1.2.3.04", "0:0:1:0:0:1:0:0", "1:0:2:3:4:5:6:7",
    "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "12345::", "fe80::1%eth0",
    "[fe80::1]", " 2001:DB8::1 ", "1.2.3.4 ", ":1::", "1:::2", "::ffff:0:0", "64:ff9b::1.2.3.4", "0000:0000::0001",
    "2001:db8:0:0:1:0:0:1", "[::1", "::1]", "", " ", ":",
]


@pytest.mark.parametrize("value", _TRICKY_ADDRESSES)
def test_fast_ip_agrees_on_tricky_address_text(value: str) -> None:
    """Compressed, mapped, embedded-IPv4, zoned, bracketed and malformed address text: fast_ip == normalize_ip."""
    assert fast_ip(value) == normalize_ip(value)
    assert fast_canonical(value) == canonical(value)


@settings(max_examples=600, deadline=None)
@given(_shapes)
def test_fast_canonical_equals_canonical(value: str) -> None:
    """The hot path's shortcuts give exactly canonical()'s and normalize_ip()'s answers."""
    assert fast_canonical(value) == canonical(value)
    assert fast_ip(value) == normalize_ip(value)
    assert normalize_cidr(value) == _reference_cidr(value)
