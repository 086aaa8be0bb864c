"""Feed entry -> lookup row: refanging, classification, stable ids and the row's shape."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, provisional, settings
from hypothesis import strategies as st

from threatmatch.errors import SettingError
from threatmatch.indicators.normalize import canonical, normalize_cidr
from threatmatch.providers.feed.config import FeedConfig, make_feed_config
from threatmatch.providers.feed.rows import LOG_TYPE, REASON, build_row, classify, refang, stable_id

PT = "2026-01-01 00:00:00.000"
RID = "r" * 32
SPAMHAUS = make_feed_config(name="spamhaus", url="https://www.spamhaus.org/drop/drop.txt")
FEODO = make_feed_config(name="feodo", url="https://feodotracker.abuse.ch/downloads/ipblocklist.csv", format="csv",
                         column="dst_ip", itype="c2_ip", confidence=95)
ROW_KEYS = {"id", "value", "type", "status", "confidence", "source", "feed_url", "feed_line", "match",
            "p_event_time", "p_parse_time", "p_log_type", "p_row_id", "p_schema_version"}


def row(text: str, extra: dict[str, Any] | None = None, *, config: FeedConfig = SPAMHAUS,
        line: int = 7) -> dict[str, Any]:
    built = build_row(text, extra or {}, line=line, config=config, parse_time=PT, row_id=RID)
    assert isinstance(built, dict), built
    return built


def reject(text: str) -> str:
    built = build_row(text, {}, line=1, config=SPAMHAUS, parse_time=PT, row_id=RID)
    assert isinstance(built, str), built
    return built


# --------------------------------------------------------------------------------------------------- refang


@pytest.mark.parametrize(("text", "expected"), [
    ("hxxp://evil.example/a", "http://evil.example/a"),
    ("hxxps[:]//evil.example", "https://evil.example"),
    ("HXXPS://evil.example", "https://evil.example"),
    ("hxxp[:]//evil[.]example/x", "http://evil.example/x"),
    ("evil[.]example", "evil.example"),
    ("evil(.)example", "evil.example"),
    ("evil{.}example[DOT]com", "evil.example.com"),
    ("1[.]2[.]3[.]4", "1.2.3.4"),
    ("bad[at]evil.example", "bad@evil.example"),
    ("bad[@]evil.example", "bad@evil.example"),
    ("  evil.example \n", "evil.example"),
    ("http://plain.example/", "http://plain.example/"),
])
def test_refang(text: str, expected: str) -> None:
    """Published defanging (hxxp, [:], [.], (.), {.}, [dot], [at], [@]) is undone and the text trimmed."""
    assert refang(text) == expected


def test_refang_only_rewrites_a_leading_scheme() -> None:
    """'hxxp' inside a value (not its scheme) is left alone."""
    assert refang("http://a.example/?next=hxxp://b") == "http://a.example/?next=hxxp://b"


# --------------------------------------------------------------------------------------------------- classify


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.1", ("ip", "192.0.2.1", {})),
    ("2001:DB8::0:1", ("ipv6", "2001:db8::1", {})),
    ("2001:0470:0001:0908:0000:0000:0000:9001", ("ipv6", "2001:470:1:908::9001", {})),
    ("[2001:db8::1]", ("ipv6", "2001:db8::1", {})),
    ("10.1.2.3/8", ("cidr", "10.0.0.0/8", {})),
    ("1.10.16.0/20", ("cidr", "1.10.16.0/20", {})),
    ("2001:DB8::1/32", ("cidr", "2001:db8::/32", {})),
    ("http://115.55.244.160:41619/Mozi.m", ("url", "http://115.55.244.160:41619/Mozi.m", {})),
    ("https://Evil.Example/Path?q=1", ("url", "https://Evil.Example/Path?q=1", {})),
    ("0DA9B790450C4331DF8ACCBB89C6F651", ("md5", "0da9b790450c4331df8accbb89c6f651", {"subtype": "MD5"})),
    ("B97D099E6C132D19A47CF7E72840CAC6C3DDD6DC",
     ("md5", "b97d099e6c132d19a47cf7e72840cac6c3ddd6dc", {"subtype": "SHA1"})),
    ("A" * 64, ("md5", "a" * 64, {"subtype": "SHA256"})),
    ("f" * 128, ("md5", "f" * 128, {"subtype": "SHA512"})),
    ("Bad.Actor@Evil.Example", ("email", "bad.actor@evil.example", {})),
    ("Evil.Example.COM.", ("domain", "evil.example.com", {})),
    ("dvr.petcp.com", ("domain", "dvr.petcp.com", {})),
    ("xn--mnchen-3ya.de", ("domain", "münchen.de", {})),
    ("66.210.228.178:443", ("ip", "66.210.228.178", {"port": 443})),
    ("Evil.Example:8080", ("domain", "evil.example", {"port": 8080})),
    ("evil.example:0", ("domain", "evil.example", {"port": 0})),
])
def test_classify_accepts(text: str, expected: tuple[str, str, dict[str, Any]]) -> None:
    """Each indicator shape gets its type and canonical value (hashes as md5 with the subtype of their length)."""
    assert classify(text) == expected


@pytest.mark.parametrize("text", [
    "/x.php",                       # a URL path
    "/wp-content/ehiZ/",            # Maltrail path trail
    "AS123",                        # an AS number
    "1.2.3",                        # digits only: no host name
    "1.2.3.4.",                     # an address with a trailing dot is not a domain either
    "010.1.1.1",                    # a leading zero: neither address nor host name
    "evil example.com",             # text with a space
    "evil.example\tx",              # a tab
    "",                             # empty
    "a" * 2049,                     # over-long
    ("a" * 60 + ".") * 5 + "com",   # a host name over 253 characters
    "localhost",                    # a single label
    "g" * 32,                       # 32 characters but not hex
    "user@localhost",               # an e-mail without a domain with a dot
    "a@b@c.example",                # two @
    "http://",                      # a URL without a host
    "http:///path",                 # idem
    "1.2.3.4:99999",                # a port out of range
    "[2001:db8::1]:notaport",
    "999.1.1.1/8",                  # not a network
])
def test_classify_rejects(text: str) -> None:
    """Paths, AS numbers, bare digits, spaced or empty text, over-long values and malformed hosts are refused."""
    assert classify(text) is None


@pytest.mark.parametrize("text", ["<script>alert(1)</script>.evil.com", "<script>alert(1)<script>.evil.com",
                                  "'; DROP TABLE x; --", "${jndi:ldap://evil.example/a}", "\x00\x01.evil.com",
                                  "evil.com\u202e", "%00.evil.com", "../../etc/passwd"])
def test_hostile_values_are_rejected_or_kept_as_data(text: str) -> None:
    """A hostile value never raises: build_row gives a reject naming it, or a row holding it as plain data."""
    built = build_row(text, {}, line=1, config=SPAMHAUS, parse_time=PT, row_id=RID)
    if isinstance(built, str):
        assert built.startswith(repr(text[:77] + "..." if len(text) > 80 else text))
    else:
        assert built["match"] == [canonical(built["value"])] and built["type"] in ("url", "domain")


def test_classify_many_port_suffixes_does_not_recurse_away() -> None:
    """A long chain of ':digits' suffixes (within the length limit) is rejected, not a RecursionError."""
    text = "1" + ":1" * 1000
    assert len(text) <= 2048
    try:
        found = classify(text)
    except RecursionError:  # reported briefly: a 1000-frame traceback takes long to format
        pytest.fail("classify raised RecursionError", pytrace=False)
    assert found is None


@pytest.mark.parametrize("text", ["evil.example:80:81", "1.2.3.4:80:81"])
def test_classify_rejects_two_ports(text: str) -> None:
    """'host:port:port' is no indicator: it is rejected rather than read as host with its last port."""
    assert classify(text) is None


def test_classify_bracketed_ipv6_with_port_keeps_port() -> None:
    """'[2001:db8::1]:443' is the IPv6 address with port 443."""
    assert classify("[2001:db8::1]:443") == ("ipv6", "2001:db8::1", {"port": 443})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_classify_never_raises(text: str) -> None:
    """On any text classify returns None or a (type, value, extra) triple whose value has no whitespace."""
    found = classify(text)
    if found is not None:
        kind, value, extra = found
        assert kind in {"ip", "ipv6", "cidr", "url", "md5", "email", "domain"}
        assert value and not any(char.isspace() for char in value) and isinstance(extra, dict)


@settings(max_examples=200, deadline=None)
@given(st.ip_addresses())
def test_classify_any_address_is_canonical(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Every IPv4/IPv6 address is typed ip/ipv6 with the canonical text of normalize.canonical."""
    text = str(address)
    assert classify(text) == ("ip" if address.version == 4 else "ipv6", canonical(text), {})


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(), st.data())
def test_classify_any_network_is_normalize_cidr(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                                data: st.DataObject) -> None:
    """'address/prefix' is a cidr whose value is normalize_cidr's (host bits cleared)."""
    prefix = data.draw(st.integers(0, address.max_prefixlen))
    text = f"{address.exploded if data.draw(st.booleans()) else address}/{prefix}"
    expected = normalize_cidr(text)
    assert expected == str(ipaddress.ip_network(text, strict=False))
    assert classify(text) == ("cidr", expected, {})


# --------------------------------------------------------------------------------------------------- stable_id


class TestStableId:
    def test_same_value_same_id(self) -> None:
        """The id depends only on the type and value, so it survives refreshes."""
        assert stable_id("ip", "1.2.3.4") == stable_id("ip", "1.2.3.4")
        assert row("1.2.3.4", line=1)["id"] == row("1.2.3.4", line=500)["id"] == stable_id("ip", "1.2.3.4")

    def test_canonical_forms_share_an_id(self) -> None:
        """Two spellings of one indicator (case, defanging, port) get one id."""
        assert row("EVIL[.]example")["id"] == row("evil.example:443")["id"] == stable_id("domain", "evil.example")

    def test_differs_by_kind_and_value(self) -> None:
        """A different type or value gives a different id."""
        assert stable_id("ip", "1.2.3.4") != stable_id("domain", "1.2.3.4")
        assert stable_id("ip", "1.2.3.4") != stable_id("ip", "1.2.3.5")

    @settings(max_examples=100, deadline=None)
    @given(st.text(max_size=6), st.text())
    def test_is_63_bit_non_negative(self, kind: str, value: str) -> None:
        """Every id fits a signed 64-bit column: 0 <= id < 2**63."""
        assert 0 <= stable_id(kind, value) < 2**63


# --------------------------------------------------------------------------------------------------- build_row


class TestBuildRow:
    def test_ip_row_every_key(self) -> None:
        """An IPv4 row holds exactly the documented keys with the config's values and the sync's times."""
        built = row("192.0.2.1", line=12)
        assert set(built) == ROW_KEYS | {"p_any_ip_addresses"}
        assert built == {
            "id": stable_id("ip", "192.0.2.1"), "value": "192.0.2.1", "type": "ip", "status": "active",
            "confidence": 80, "source": "spamhaus", "feed_url": "https://www.spamhaus.org/drop/drop.txt",
            "feed_line": 12, "match": ["192.0.2.1"], "p_any_ip_addresses": ["192.0.2.1"],
            "p_event_time": PT, "p_parse_time": PT, "p_log_type": LOG_TYPE, "p_row_id": RID, "p_schema_version": 0,
        }
        assert LOG_TYPE == "Feed.Indicator"

    def test_itype_and_confidence_from_config(self) -> None:
        """A configured itype is on every row; confidence and source come from the config."""
        built = row("192.9.135.73", {"dst_port": "1194", "malware": "Pikabot"}, config=FEODO)
        assert (built["itype"], built["confidence"], built["source"]) == ("c2_ip", 95, "feodo")
        assert built["feed_url"] == "https://feodotracker.abuse.ch/downloads/ipblocklist.csv"
        assert "itype" not in row("192.9.135.73")

    def test_ipv6_row(self) -> None:
        """An IPv6 row is typed ipv6 and indexed in p_any_ip_addresses by its canonical text."""
        built = row("2001:DB8::0:1")
        assert (built["type"], built["value"], built["match"]) == ("ipv6", "2001:db8::1", ["2001:db8::1"])
        assert built["p_any_ip_addresses"] == ["2001:db8::1"]

    def test_domain_row(self) -> None:
        """A domain row is lower-cased and indexed in p_any_domain_names."""
        built = row("Evil.Example.")
        assert built["match"] == ["evil.example"] and built["p_any_domain_names"] == ["evil.example"]
        assert "p_any_ip_addresses" not in built

    def test_url_row_indexes_host_name(self) -> None:
        """A URL row matches on the URL as written and indexes its host in p_any_domain_names."""
        built = row("hxxps[:]//Bad.Example:8443/x?y=1")
        assert built["value"] == "https://Bad.Example:8443/x?y=1" and built["match"] == [built["value"]]
        assert built["p_any_domain_names"] == ["bad.example"] and "p_any_ip_addresses" not in built

    def test_url_row_with_address_host_indexes_ip(self) -> None:
        """A URLhaus URL whose host is an address indexes that address in p_any_ip_addresses."""
        built = row("http://115.55.244.160:41619/Mozi.m", {"id": "2786904", "tags": ["elf", "Mozi"]})
        assert built["p_any_ip_addresses"] == ["115.55.244.160"] and "p_any_domain_names" not in built
        assert built["orig_id"] == "2786904" and built["tags"] == ["elf", "Mozi"]

    @pytest.mark.parametrize(("text", "subtype", "field"), [
        ("0DA9B790450C4331DF8ACCBB89C6F651", "MD5", "p_any_md5_hashes"),
        ("b" * 40, "SHA1", "p_any_sha1_hashes"),
        ("C" * 64, "SHA256", "p_any_sha256_hashes"),
    ])
    def test_hash_rows(self, text: str, subtype: str, field: str) -> None:
        """A digest row is type md5 with its subtype, lower-cased, in the p_any field of its length."""
        built = row(text)
        assert (built["type"], built["subtype"]) == ("md5", subtype)
        assert built[field] == [text.lower()] == built["match"]
        assert set(built) == ROW_KEYS | {"subtype", field}

    def test_sha512_row_has_no_p_any_hash_field(self) -> None:
        """A SHA-512 digest is a row (subtype SHA512) but Panther has no p_any field for it."""
        built = row("e" * 128)
        assert built["subtype"] == "SHA512" and set(built) == ROW_KEYS | {"subtype"}

    def test_email_row(self) -> None:
        """An e-mail row is lower-cased and indexed in p_any_emails."""
        built = row("Bad[at]Evil.Example")
        assert built["value"] == "bad@evil.example" and built["p_any_emails"] == ["bad@evil.example"]

    def test_cidr_row_has_no_p_any_field(self) -> None:
        """A CIDR row matches on its canonical network and adds no p_any field."""
        built = row("10.1.2.3/8")
        assert built["match"] == ["10.0.0.0/8"] and set(built) == ROW_KEYS

    def test_port_is_kept(self) -> None:
        """An ip:port or domain:port value gives the host as value and the port as a number."""
        assert row("66.210.228.178:443")["port"] == 443
        assert row("evil.example:8080")["port"] == 8080

    def test_extra_fields_are_kept(self) -> None:
        """The feed's other fields are on the row as published."""
        built = row("1.116.160.39", {"ioc": "Possible Cobaltstrike C2 IP", "comment": "10"})
        assert built["ioc"] == "Possible Cobaltstrike C2 IP" and built["comment"] == "10"

    def test_colliding_extra_keys_are_prefixed_orig(self) -> None:
        """A feed field named like a row field (or starting p_) is kept as orig_<name>, the row's own wins."""
        extra = {name: f"feed-{name}" for name in ("id", "value", "type", "subtype", "itype", "status", "confidence",
                                                    "source", "feed_url", "feed_line", "match", "p_foo",
                                                    "p_event_time")}
        built = row("1.2.3.4", extra, config=FEODO)
        assert all(built[f"orig_{name}"] == f"feed-{name}" for name in extra)
        assert (built["id"], built["status"], built["type"], built["itype"]) == (
            stable_id("ip", "1.2.3.4"), "active", "ip", "c2_ip")
        assert built["p_event_time"] == PT and "p_foo" not in built

    def test_reject_names_the_value_quoted(self) -> None:
        """A rejected value gives the reason string, starting with the value as a Python literal."""
        assert reject("/x.php") == f"'/x.php' is {REASON}"
        assert reject("AS123").startswith("'AS123' is not an IP address")

    def test_reject_cuts_long_values_at_80_characters(self) -> None:
        """A long rejected value is shown as its first 77 characters and '...' (80 in all), quoted."""
        text = "free text " * 30
        assert reject(text) == f"{text[:77] + '...'!r} is {REASON}"
        assert reject("x y" * 26 + "zz") == f"{'x y' * 26 + 'zz'!r} is {REASON}"  # exactly 80: shown whole

    def test_reject_shows_the_text_as_published(self) -> None:
        """The reason quotes the feed's text before refanging."""
        assert reject("hxxp[:]//").startswith("'hxxp[:]//' is ")


def test_feed_config_bad_values_name_the_field() -> None:
    """make_feed_config refuses an out-of-range confidence or a bad itype, naming the field."""
    with pytest.raises(SettingError) as caught:
        make_feed_config(name="spamhaus", url="https://www.spamhaus.org/drop/drop.txt", confidence=101)
    assert caught.value.field == "confidence"
    with pytest.raises(SettingError) as caught:
        make_feed_config(name="spamhaus", url="https://www.spamhaus.org/drop/drop.txt", itype="c2 ip")
    assert caught.value.field == "itype"


_HOST = st.from_regex(r"[A-Za-z0-9_-]{1,12}(\.[A-Za-z0-9_-]{1,12}){1,3}\.?", fullmatch=True)
_INDICATORS = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses().map(lambda address: f"{address.exploded}"),
    st.tuples(st.ip_addresses(), st.integers(0, 128)).map(
        lambda pair: f"{pair[0]}/{min(pair[1], pair[0].max_prefixlen)}"),
    _HOST,
    st.tuples(_HOST, st.integers(0, 65535)).map(lambda pair: f"{pair[0]}:{pair[1]}"),
    st.emails(),
    provisional.urls(),
    st.sampled_from([32, 40, 64, 128]).flatmap(lambda n: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n)),
    st.text(max_size=60),
)


@settings(max_examples=120, deadline=None)
@given(_INDICATORS)
def test_row_match_is_canonical_value(text: str) -> None:
    """For every accepted value match == [canonical(value)] and the id is the stable id of (type, value); a
    rejected one gives the quoted reason."""
    built = build_row(text, {}, line=1, config=SPAMHAUS, parse_time=PT, row_id=RID)
    if isinstance(built, str):
        assert built.endswith(f" is {REASON}") and built.startswith(("'", '"'))
        return
    assert built["match"] == [canonical(built["value"])]
    assert built["id"] == stable_id(built["type"], built["value"])


class TestCollisionsAndReasons:
    def test_a_feed_port_column_is_kept_beside_the_parsed_port(self) -> None:
        """A `port` field of the feed is not overwritten by the port of `host:port`: it becomes `orig_port`."""
        built = row("evil.example:8443", {"port": "443"})
        assert (built["port"], built["orig_port"]) == (8443, "443")

    def test_renamed_fields_never_overwrite_each_other(self) -> None:
        """A feed holding both `id` and `orig_id` keeps both (`orig_id` and `orig_orig_id`)."""
        built = row("192.0.2.8", {"id": "7", "orig_id": "8"})
        assert {built["orig_id"], built["orig_orig_id"]} == {"7", "8"}

    def test_a_url_without_its_scheme_says_so(self) -> None:
        """Maltrail's scheme-less URLs are rejected with the reason they could never match."""
        reason = reject("tamariaclinic.com/blog/po22/")
        assert "'tamariaclinic.com/blog/po22/' is a URL without its scheme" in reason
