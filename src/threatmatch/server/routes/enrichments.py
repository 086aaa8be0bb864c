"""Enriched log types of a provider: list, add with selectors, change selectors, remove, enable/disable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from threatmatch.enrich.config import LogTypeSetting
from threatmatch.errors import SelectorError
from threatmatch.server.deps import ServiceDep, TokenDep
from threatmatch.server.errors import ApiError
from threatmatch.server.service import Service

router = APIRouter(prefix="/api/v1/providers", tags=["enriched log types"])


class LogTypeIn(BaseModel):
    """Enable a log type for the provider with these selectors."""

    model_config = ConfigDict(extra="forbid")
    log_type: str
    selectors: list[str] | None = Field(None, description="p_any_* fields, JSON paths ($.a.b) or field names; "
                                                          "omitted = the log type's indicator fields")


class LogTypeChange(BaseModel):
    """Change selectors and/or enable or disable."""

    model_config = ConfigDict(extra="forbid")
    selectors: list[str] | None = None
    enabled: bool | None = None


def _as_dict(setting: LogTypeSetting) -> dict[str, Any]:
    return {"log_type": setting.log_type, "enabled": setting.enabled, "selectors": list(setting.selectors),
            "customized": setting.customized}


def _setting(service: Service, provider: str, log_type: str) -> dict[str, Any]:
    for setting in service.enriched_log_types(provider, include_disabled=True):
        if setting.log_type == log_type:
            return _as_dict(setting)
    raise ApiError(404, "not_found", f"unknown log type {log_type!r}")


def apply_selectors(service: Service, provider: str, log_type: str, selectors: list[str]) -> None:
    """Validate and store selectors (422 naming ``selectors`` with the selector's problem)."""
    kind = service.engine.registry.get(log_type)
    try:
        service.enrichment_config().set_selectors(provider, kind, selectors)
    except SelectorError as exc:
        raise ApiError(422, "bad_selector", str(exc), "selectors") from None


@router.get("/{name}/logtypes", summary="Enriched log types (enabled ones unless all=true)")
def list_log_types(name: str, service: ServiceDep, _: TokenDep, all: bool = False) -> dict[str, Any]:
    service.repo().public(name)
    shown = service.enriched_log_types(name, include_disabled=all)
    return {"provider": name, "log_types": [_as_dict(s) for s in shown]}


@router.post("/{name}/logtypes", status_code=201, summary="Add (enable) a log type with selectors")
def add_log_type(name: str, body: LogTypeIn, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    service.repo().public(name)
    kind = service.engine.registry.get(body.log_type)
    if body.selectors is not None:
        apply_selectors(service, name, kind.name, body.selectors)
    else:
        service.enrichment_config().reset(name, kind.name)
    service.enrichment_config().enable(name, kind.name)
    service.settings_changed()
    return _setting(service, name, kind.name)


@router.put("/{name}/logtypes/{log_type}", summary="Change selectors or enable/disable a log type")
def change_log_type(name: str, log_type: str, body: LogTypeChange, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    service.repo().public(name)
    kind = service.engine.registry.get(log_type)
    if body.selectors is None and body.enabled is None:
        raise ApiError(422, "invalid", "give selectors and/or enabled", "selectors")
    if body.selectors is not None:
        apply_selectors(service, name, kind.name, body.selectors)
    if body.enabled is True:
        service.enrichment_config().enable(name, kind.name)
    elif body.enabled is False:
        service.enrichment_config().disable(name, kind.name)
    service.settings_changed()
    return _setting(service, name, kind.name)


@router.delete("/{name}/logtypes/{log_type}", status_code=204, summary="Remove a log type (stop enriching it)")
def remove_log_type(name: str, log_type: str, service: ServiceDep, _: TokenDep) -> Response:
    service.repo().public(name)
    kind = service.engine.registry.get(log_type)
    service.enrichment_config().disable(name, kind.name)
    service.settings_changed()
    return Response(status_code=204)
