"""The one exception tree of threatmatch.

Every message says what went wrong, where, and how to fix it.

    ThreatmatchError
    ├── ConfigError                 bad configuration value (CLI flag, stored config, schema file)
    │   ├── QuerySyntaxError        bad ThreatStream query (carries the position)
    │   ├── SchemaError             bad log-type schema (carries the field path)
    │   └── SelectorError           bad enrichment selector
    ├── NotFoundError               unknown provider, log type, table, rule...
    ├── ProviderError               an intel source failed
    │   ├── AuthError               401/403: credentials or permissions
    │   ├── BadRequestError         400/404: our request or query was refused
    │   ├── RateLimitedError        429 that outlived the retries
    │   ├── UpstreamError           5xx / truncated or malformed response that outlived the retries
    │   └── ProviderNetworkError    cannot connect / time-out
    ├── SyncError                   a sync could not complete (the table in use is unchanged)
    ├── ParseError                  one malformed log line (goes to the rejects file)
    ├── StorageError                embedded database / data lake problem
    ├── SecretError                 encryption key missing or wrong
    └── RuleError                   a detection rule failed to load
"""

from __future__ import annotations


class ThreatmatchError(Exception):
    """Base of every error threatmatch raises on purpose."""


class ConfigError(ThreatmatchError):
    """A configuration value is invalid."""


class SettingError(ConfigError):
    """One setting of a form or command is invalid; ``field`` names it (``url``, ``column``...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class QuerySyntaxError(ConfigError):
    """A ThreatStream query does not parse. ``position`` is the 0-based character offset."""

    def __init__(self, message: str, query: str, position: int) -> None:
        self.query = query
        self.position = position
        self.reason = message
        pointer = " " * position + "^"
        super().__init__(f"{message} at position {position}:\n  {query}\n  {pointer}")


class SchemaError(ConfigError):
    """A log-type schema is invalid. ``path`` names the offending field (e.g. ``fields[3].type``)."""

    def __init__(self, message: str, path: str = "", source: str = "") -> None:
        self.path = path
        self.source = source
        where = f"{source}: " if source else ""
        at = f" at {path}" if path else ""
        super().__init__(f"{where}{message}{at}")


class SelectorError(ConfigError):
    """An enrichment selector is invalid."""


class NotFoundError(ThreatmatchError):
    """A named object does not exist."""


class ProviderError(ThreatmatchError):
    """An intel provider request failed."""


class AuthError(ProviderError):
    """The provider refused our credentials (401) or permissions (403)."""


class BadRequestError(ProviderError):
    """The provider refused the request itself (400/404)."""


class RateLimitedError(ProviderError):
    """The provider kept answering 429 after every retry."""


class UpstreamError(ProviderError):
    """The provider kept failing (5xx, truncated or malformed body) after every retry."""


class ProviderNetworkError(ProviderError):
    """The provider could not be reached (DNS, connection refused, time-out)."""


class SyncError(ThreatmatchError):
    """A sync did not complete; the previous table stays in use."""


class ParseError(ThreatmatchError):
    """One input record could not be parsed."""


class StorageError(ThreatmatchError):
    """The embedded database or data lake failed."""


class SecretError(ThreatmatchError):
    """A secret could not be encrypted or decrypted."""


class RuleError(ThreatmatchError):
    """A detection rule could not be loaded."""


class SearchError(ThreatmatchError):
    """A data-lake SQL search was refused (not read-only), failed (DuckDB error) or hit its time limit."""


def rebuild(type_name: str, message: str, fallback: type[ThreatmatchError]) -> ThreatmatchError:
    """The error another process of ours reported by class name and message, as the same class here (so
    callers still tell a ``NotFoundError`` from a ``StorageError``). An unknown name, or a class whose
    constructor wants more than a message, gives ``fallback(message)``."""
    cls = globals().get(type_name)
    if isinstance(cls, type) and issubclass(cls, ThreatmatchError):
        try:
            return cls(message)
        except TypeError:
            pass
    return fallback(message)
