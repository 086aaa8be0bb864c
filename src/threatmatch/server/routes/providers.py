"""Providers: CRUD (token and feed header value write-only), connection test, sync now, status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from threatmatch.errors import ProviderError, SettingError
from threatmatch.providers.feed.config import DEFAULT_CONFIDENCE, DEFAULT_REFRESH_MINUTES, FeedConfig, make_feed_config
from threatmatch.providers.kinds import AnyConfig
from threatmatch.server import providers_view
from threatmatch.server.deps import ServiceDep, TokenDep
from threatmatch.server.errors import ApiError, from_library
from threatmatch.server.forms import ProviderForm, build_config, field_errors
from threatmatch.server.service import Service

router = APIRouter(prefix="/api/v1/providers", tags=["providers"])

ORDER = ("name", "subdomain", "username", "api_token", "query", "refresh_minutes")


class ProviderIn(BaseModel):
    """An Anomali ThreatStream provider (the console's Setup form)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Descriptive name; also the p_enrichment key and the lookup table name")
    subdomain: str = Field(description="'api' for the ThreatStream cloud, or an on-premises host or URL")
    username: str = Field(description="ThreatStream user name (usually an e-mail address)")
    api_token: str = Field(description="ThreatStream API key (write-only: never returned)")
    query: str = Field(description='ThreatStream indicator query, e.g. feed_id=42 and status="active"')
    refresh_minutes: int = Field(60, description="Refresh period in minutes (minimum and default 60)")


class FeedIn(BaseModel):
    """A feed provider: a file of indicators at a URL, downloaded whole on every refresh."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="Descriptive name; also the p_enrichment key and the lookup table name")
    url: str = Field(description="http(s) URL of the feed, e.g. https://www.spamhaus.org/drop/drop.txt")
    format: str = Field("lines", description="lines (one indicator per line), csv (header line), jsonl, stix (a "
                        "STIX 2 bundle) or misp (MISP event JSON)")
    column: str | None = Field(None, description="csv/jsonl: the column or key holding the indicator")
    itype: str | None = Field(None, description="Given to every row as itype, e.g. c2_ip")
    confidence: int = Field(DEFAULT_CONFIDENCE, description="Given to every row as confidence (0-100)")
    refresh_minutes: int = Field(DEFAULT_REFRESH_MINUTES, description="Refresh period in minutes (minimum 15, "
                                 "default 60)")
    header_name: str | None = Field(None, description="A request header the feed needs, e.g. Auth-Key")
    header_value: str | None = Field(None, description="Its value (write-only: stored encrypted, never returned)")


class ProviderPatch(BaseModel):
    """Fields to change; omitted fields (and an omitted token or header value) keep their stored values; an empty
    text clears an optional feed field (``column``, ``itype``, ``header_name`` with ``header_value``).
    ThreatStream providers take the first five, feeds the rest (and ``refresh_minutes``)."""

    model_config = ConfigDict(extra="forbid")
    subdomain: str | None = None
    username: str | None = None
    api_token: str | None = None
    query: str | None = None
    refresh_minutes: int | None = None
    url: str | None = None
    format: str | None = None
    column: str | None = None
    itype: str | None = None
    confidence: int | None = None
    header_name: str | None = None
    header_value: str | None = None


_THREATSTREAM_ONLY = ("subdomain", "username", "api_token", "query")
_FEED_ONLY = ("url", "format", "column", "itype", "confidence", "header_name", "header_value")


class ConnectionTest(BaseModel):
    """Settings to try before saving (name optional)."""

    model_config = ConfigDict(extra="forbid")
    name: str = "connection-test"
    subdomain: str
    username: str
    api_token: str
    query: str
    refresh_minutes: int = 60


def _validated(values: dict[str, Any], token: str) -> Any:
    form = ProviderForm.from_mapping({k: v for k, v in values.items() if k != "api_token"})
    errors = field_errors(form, token)
    for field in ORDER:
        if field in errors:
            raise ApiError(422, "invalid", errors[field], field)
    return build_config(form, token)


def _feed(values: dict[str, Any]) -> FeedConfig:
    try:
        return make_feed_config(name=values["name"], url=values["url"], format=values.get("format") or "lines",
                                column=values.get("column"), itype=values.get("itype"),
                                confidence=values.get("confidence", DEFAULT_CONFIDENCE),
                                refresh_minutes=values.get("refresh_minutes", DEFAULT_REFRESH_MINUTES),
                                header_name=values.get("header_name"), header_value=values.get("header_value") or "")
    except SettingError as exc:
        raise ApiError(422, "invalid", str(exc), exc.field) from None


def _create(service: Service, config: AnyConfig) -> dict[str, Any]:
    """Store a new provider of either kind (409 when the name is taken) and start using it."""
    if config.name in service.repo().names():
        raise ApiError(409, "exists", f"a provider named {config.name!r} already exists: PATCH it or pick "
                       "another name", "name")
    service.repo().add(config)
    service.provider_added(config.name)
    return providers_view.provider(service, config.name)


@router.get("", summary="List providers")
def list_providers(service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    return {"providers": [providers_view.provider(service, name) for name in service.repo().names()]}


@router.post("", status_code=201, summary="Create a provider")
def create_provider(body: ProviderIn, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """Stores the settings (token encrypted); enabled for every log type with default selectors."""
    return _create(service, _validated(body.model_dump(), body.api_token))


@router.post("/feeds", status_code=201, summary="Create a feed provider")
def create_feed(body: FeedIn, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """Stores the settings (header value encrypted); enabled for every log type with default selectors."""
    return _create(service, _feed(body.model_dump()))


@router.post("/feeds/test", summary="Download a feed with unsaved settings (nothing is stored)")
def test_feed_settings(body: FeedIn, _: TokenDep) -> dict[str, Any]:
    try:
        return providers_view.test_feed(_feed(body.model_dump()))
    except ProviderError as exc:
        raise from_library(exc) from None


@router.post("/test", summary="Test connection with unsaved settings")
def test_settings(body: ConnectionTest, _: TokenDep) -> dict[str, Any]:
    config = _validated(body.model_dump(), body.api_token)
    try:
        return providers_view.test_connection(config)
    except ProviderError as exc:
        raise from_library(exc) from None


@router.get("/{name}", summary="Get a provider (the token is never returned)")
def get_provider(name: str, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    return providers_view.provider(service, name)


@router.patch("/{name}", summary="Change a provider's settings")
def patch_provider(name: str, body: ProviderPatch, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    current = service.repo().get(name)
    changes = body.model_dump(exclude_none=True)
    other = _THREATSTREAM_ONLY if isinstance(current, FeedConfig) else _FEED_ONLY
    for field in other:
        if field in changes:
            raise ApiError(422, "invalid", f"{field} does not apply to provider {name!r}, which is a "
                           f"{current.kind} provider", field)
    merged = {**current.public(), "name": name, **changes}
    config: AnyConfig
    if isinstance(current, FeedConfig):
        merged.setdefault("header_value", current.header_value.reveal())
        config = _feed(merged)
    else:
        if merged.get("subdomain") is None:
            merged["subdomain"] = current.base_url
        config = _validated(merged, changes.get("api_token") or current.token.reveal())
    service.repo().add(config, replace=True)
    return providers_view.provider(service, name)


@router.delete("/{name}", status_code=204, summary="Delete a provider and its lookup table")
def delete_provider(name: str, service: ServiceDep, _: TokenDep) -> Response:
    service.repo().remove(name)
    service.provider_removed(name)
    return Response(status_code=204)


@router.post("/{name}/test", summary="Test the stored connection settings")
def test_provider(name: str, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    config = service.repo().get(name)
    try:
        return providers_view.test_connection(config)
    except ProviderError as exc:
        raise from_library(exc) from None


@router.post("/{name}/sync", summary="Refresh the provider now")
def sync_provider(name: str, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """Runs a full refresh and answers when it is done; the previous table stays in use on failure (502)."""
    result = service.sync(name)
    data: dict[str, Any] = result.to_dict()
    data["status"] = providers_view.status(service, name)
    return data


@router.get("/{name}/status", summary="Provider status")
def provider_status(name: str, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """Last success, last error, indicator counts by type/status, live rows, next refresh."""
    return {"name": name, **providers_view.status(service, name)}
