"""The fields a lookup row derives from an indicator: ``match``, ``p_any_*`` and ``p_event_time`` (pure).

``fast_canonical``/``fast_ip`` equal ``threatmatch.indicators.normalize.canonical``/``normalize_ip`` on every
input (property tests), with shortcuts for the common indicator shapes. ``added_json`` gives the same fields
as ``indicator_fields`` plus ``match``, already as JSON member text, for rows spliced from the API's bytes.
"""

from __future__ import annotations

import re
from json.encoder import encode_basestring
from socket import AF_INET6, inet_ntop, inet_pton
from typing import Any

from threatmatch.indicators.normalize import (
    canonical_not_ip,
    hash_kind,
    normalize_domain,
    normalize_email,
    normalize_hash,
    normalize_ip,
)
from threatmatch.timefmt import iso_to_panther

_HASH_FIELDS = {"md5": "p_any_md5_hashes", "sha1": "p_any_sha1_hashes", "sha256": "p_any_sha256_hashes"}
_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


def event_time(modified_ts: Any, parse_time: str) -> str:
    """``modified_ts`` as Panther text (``YYYY-MM-DD HH:MM:SS.fff`` UTC); ``parse_time`` when absent or unparsable."""
    if isinstance(modified_ts, str):
        text = modified_ts
        # Fast path for the API's own shape: 2023-08-11T10:35:52.302Z
        if len(text) == 24 and text[10] == "T" and text[23] == "Z" and text[19] == ".":
            return f"{text[:10]} {text[11:23]}"
        converted = iso_to_panther(text)
        if converted is not None:
            return converted
    return parse_time


_HOST_PART = re.compile(r"[^/?#\\]*")  # up to the first "/", "?", "#" or backslash


def url_host(url: str) -> str | None:
    """The host part of a URL (``http://user@[::1]:8080/x`` -> ``::1``), scheme optional; None when empty."""
    rest = url.strip()
    scheme = rest.find("://")
    if scheme >= 0:
        rest = rest[scheme + 3:]
    rest = _HOST_PART.match(rest).group()  # type: ignore[union-attr]  # always matches (may be empty)
    at = rest.rfind("@")
    if at >= 0:
        rest = rest[at + 1:]
    if rest.startswith("["):
        end = rest.find("]")
        return rest[1:end] or None if end > 0 else None
    if rest.count(":") == 1:
        rest = rest.split(":", 1)[0]
    return rest or None


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IPV6_TEXT = re.compile(r"[0-9A-Fa-f:.]+")  # every character an IPv6 address without a zone id can have


def fast_ip(text: str) -> str | None:
    """``normalize_ip`` with shortcuts: canonical dotted-quad text is returned as is, IPv6 text is checked by the
    C library (``inet_pton``/``inet_ntop``, whose text equals ``ipaddress``'s when it holds no dotted part)."""
    if _IPV4.fullmatch(text):
        return text
    if "/" in text:  # URLs and CIDR blocks: ipaddress rejects any "/" in an address
        return None
    if ":" not in text and "[" not in text and not (text and (text[0].isspace() or text[-1].isspace())):
        return None  # no colon, no bracket, not a canonical dotted quad: normalize_ip refuses it too
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if "%" in value or len(value) > 64:  # a zone id, or too long: the reference decides
        return normalize_ip(text)
    if not _IPV6_TEXT.fullmatch(value):
        return None  # a character no address has (ipaddress refuses it too)
    try:
        packed = inet_pton(AF_INET6, value)
    except OSError:
        return normalize_ip(text)  # not IPv6 (a spaced IPv4 address, or nothing): the reference decides
    address = inet_ntop(AF_INET6, packed)
    return address if "." not in address else normalize_ip(text)  # mapped/compatible forms print differently


def fast_canonical(value: str) -> str:
    """``canonical`` with shortcuts for the common indicator shapes (equal results, see the property tests)."""
    address = fast_ip(value)
    return address if address is not None else canonical_not_ip(value)


def _hash_field(value: str, subtype: Any) -> tuple[str, str] | None:
    digest = normalize_hash(value)
    if digest is None:
        return None
    kind = hash_kind(digest, subtype if isinstance(subtype, str) else None)
    if kind is None or _HASH_LENGTHS[kind] != len(digest):  # a subtype contradicting the length is ignored
        kind = hash_kind(digest)
    field = _HASH_FIELDS.get(kind or "")
    return (field, digest) if field else None


def indicator_fields(value: str, kind: Any, subtype: Any, ip: Any) -> dict[str, list[str]]:
    """The ``p_any_*`` fields of one indicator, by its ThreatStream ``type``."""
    ips: list[str] = []
    domains: list[str] = []
    found: dict[str, list[str]] = {}
    if kind in ("ip", "ipv6"):
        address = fast_ip(value)
        if address is not None:
            ips.append(address)
    elif kind == "domain":
        domain = normalize_domain(value)
        if domain is not None:
            domains.append(domain)
    elif kind == "url":
        host = url_host(value)
        if host is not None:
            address = fast_ip(host)
            if address is not None:
                ips.append(address)
            else:
                domain = normalize_domain(host)
                if domain is not None:
                    domains.append(domain)
    elif kind == "email":
        email = normalize_email(value)
        if email is not None:
            found["p_any_emails"] = [email]
    elif kind == "md5":
        hashed = _hash_field(value, None)
        if hashed is not None:
            found[hashed[0]] = [hashed[1]]
    if isinstance(ip, str) and ip and kind in ("ip", "ipv6", "domain", "url") and not (ips and ip == value):
        address = fast_ip(ip)
        if address is not None and address not in ips:
            ips.append(address)
    out: dict[str, list[str]] = {}
    if ips:
        out["p_any_ip_addresses"] = sorted(ips)
    if domains:
        out["p_any_domain_names"] = domains
    out.update(found)
    return out


def _member(field: str, value: str) -> str:
    return f',"{field}":[{encode_basestring(value)}]'


_DIGEST = re.compile(r"[0-9a-fA-F]{32}(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{32}(?:[0-9a-fA-F]{64})?)?")  # 32/40/64/128 hex
# The p_any field of a digest depends on its length only: a subtype naming another length is ignored.
_DIGEST_FIELDS = {32: "p_any_md5_hashes", 40: "p_any_sha1_hashes", 64: "p_any_sha256_hashes"}
_ADDRESS_KINDS = frozenset({"ip", "ipv6", "domain", "url"})


def added_json(value: str, kind: Any, ip: Any) -> tuple[str, str]:
    """``(match value, JSON member text)``: ``"match":[...]`` and the ``p_any_*`` members, in the order
    ``build_row`` writes them, with the content of ``fast_canonical`` + ``indicator_fields``.

    A hash's field depends on its length only (``_hash_field`` ignores a ``subtype`` naming another length), so
    ``subtype`` is not needed. Work is shared between the two (the value is parsed as an address or a digest
    once); strings are escaped
    by ``json.encoder.encode_basestring`` (C), which leaves non-ASCII text as is (the row is UTF-8 JSON).
    """
    if kind == "ip" and (ip is None or ip == value) and _IPV4.fullmatch(value):  # the common case, in one step
        return value, f'"match":["{value}"],"p_any_ip_addresses":["{value}"]'  # a dotted quad needs no escaping
    rest = ""
    ips: list[str] = []
    if kind == "md5" and _DIGEST.fullmatch(value):  # hex only: neither an address, URL, CIDR, e-mail nor domain
        match = value.lower()
        field = _DIGEST_FIELDS.get(len(value))
        quoted = encode_basestring(match)
        return match, f'"match":[{quoted}],"{field}":[{quoted}]' if field else f'"match":[{quoted}]'
    address = fast_ip(value)
    if kind == "domain" and address is None and "/" not in value and "@" not in value:
        domain = normalize_domain(value)  # canonical() of such a value: a digest, else this domain, else as is
        match = normalize_hash(value) or domain or value
        if domain is not None:
            rest = _member("p_any_domain_names", domain)
    else:
        match = address if address is not None else canonical_not_ip(value)
    if kind == "ip" or kind == "ipv6":
        if address is not None:
            ips.append(address)
    elif kind == "url":
        host = url_host(value)
        if host is not None:
            host_address = fast_ip(host)
            if host_address is not None:
                ips.append(host_address)
            else:
                domain = normalize_domain(host)
                if domain is not None:
                    rest = _member("p_any_domain_names", domain)
    elif kind == "domain":
        if address is not None or "/" in value or "@" in value:
            domain = normalize_domain(value)
            if domain is not None:
                rest = _member("p_any_domain_names", domain)
    elif kind == "email":
        email = normalize_email(value)
        if email is not None:
            rest = _member("p_any_emails", email)
    elif kind == "md5":
        hashed = _hash_field(value, None)
        if hashed is not None:
            rest = _member(hashed[0], hashed[1])
    if type(ip) is str and ip and kind in _ADDRESS_KINDS and not (ips and ip == value):
        other = fast_ip(ip)
        if other is not None and other not in ips:
            ips.append(other)
    quoted = encode_basestring(match)
    if not ips:
        return match, f'"match":[{quoted}]{rest}'
    if len(ips) == 1 and ips[0] == match:  # an address indicator: the list holds the match value
        return match, f'"match":[{quoted}],"p_any_ip_addresses":[{quoted}]{rest}'
    ips.sort()
    return match, f'"match":[{quoted}],"p_any_ip_addresses":[{",".join(map(encode_basestring, ips))}]{rest}'
