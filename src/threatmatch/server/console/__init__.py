"""The web console: server-rendered Jinja2 pages (autoescaped), plain forms with CSRF tokens."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    """All console pages."""
    from threatmatch.server.console import (
        config_pages,
        destinations,
        enrichments,
        feeds,
        investigate,
        login,
        providers,
        schemas,
    )

    combined = APIRouter(include_in_schema=False)
    for module in (login, enrichments, feeds, providers, config_pages, schemas, destinations, investigate):
        combined.include_router(module.router)
    return combined
