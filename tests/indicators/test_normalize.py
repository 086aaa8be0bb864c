"""Property tests of the pure indicator normaliser: canonical forms are stable and agree with ipaddress."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from threatmatch.indicators.normalize import (
    canonical,
    hash_kind,
    normalize_cidr,
    normalize_domain,
    normalize_email,
    normalize_hash,
    normalize_ip,
)

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_ips = st.ip_addresses()
_hex = st.sampled_from([32, 40, 64, 128]).flatmap(lambda n: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n))
_domains = st.from_regex(r"[A-Za-z0-9-]{1,12}(\.[A-Za-z0-9-]{1,12}){1,3}\.?", fullmatch=True)
_urls = st.from_regex(r"https?://([A-Za-z]{1,8}@)?[A-Za-z0-9.-]{1,20}(:[0-9]{1,5})?(/[A-Za-z0-9/]{0,10})?",
                      fullmatch=True)
_anything = st.one_of(_text, _ips.map(str), _hex, _domains, _urls, st.emails(),
                      _ips.map(lambda a: f"{a}/{a.max_prefixlen // 2}"))


@settings(max_examples=250, deadline=None)
@given(_anything)
def test_canonical_is_idempotent(value: str) -> None:
    """Canonicalising a canonical value changes nothing."""
    once = canonical(value)
    assert canonical(once) == once


@settings(max_examples=150, deadline=None)
@given(_ips)
def test_ip_canonical_agrees_with_ipaddress(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Any spelling of an address (exploded, upper case, bracketed) canonicalises to ipaddress's text."""
    expected = str(address)
    for spelling in (expected, address.exploded, address.exploded.upper(), f"[{address}]", f" {address} "):
        assert normalize_ip(spelling) == expected
        assert canonical(spelling) == expected


@settings(max_examples=150, deadline=None)
@given(_hex)
def test_hashes_are_lower_cased_and_kinds_follow_length(digest: str) -> None:
    """Hex digests of known lengths lower-case, and their kind follows the length."""
    assert normalize_hash(digest) == canonical(digest) == digest.lower()
    assert hash_kind(digest) == {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}[len(digest)]


@settings(max_examples=150, deadline=None)
@given(_domains)
def test_domains_fold_case_and_trailing_dot(domain: str) -> None:
    """A domain and its upper-case, trailing-dot spelling canonicalise alike (unless it is really an address)."""
    if normalize_ip(domain.rstrip(".")) is None and normalize_hash(domain) is None:
        assert canonical(domain.upper() + ("" if domain.endswith(".") else ".")) == canonical(domain)
        assert normalize_domain(domain) == domain.rstrip(".").lower()


@settings(max_examples=150, deadline=None)
@given(st.emails())
def test_emails_are_lower_cased(email: str) -> None:
    """E-mail addresses compare case-insensitively."""
    assert normalize_email(email.upper()) == normalize_email(email) == email.lower()


@settings(max_examples=150, deadline=None)
@given(_urls)
def test_urls_are_kept_as_written(url: str) -> None:
    """URLs (even with user info, which looks like an e-mail) are not altered."""
    assert canonical(url) == url


@settings(max_examples=150, deadline=None)
@given(_ips, st.integers(0, 128))
def test_cidr_canonical_clears_host_bits(address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> None:
    """A CIDR block canonicalises to ipaddress's network with host bits cleared."""
    prefix = min(prefix, address.max_prefixlen)
    expected = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    assert normalize_cidr(f"{address}/{prefix}") == canonical(f"{address}/{prefix}") == expected


@settings(max_examples=250, deadline=None)
@given(_text)
def test_normalisers_never_raise(value: str) -> None:
    """Attacker-controlled text never makes a normaliser raise."""
    for function in (normalize_ip, normalize_cidr, normalize_domain, normalize_email, normalize_hash, canonical):
        function(value)
    hash_kind(value, value)
