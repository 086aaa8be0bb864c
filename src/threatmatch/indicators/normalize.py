"""Pure normalisation of indicator values (no I/O, no clock).

The same functions canonicalise a lookup-table ``match`` value and an event value, so that
comparison is plain equality afterwards:

* IPs by canonical address (``2001:DB8::0:1`` -> ``2001:db8::1``, ``010.1.1.1`` is rejected);
* CIDR blocks by canonical network (``10.1.2.3/8`` -> ``10.0.0.0/8``);
* domains, e-mails and hashes case-insensitively (lower-cased; a domain's trailing dot dropped
  and ``xn--`` labels decoded to Unicode, as Panther's domain scanner does);
* anything else exactly as written.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

HashKind = Literal["md5", "sha1", "sha256", "sha512"]

_HASH_LENGTHS: dict[int, HashKind] = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_SUBTYPES: dict[str, HashKind] = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_HEX = re.compile(r"[0-9a-fA-F]+")
# A host name: labels of letters/digits/hyphens/underscores (and Unicode), at least one dot, no spaces.
_DOMAIN = re.compile(r"(?:[\w-]{1,63}\.)+[\w-]{1,63}\.?", re.UNICODE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def normalize_ip(text: str) -> str | None:
    """Canonical text of an IPv4/IPv6 address, or None when ``text`` is not one.

    Brackets (``[::1]``) and surrounding spaces are accepted; zone ids are kept.
    """
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if not value or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


_CIDR_TEXT = re.compile(r"\s*[0-9A-Fa-f:./]+\s*")  # every character a network without a zone id can have


def normalize_cidr(text: str) -> str | None:
    """Canonical ``network/prefix`` text of a CIDR block (host bits cleared), or None.

    Text with a character no network can hold (file paths, fuzzy-hash digests) is refused before
    ``ipaddress``, whose failures are slow.
    """
    value = text.strip()
    if "/" not in value or ("%" not in value and not _CIDR_TEXT.fullmatch(value)):
        return None
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return None


def normalize_domain(text: str) -> str | None:
    """Lower-cased domain without trailing dot, punycode decoded; None when not a host name."""
    value = text.strip().rstrip(".").lower()
    if not value or len(value) > 253 or not _DOMAIN.fullmatch(value):
        return None
    if "xn--" in value:
        try:
            value = value.encode("ascii").decode("idna").lower()
        except (UnicodeError, ValueError):
            pass
    return value


def normalize_email(text: str) -> str | None:
    """Lower-cased e-mail address, or None when ``text`` has no single ``@`` between non-blanks."""
    value = text.strip()
    if not _EMAIL.fullmatch(value):
        return None
    return value.lower()


def hash_kind(value: str, subtype: str | None = None) -> HashKind | None:
    """Which hash algorithm ``value`` is: from ThreatStream's ``subtype`` when given, else hex length."""
    if subtype:
        kind = _SUBTYPES.get(subtype.strip().upper())
        if kind is not None:
            return kind
    value = value.strip()
    if _HEX.fullmatch(value):
        return _HASH_LENGTHS.get(len(value))
    return None


def normalize_hash(text: str) -> str | None:
    """Lower-cased hex digest of a known length (32/40/64/128), or None."""
    value = text.strip()
    if len(value) in _HASH_LENGTHS and _HEX.fullmatch(value):
        return value.lower()
    return None


def canonical(value: str) -> str:
    """Canonical form used on both sides of a comparison (table ``match`` and event value).

    IP -> canonical address; CIDR -> canonical network; hex digest -> lower case;
    e-mail or domain -> lower case (domain: trailing dot dropped, punycode decoded);
    anything else (URLs, user names, free text) unchanged.
    """
    ip = normalize_ip(value)
    return ip if ip is not None else canonical_not_ip(value)


def canonical_not_ip(value: str) -> str:
    """``canonical`` of a value already known not to be an IP address (the steps after the address one)."""
    if "://" in value:  # a URL, even one with user info (``http://User@Host/``), is kept as written
        return value
    if "/" in value:
        cidr = normalize_cidr(value)
        if cidr is not None:
            return cidr
    digest = normalize_hash(value)
    if digest is not None:
        return digest
    if "@" in value:
        return normalize_email(value) or value
    return normalize_domain(value) or value
