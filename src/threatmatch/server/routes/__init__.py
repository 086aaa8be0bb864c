"""REST API routers, one small module per resource."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from threatmatch.server.deps import require_token
from threatmatch.server.errors import ApiError

API_PREFIX = "/api/v1"

_fallback = APIRouter(prefix=API_PREFIX, include_in_schema=False, dependencies=[Depends(require_token)])


@_fallback.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(path: str) -> None:
    """Unknown API paths answer 404 only to authenticated callers (no route discovery without a token)."""
    raise ApiError(404, "not_found", f"no API endpoint {API_PREFIX}/{path}: see /docs for the list")


def api_routers() -> list[APIRouter]:
    """Every API router, in the order the OpenAPI document lists them; the fallback comes last."""
    from threatmatch.server.routes import (
        destinations,
        enrichments,
        health,
        ingest,
        logtypes,
        lookup,
        metrics,
        providers,
        rules,
        search,
    )

    return [health.router, providers.router, enrichments.router, lookup.router, logtypes.router, ingest.router,
            search.router, rules.router, destinations.router, metrics.router, _fallback]
