"""A feed provider's settings and their validation.

A feed is a file of indicators published at a URL (Spamhaus DROP, abuse.ch Feodo Tracker and URLhaus, Tor exit
lists, IPsum, Maltrail trails, STIX bundles, MISP events...), downloaded whole on every refresh. Fields: name, URL,
format (``lines``, ``csv``, ``jsonl``, ``stix`` or ``misp``), the column or key holding the indicator (csv/jsonl),
optional ``itype`` and ``confidence`` given to every row, refresh period, and an optional request header (e.g. an
API key some feeds ask for), stored encrypted like a ThreatStream token. Every check raises ``SettingError`` (a
``ConfigError`` naming the field) saying what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from threatmatch.errors import ConfigError, SettingError
from threatmatch.providers.threatstream.config import validate_name
from threatmatch.storage.secrets import Secret

KIND = "feed"
FORMATS = ("lines", "csv", "jsonl", "stix", "misp")
DEFAULT_REFRESH_MINUTES = 60
MIN_REFRESH_MINUTES = 15  # our floor: feed hosts rate-limit downloads, and most update hourly or daily
DEFAULT_CONFIDENCE = 80
MAX_FEED_BYTES = 512 * 1024 * 1024  # a download larger than this is refused (a wrong URL, not a feed)

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an HTTP token (RFC 9110)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ITYPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class FeedConfig:
    """One feed provider. The header value (if any) is only reachable through ``header_value.reveal()``."""

    name: str
    url: str
    format: str = "lines"
    column: str | None = None
    itype: str | None = None
    confidence: int = DEFAULT_CONFIDENCE
    refresh_minutes: int = DEFAULT_REFRESH_MINUTES
    header_name: str | None = None
    header_value: Secret = field(default_factory=lambda: Secret(""), repr=False)
    kind: str = KIND

    @property
    def secret(self) -> Secret:
        """What the provider store keeps encrypted (the header value; empty when there is none)."""
        return self.header_value

    def public(self) -> dict[str, Any]:
        """Everything but the header value, for display and JSON output."""
        return {"name": self.name, "kind": self.kind, "url": self.url, "format": self.format, "column": self.column,
                "itype": self.itype, "confidence": self.confidence, "refresh_minutes": self.refresh_minutes,
                "header_name": self.header_name}


def validate_url(url: str) -> str:
    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError) as exc:
        raise SettingError("url", f"--url {url!r} is not a URL; give e.g. "
                           "https://www.spamhaus.org/drop/drop.txt") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SettingError("url", f"--url {url!r} needs an http(s) scheme and a host, e.g. "
                           "https://feodotracker.abuse.ch/downloads/ipblocklist.csv")
    if parsed.userinfo:  # never echo it: it carries a credential
        raise SettingError("url", "--url must not carry credentials (user:password@); give a key the feed asks "
                           "for with --header NAME and --header-value-file / --header-value-env")
    return text


def validate_format(value: str, column: str | None) -> tuple[str, str | None]:
    fmt = value.strip().lower()
    if fmt not in FORMATS:
        raise SettingError("format", f"--format {value!r} is not one of {', '.join(FORMATS)}: lines = one "
                           "indicator per line (first word), csv = a header line then rows, jsonl = one JSON "
                           "object per line, stix = a STIX 2 bundle, misp = MISP event JSON")
    column = column.strip() if column is not None and column.strip() else None
    if fmt in ("lines", "stix", "misp") and column is not None:
        raise SettingError("column", f"--column applies to csv and jsonl feeds; a {fmt} feed "
                           + ("takes the first word of each line" if fmt == "lines" else
                              "says itself which values are indicators"))
    if fmt in ("csv", "jsonl") and column is None:
        raise SettingError("column", f"a {fmt} feed needs --column: the {'column' if fmt == 'csv' else 'key'} "
                           "holding the indicator (e.g. dst_ip for Feodo Tracker's CSV, url for URLhaus)")
    return fmt, column


def validate_refresh(minutes: int) -> int:
    if minutes < MIN_REFRESH_MINUTES:
        raise SettingError("refresh_minutes", f"--refresh-minutes {minutes} is too short for a feed: at least "
                           f"{MIN_REFRESH_MINUTES} minutes (feed publishers rate-limit downloads; most update "
                           "hourly or daily)")
    return minutes


def validate_header(name: str | None, value: str) -> str | None:
    if name is None or not name.strip():
        if value:
            raise SettingError("header_name", "a header value was given without --header NAME (e.g. --header "
                               "Auth-Key)")
        return None
    if not _HEADER_NAME.fullmatch(name.strip()):
        raise SettingError("header_name", f"--header {name!r} is not an HTTP header name: letters, digits and - "
                           "only (e.g. Auth-Key or Authorization)")
    if not value or _CONTROL.search(value):
        raise SettingError("header_value", f"the value of header {name.strip()} is empty or holds control "
                           "characters: put it in the file of --header-value-file or the variable of "
                           "--header-value-env")
    return name.strip()


def make_feed_config(*, name: str, url: str, format: str = "lines", column: str | None = None,
                     itype: str | None = None, confidence: int = DEFAULT_CONFIDENCE,
                     refresh_minutes: int = DEFAULT_REFRESH_MINUTES, header_name: str | None = None,
                     header_value: str = "") -> FeedConfig:
    """Validate every field and build the config."""
    try:
        validate_name(name)
    except ConfigError as exc:
        raise SettingError("name", str(exc)) from None
    fmt, column = validate_format(format, column)
    if itype is not None and itype.strip() and not _ITYPE.fullmatch(itype.strip()):
        raise SettingError("itype", f"--itype {itype!r}: use 1-64 letters, digits, '_', '.', ':' or '-' (e.g. c2_ip, "
                          "mal_domain, tor_ip)")
    if not 0 <= confidence <= 100:
        raise SettingError("confidence", f"--confidence {confidence} must be between 0 and 100 (given to every row, as "
                          "ThreatStream rows carry theirs: detections can read it)")
    return FeedConfig(name=name, url=validate_url(url), format=fmt, column=column,
                      itype=itype.strip() if itype and itype.strip() else None, confidence=confidence,
                      refresh_minutes=validate_refresh(refresh_minutes),
                      header_name=validate_header(header_name, header_value), header_value=Secret(header_value))
