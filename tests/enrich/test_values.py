"""fast_canonical is an exact, faster stand-in for canonical(); ip_int parses canonical IPs."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from threatmatch.enrich.values import fast_canonical, ip_int
from threatmatch.indicators.normalize import canonical

SHAPES = [
    "1.2.3.4", "010.1.1.1", "1.2.3", "256.1.1.1", " 1.2.3.4", "1.2.3.4 ", "0.0.0.0",
    "::1", "2001:DB8::0:1", "::ffff:1.2.3.4", "fe80::1%eth0", "[::1]", "1::2::3",
    "10.1.2.3/8", "2001:db8::/32", "1.2.3.4/33", "http://evil.example.com/x", "http://User@Host/",
    "/api/v1/namespaces", "a/b@c", "arn:aws:iam::123456789012:user/alice", "arn:aws:sts::1:assumed-role/x",
    "user@EXAMPLE.com", "a@b@c", "mailto:x@y.z", "Evil.COM.", "xn--bcher-kva.example", "localhost",
    "123456789012", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "abc", "", " ", "host:8080", "AKIAI123456789EXAMPLE", "i-0abcdef1234567890", "a b.com", "dead:beef",
    "DEAD::BEEF", "1.2.3.4:443", "ünïcode.example", "café@Example.COM",
]

_alphabet = st.sampled_from(list("0123456789abcdefABCDEF.:/@%[]- _xyzXn\u00e9\t"))
_texts = st.one_of(
    st.text(alphabet=_alphabet, max_size=40),
    st.text(max_size=20),
    st.ip_addresses().map(str),
    st.ip_addresses().map(lambda ip: str(ip).upper()),
    st.builds(lambda ip, p: f"{ip}/{p}", st.ip_addresses(v=4), st.integers(0, 40)),
    st.binary(min_size=16, max_size=32).map(lambda b: b.hex().upper()),
    st.emails(),
    st.from_regex(r"[a-zA-Z0-9-]{1,10}(\.[a-zA-Z0-9-]{1,10}){1,3}\.?", fullmatch=True),
)


def test_examples_agree_with_canonical() -> None:
    """Every hand-picked shape gets the same canonical form from both functions."""
    for text in SHAPES:
        assert fast_canonical(text) == canonical(text), text


@settings(max_examples=1200, deadline=None)
@given(_texts)
def test_fast_canonical_equals_canonical(text: str) -> None:
    """For any text, fast_canonical(text) == canonical(text)."""
    assert fast_canonical(text) == canonical(text)


@settings(max_examples=500, deadline=None)
@given(_texts)
def test_canonical_is_idempotent(text: str) -> None:
    """Canonicalising twice changes nothing (so a raw exact hit on a canonical key is a true match)."""
    once = fast_canonical(text)
    assert fast_canonical(once) == once


@given(st.ip_addresses())
def test_ip_int_round_trips(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """ip_int returns the address family and integer of a canonical IP text."""
    assert ip_int(str(address)) == (address.version, int(address))


def test_ip_int_rejects_non_addresses() -> None:
    """Domains, digests, ARNs and zone-scoped addresses give None."""
    for text in ("evil.com", "d41d8cd98f00b204e9800998ecf8427e", "arn:aws:iam::1:root", "fe80::1%eth0", "1.2.3"):
        assert ip_int(text) is None


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses(v=4), st.integers(0, 32), st.sampled_from(["", "0", " "]))
def test_cidr_shapes_agree(address: ipaddress.IPv4Address, prefix: int, pad: str) -> None:
    """CIDR texts (clean, host bits set, zero-padded prefix, spaces) canonicalise like canonical()."""
    for text in (f"{address}/{pad}{prefix}", f"{ipaddress.ip_network(f'{address}/{prefix}', strict=False)}"):
        assert fast_canonical(text) == canonical(text)
