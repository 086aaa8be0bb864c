"""Field-by-field validation of the Anomali provider settings (console form and API share it).

Every field is checked independently so the form can show all problems at once, each under its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from threatmatch.errors import ConfigError, QuerySyntaxError
from threatmatch.providers.threatstream.config import (
    DEFAULT_REFRESH_MINUTES,
    MIN_REFRESH_MINUTES,
    ProviderConfig,
    base_url_for,
    make_config,
    validate_name,
    validate_query,
)

#: form field -> label shown in the console (Panther's wording)
LABELS = {
    "name": "Name",
    "subdomain": "Anomali subdomain",
    "username": "Username",
    "api_token": "API Token",
    "query": "ThreatStream indicator query",
    "refresh_minutes": "Refresh period (min)",
}
QUERY_PLACEHOLDER = 'feed_id=42 and status="active"'
MAX_QUERY = 4000


@dataclass
class ProviderForm:
    """Raw form values (the token is kept apart and never echoed back)."""

    name: str = ""
    subdomain: str = ""
    username: str = ""
    query: str = ""
    refresh_minutes: str = str(DEFAULT_REFRESH_MINUTES)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> ProviderForm:
        def text(key: str, default: str = "") -> str:
            value = data.get(key)
            return default if value is None else str(value).strip()

        return cls(name=text("name"), subdomain=text("subdomain"), username=text("username"),
                   query=text("query"), refresh_minutes=text("refresh_minutes", str(DEFAULT_REFRESH_MINUTES)))


def _refresh(text: str) -> tuple[int | None, str | None]:
    try:
        minutes = int(text)
    except ValueError:
        return None, f"{LABELS['refresh_minutes']} must be a whole number of minutes, e.g. 60"
    if minutes < MIN_REFRESH_MINUTES:
        return None, (f"{LABELS['refresh_minutes']} must be at least {MIN_REFRESH_MINUTES} minutes "
                      f"(got {minutes}); the default and minimum is {MIN_REFRESH_MINUTES}")
    if minutes > 7 * 24 * 60:
        return None, f"{LABELS['refresh_minutes']} must be at most 10080 minutes (one week)"
    return minutes, None


def field_errors(form: ProviderForm, token: str, *, token_required: bool = True) -> dict[str, str]:
    """Problems by field name; empty when the settings are valid."""
    errors: dict[str, str] = {}
    if not form.name:
        errors["name"] = "Name is required: a descriptive name for this integration, e.g. 'Anomali ThreatStream'"
    else:
        try:
            validate_name(form.name)
        except ConfigError as exc:
            errors["name"] = str(exc)
    if not form.subdomain:
        errors["subdomain"] = ("Anomali subdomain is required: 'api' for the ThreatStream cloud, "
                               "or the host/URL of an on-premises ThreatStream")
    else:
        try:
            base_url_for(form.subdomain)
        except ConfigError as exc:
            errors["subdomain"] = str(exc).replace("--subdomain", LABELS["subdomain"])
    if not form.username:
        errors["username"] = "Username is required: your ThreatStream user name (usually an e-mail address)"
    elif ":" in form.username or any(ch.isspace() or ord(ch) < 32 for ch in form.username):
        errors["username"] = "Username must not contain spaces, control characters or ':'"
    if token_required and not token:
        errors["api_token"] = "API Token is required: the read-only API key from ThreatStream (My Profile > API Key)"
    elif token and any(ch.isspace() or ord(ch) < 32 for ch in token):
        errors["api_token"] = "API Token must not contain spaces or control characters: copy it again"
    if not form.query:
        errors["query"] = f"ThreatStream indicator query is required, e.g. {QUERY_PLACEHOLDER}"
    elif len(form.query) > MAX_QUERY:
        errors["query"] = f"the query is {len(form.query)} characters long; the limit is {MAX_QUERY}"
    else:
        try:
            validate_query(form.query)
        except QuerySyntaxError as exc:
            errors["query"] = f"{exc.reason} at position {exc.position}"
    _, refresh_error = _refresh(form.refresh_minutes)
    if refresh_error:
        errors["refresh_minutes"] = refresh_error
    return errors


def build_config(form: ProviderForm, token: str) -> ProviderConfig:
    """The validated config; call after ``field_errors`` returned nothing."""
    minutes, _ = _refresh(form.refresh_minutes)
    return make_config(name=form.name, username=form.username, token=token, query=form.query,
                       subdomain=form.subdomain, refresh_minutes=minutes or DEFAULT_REFRESH_MINUTES)
