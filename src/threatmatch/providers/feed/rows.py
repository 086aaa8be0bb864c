"""Feed entry -> lookup-table row (pure: no I/O, no clock).

The indicator text is refanged (``hxxp://``, ``[.]``, ``(.)``, ``[:]``, ``[@]`` as published in reports) and
classified: IPv4/IPv6 address (``ip``/``ipv6``; an ``address:port`` keeps its port as ``port``), CIDR block
(``cidr``: it matches the addresses it contains, the longest prefix winning), URL (``url``), MD5/SHA-1/SHA-256/
SHA-512 digest (``md5`` with ``subtype``, as ThreatStream types hashes), e-mail address (``email``) or domain
(``domain``, also ``domain:port``). Anything else (a URL path, an AS number, free text) is rejected with the reason.

A row looks like a ThreatStream row, so detections and searches read both alike: the feed's other fields (kept as
published; a name this row uses itself is prefixed ``orig_``), then ``id`` (stable: derived from the value),
``value``, ``type`` (``subtype``), ``itype`` (when configured), ``status`` = ``active``, ``confidence``,
``source`` (the provider name), ``feed_url``, ``feed_line``, and the fields Panther adds (``match``, ``p_any_*``,
``p_event_time`` = the sync's parse time, ``p_parse_time``, ``p_log_type`` = ``Feed.Indicator``, ``p_row_id``,
``p_schema_version``). A structured format's own ``confidence``, ``modified_ts`` and ``expiration_ts`` (STIX, MISP:
``Entry.own``) replace the provider's defaults.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from threatmatch.indicators.normalize import hash_kind, normalize_cidr, normalize_domain, normalize_email
from threatmatch.providers.feed.config import FeedConfig
from threatmatch.providers.threatstream.row_fields import fast_ip, indicator_fields, url_host

LOG_TYPE = "Feed.Indicator"
SCHEMA_VERSION = 0
REASON = "not an IP address, CIDR block, domain, URL, e-mail address or MD5/SHA-1/SHA-256/SHA-512 digest"
_OWN = frozenset({"id", "value", "type", "subtype", "itype", "status", "confidence", "source", "feed_url",
                  "feed_line", "match", "modified_ts", "expiration_ts"})
_DEFANGED = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\[:\]|\[@\]|\[at\]", re.IGNORECASE)
_UNDO = {"[.]": ".", "(.)": ".", "{.}": ".", "[dot]": ".", "[:]": ":", "[@]": "@", "[at]": "@"}
_SCHEME = re.compile(r"(?i)^(?:hxxp|hXXp|h\*\*p)(s?)(\[?:\]?)//")
_PORT = re.compile(r"^(?:([^:\[\]]+)|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$")  # host:port or [IPv6]:port
_SUBTYPES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "sha512": "SHA512"}
_MAX_VALUE = 2048
_SPACE = re.compile(r"\s")


def refang(text: str) -> str:
    """``text`` with the usual defanging undone (``hxxp[:]//evil[.]com`` -> ``http://evil.com``)."""
    value = _SCHEME.sub(lambda m: f"http{m.group(1).lower()}://", text.strip())
    if "[" in value or "(" in value or "{" in value:
        value = _DEFANGED.sub(lambda m: _UNDO[m.group().lower()], value)
    return value


def _host(text: str) -> tuple[str, str] | None:
    """``(type, value)`` of a host: an IP address or a domain (no port, no path)."""
    address = fast_ip(text)
    if address is not None:
        return ("ipv6" if ":" in address else "ip"), address
    domain = normalize_domain(text)
    if domain is not None and not domain.replace(".", "").isdigit():  # 1.2.3 is no host name
        return "domain", domain
    return None


def classify(text: str) -> tuple[str, str, dict[str, Any]] | None:
    """``(type, value, extra fields)`` of an indicator text (already refanged), or None when it is none."""
    if not text or len(text) > _MAX_VALUE or _SPACE.search(text):
        return None
    address = fast_ip(text)
    if address is not None:
        return ("ipv6" if ":" in address else "ip"), address, {}
    if "://" in text:
        return ("url", text, {}) if url_host(text) else None
    if "/" in text:
        cidr = normalize_cidr(text)
        return ("cidr", cidr, {}) if cidr is not None else None
    kind = hash_kind(text)
    if kind is not None:
        return "md5", text.lower(), {"subtype": _SUBTYPES[kind]}
    if "@" in text:
        email = normalize_email(text)
        return ("email", email, {}) if email is not None and normalize_domain(email.rsplit("@", 1)[1]) else None
    port = _PORT.match(text)
    if port is not None:
        host = _host(port.group(1) or port.group(2))
        number = int(port.group(3))
        if host is None or number > 65535 or (port.group(2) is not None) != (host[0] == "ipv6"):
            return None  # [..] holds an IPv6 address and only it
        return host[0], host[1], {"port": number}
    found = _host(text)
    return (found[0], found[1], {}) if found is not None and found[0] == "domain" else None


def reason(text: str) -> str:
    """Why ``text`` (as published) is no indicator, for the rejects."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    head, slash, _ = refang(text).partition("/")
    if slash and head and _host(head.rsplit(":", 1)[0] if head.count(":") == 1 else head) is not None:
        return (f"{shown!r} is a URL without its scheme: URL values in logs carry one (http://...), so it could "
                "never match; the host alone would be a domain or IP indicator")
    return f"{shown!r} is {REASON}"


def stable_id(kind: str, value: str) -> int:
    """A 63-bit id from the indicator: the same value keeps its id across refreshes (and repeats of a value in
    one feed share it, so the store keeps one row each)."""
    return int.from_bytes(hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=8).digest(), "big") >> 1


def build_row(text: str, extra: dict[str, Any], *, line: int, config: FeedConfig, parse_time: str,
              row_id: str, own: dict[str, Any] | None = None) -> dict[str, Any] | str:
    """The lookup row of one feed entry, or the reason it is rejected. ``own``: the entry's own ``confidence``,
    ``modified_ts``, ``expiration_ts`` (structured formats), in place of the provider's defaults."""
    plain = refang(text)
    found = classify(plain)
    if found is None:
        return reason(text)
    kind, value, more = found
    row: dict[str, Any] = {}
    for key, item in extra.items():
        name = key
        while name in _OWN or name in more or name.startswith("p_") or name in row:
            name = f"orig_{name}"  # the feed's own field, kept beside the one this row sets
        row[name] = item
    row["id"] = stable_id(kind, value)
    row["value"] = value
    row["type"] = kind
    row.update(more)
    if config.itype:
        row["itype"] = config.itype
    row.update(status="active", confidence=config.confidence, source=config.name, feed_url=config.url,
               feed_line=line, match=[value])
    if own:
        row.update(own)
    row.update(indicator_fields(value, "ip" if kind == "ipv6" else kind, more.get("subtype"), None))
    row.update(p_event_time=parse_time, p_parse_time=parse_time, p_log_type=LOG_TYPE, p_row_id=row_id,
               p_schema_version=SCHEMA_VERSION)
    return row
