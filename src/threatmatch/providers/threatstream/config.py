"""A ThreatStream provider's settings (Panther's form) and their validation.

Fields: name, subdomain (or a full base URL), username, API token, indicator query, refresh period.
Every check raises ``ConfigError`` saying what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from threatmatch.errors import ConfigError, QuerySyntaxError
from threatmatch.providers.threatstream.query import parse_query
from threatmatch.storage.secrets import Secret

KIND = "threatstream"
API_PATH = "/api/v2/intelligence/"
DEFAULT_SUBDOMAIN = "api"
DEFAULT_REFRESH_MINUTES = 60
MIN_REFRESH_MINUTES = 60
MAX_STABILITY_LAG_SECONDS = 86_400

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.-]{0,62}[A-Za-z0-9_.-])?")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_API_SUFFIXES = ("/api/v2/intelligence", "/api/v2", "/api")


@dataclass(frozen=True)
class ProviderConfig:
    """One ThreatStream provider. The token is only reachable through ``token.reveal()``."""

    name: str
    base_url: str
    username: str
    token: Secret = field(repr=False)
    query: str
    subdomain: str | None = None
    refresh_minutes: int = DEFAULT_REFRESH_MINUTES
    stability_lag_seconds: int = 0
    kind: str = KIND

    @property
    def secret(self) -> Secret:
        """What the provider store keeps encrypted (the API token)."""
        return self.token

    @property
    def intelligence_url(self) -> str:
        """The indicator endpoint, e.g. ``https://api.threatstream.com/api/v2/intelligence/``."""
        return self.base_url + API_PATH

    def public(self) -> dict[str, Any]:
        """Everything but the token, for display and JSON output."""
        return {"name": self.name, "kind": self.kind, "subdomain": self.subdomain, "base_url": self.base_url,
                "username": self.username, "query": self.query, "refresh_minutes": self.refresh_minutes,
                "stability_lag_seconds": self.stability_lag_seconds}


def validate_name(name: str) -> str:
    """A provider (and lookup table) name: 1-64 letters, digits, spaces, ``_ . -``; no edge spaces."""
    if not _NAME.fullmatch(name):
        raise ConfigError(f"invalid provider name {name!r}: use 1-64 letters, digits, spaces, '_', '.' or '-', "
                          "starting with a letter or digit (e.g. 'anomali' or 'Anomali ThreatStream')")
    return name


def normalize_base_url(url: str, *, option: str = "--base-url") -> str:
    """``scheme://host[:port][/prefix]`` without a trailing slash or an ``/api...`` suffix."""
    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError) as exc:
        shown = "" if "@" in text else f" {url!r}"  # may hold a credential
        raise ConfigError(f"{option}{shown} is not a URL; give e.g. https://ts.example.com") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{option} {url!r} needs an http(s) scheme and a host, e.g. https://ts.example.com")
    if parsed.userinfo:  # never echo the URL: it carries a credential
        raise ConfigError(f"{option} must not carry credentials (user:password@); the username goes in "
                          "--username and the API token in --api-token-file / --api-token-env")
    if parsed.query or parsed.fragment:
        raise ConfigError(f"{option} {url!r} must not carry a query or fragment; "
                          "give only scheme, host, port and an optional path prefix")
    path = parsed.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return str(parsed.copy_with(path=path or "/")).rstrip("/")


def base_url_for(subdomain: str) -> str:
    """Expand Panther's "Anomali subdomain": ``api`` -> ``https://api.threatstream.com``.

    A value with a scheme is a full URL; a value with a dot is a full host name (on-prem); neither gets
    ``.threatstream.com`` appended.
    """
    value = subdomain.strip()
    if "://" in value:
        return normalize_base_url(value, option="--subdomain")
    if "." in value or ":" in value:
        return normalize_base_url(f"https://{value}", option="--subdomain")
    if not _LABEL.fullmatch(value):
        raise ConfigError(f"--subdomain {subdomain!r} is not a host label: use letters, digits and '-' "
                          f"(the standard cloud value is '{DEFAULT_SUBDOMAIN}'), a host name or a full URL")
    return f"https://{value.lower()}.threatstream.com"


def validate_refresh(minutes: int) -> int:
    if minutes < MIN_REFRESH_MINUTES:
        raise ConfigError(f"--refresh-minutes {minutes} is too short: the refresh period is at least "
                          f"{MIN_REFRESH_MINUTES} minutes (Panther's minimum and default)")
    return minutes


def validate_query(query: str) -> str:
    """Check the indicator query locally with the same grammar the server uses."""
    try:
        parse_query(query)
    except QuerySyntaxError as exc:
        raise QuerySyntaxError(f"invalid --query: {exc.reason}", exc.query, exc.position) from None
    return query


def _validate_credentials(username: str, token: str) -> None:
    if not username or _CONTROL.search(username) or ":" in username:
        raise ConfigError("--username must be your ThreatStream user name (usually an e-mail address), "
                          "without spaces, control characters or ':'")
    if not token or _CONTROL.search(token):
        raise ConfigError("the API token is empty or contains spaces/control characters: copy it again from "
                          "ThreatStream (Settings > My Profile > API Key) into the token file or variable")


def make_config(*, name: str, username: str, token: str, query: str, subdomain: str | None = None,
                base_url: str | None = None, refresh_minutes: int = DEFAULT_REFRESH_MINUTES,
                stability_lag_seconds: int = 0) -> ProviderConfig:
    """Validate every field and build the config (``base_url`` overrides ``subdomain``)."""
    validate_name(name)
    if base_url:
        url = normalize_base_url(base_url)
    elif subdomain:
        url = base_url_for(subdomain)
    else:
        raise ConfigError(f"give --subdomain (the standard cloud value is '{DEFAULT_SUBDOMAIN}') "
                          "or --base-url (on-premises ThreatStream or an emulator)")
    _validate_credentials(username, token)
    if not 0 <= stability_lag_seconds <= MAX_STABILITY_LAG_SECONDS:
        raise ConfigError(f"--stability-lag {stability_lag_seconds} must be between 0 and "
                          f"{MAX_STABILITY_LAG_SECONDS} seconds")
    return ProviderConfig(name=name, base_url=url, username=username, token=Secret(token),
                          query=validate_query(query), subdomain=subdomain,
                          refresh_minutes=validate_refresh(refresh_minutes),
                          stability_lag_seconds=stability_lag_seconds)
