"""``GET /metrics``: Prometheus text exposition of this service's registry."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from threatmatch.server.deps import ServiceDep, TokenDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(service: ServiceDep, _: TokenDep) -> Response:
    """Events in/enriched/matched/rejected per log type, table sizes, sync durations and failures, latencies."""
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)
