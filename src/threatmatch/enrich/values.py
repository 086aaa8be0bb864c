"""Fast canonical forms for matching (pure).

``fast_canonical(value)`` returns exactly what ``threatmatch.indicators.normalize.canonical`` returns,
but decides the common shapes (dotted IPv4, lower/upper hex digests, ARNs and other colon-bearing
strings, plain words, domains) with a few C-speed string tests instead of ``ipaddress`` parsing and
exceptions. Anything it is not sure about goes to ``canonical`` itself. A property test keeps the
two equal.

``ip_int(canonical_text)`` gives ``(version, integer)`` for an IP in canonical form, for the CIDR
longest-prefix lookup.
"""

from __future__ import annotations

import socket

from threatmatch.indicators.normalize import canonical, normalize_domain, normalize_email

_DIGITS_DOT = "0123456789."
_HEX_BOTH = "0123456789abcdefABCDEF"
_HEX_COLON_DOT = "0123456789abcdefABCDEF:."
_HASH_LENGTHS = frozenset((32, 40, 64, 128))
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton


def _is_canonical_ipv4_cidr(head: str, tail: str) -> bool:
    """``head/tail`` is a dotted-quad network with host bits clear and a plain prefix length."""
    if not tail.isdigit() or not tail.isascii() or (tail[0] == "0" and tail != "0") or len(tail) > 2:
        return False
    prefix = int(tail)
    if prefix > 32 or "." not in head or head.strip(_DIGITS_DOT):
        return False
    try:
        packed = _inet_pton(_AF_INET, head)
    except OSError:
        return False
    return int.from_bytes(packed, "big") & ((1 << (32 - prefix)) - 1) == 0


def _after_at(value: str) -> str:
    email = normalize_email(value)
    return email if email is not None else value


def fast_canonical(value: str) -> str:
    """Same result as ``canonical(value)``, fast for the shapes seen in logs."""
    # The two most common shapes first; both consist only of safe characters (no spaces, no "/").
    if "." in value and not value.strip(_DIGITS_DOT):
        try:
            _inet_pton(_AF_INET, value)
        except OSError:
            return canonical(value)
        return value  # strict dotted quad is already canonical
    if len(value) in _HASH_LENGTHS and not value.strip(_HEX_BOTH):
        return value.lower()
    if not value or value[0].isspace() or value[-1].isspace() or "%" in value or "[" in value:
        return canonical(value)
    if "/" in value:
        if "://" in value:  # a URL is kept as written
            return value
        head, _, tail = value.partition("/")
        if not head.strip(_HEX_COLON_DOT):  # could be a CIDR block
            return value if _is_canonical_ipv4_cidr(head, tail) else canonical(value)
        # Not an IP, not a CIDR, not a digest, not a domain (a "/" is never part of one).
        return _after_at(value) if "@" in value else value
    if ":" in value:
        if not value.strip(_HEX_COLON_DOT):  # IPv6-looking
            return canonical(value)
        # ARNs, URLs without a path, "host:port": never an IP, digest or domain.
        return _after_at(value) if "@" in value else value
    if "@" in value:
        return _after_at(value)
    domain = normalize_domain(value)
    return domain if domain is not None else value


def ip_int(text: str) -> tuple[int, int] | None:
    """``(4, n)`` or ``(6, n)`` for a canonical IP address text, else None (zone ids included)."""
    if ":" in text:
        if text.strip(_HEX_COLON_DOT):
            return None
        try:
            return 6, int.from_bytes(_inet_pton(_AF_INET6, text), "big")
        except OSError:
            return None
    if "." in text and not text.strip(_DIGITS_DOT):
        try:
            return 4, int.from_bytes(_inet_pton(_AF_INET, text), "big")
        except OSError:
            return None
    return None
