"""The kinds of provider this version knows, and their stored settings read back into configs.

``threatstream`` (Anomali ThreatStream's API) and ``feed`` (a file of indicators at a URL). The provider store
keeps each provider's public settings as JSON and its secret (ThreatStream API token, feed header value)
encrypted; ``config_from_settings`` rebuilds the typed config from both.
"""

from __future__ import annotations

from typing import Any

from threatmatch.errors import ConfigError
from threatmatch.providers.feed.config import KIND as FEED
from threatmatch.providers.feed.config import FeedConfig
from threatmatch.providers.threatstream.config import KIND as THREATSTREAM
from threatmatch.providers.threatstream.config import ProviderConfig
from threatmatch.storage.secrets import Secret

AnyConfig = ProviderConfig | FeedConfig
KINDS = (THREATSTREAM, FEED)


def config_from_settings(name: str, kind: str, settings: dict[str, Any], secret: str) -> AnyConfig:
    """The config of a stored provider (``ConfigError`` for a kind this version does not know)."""
    if kind == THREATSTREAM:
        return ProviderConfig(name=name, base_url=settings["base_url"], username=settings["username"],
                              token=Secret(secret), query=settings["query"], subdomain=settings.get("subdomain"),
                              refresh_minutes=int(settings["refresh_minutes"]),
                              stability_lag_seconds=int(settings.get("stability_lag_seconds", 0)))
    if kind == FEED:
        return FeedConfig(name=name, url=settings["url"], format=settings["format"], column=settings.get("column"),
                          itype=settings.get("itype"), confidence=int(settings["confidence"]),
                          refresh_minutes=int(settings["refresh_minutes"]), header_name=settings.get("header_name"),
                          header_value=Secret(secret))
    raise ConfigError(f"provider {name!r} has kind {kind!r}, which this version does not support "
                      f"(known: {', '.join(KINDS)})")
