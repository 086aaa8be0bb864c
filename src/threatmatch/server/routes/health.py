"""``GET /healthz``: liveness and readiness, the only endpoint without authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from threatmatch import __version__
from threatmatch.server.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and readiness (no authentication)")
def healthz(service: ServiceDep) -> JSONResponse:
    """200 when the database answers; 503 with the reason otherwise. Reveals no data."""
    body: dict[str, Any] = {"status": "ok", "version": __version__}
    try:
        service.db().execute("SELECT 1").fetchone()
    except Exception as exc:  # any database failure means "not ready"
        body.update(status="unavailable", reason=f"database: {type(exc).__name__}")
        return JSONResponse(body, status_code=503)
    body["components"] = service.components()
    writer = service.lake_writer_alive()
    body["lake_writer"] = "starting" if writer is None else ("running" if writer else "stopped")
    workers = service.ingest_workers()
    if workers is not None:
        running, configured = workers
        body["ingest_workers"] = {"running": running, "configured": configured}
        if configured and not running:
            body.update(status="unavailable", reason="no ingest worker is running (replacements are starting)")
            return JSONResponse(body, status_code=503)
    if writer is False:
        body.update(status="unavailable", reason="the lake writer process has stopped: events cannot be stored")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
