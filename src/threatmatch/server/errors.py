"""API errors: one JSON shape ``{"error": {"code", "message", "field"}}`` for every 4xx/5xx.

``ThreatmatchError`` subclasses raised by the library map to a status code here, so routes stay thin.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from threatmatch import errors as tm

log = logging.getLogger("threatmatch.server")


class ApiError(Exception):
    """An error answered to the client as-is."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error document."""
    return {"error": {"code": code, "message": message, "field": field}}


def _status_for(exc: tm.ThreatmatchError) -> tuple[int, str]:
    table: list[tuple[type[tm.ThreatmatchError], int, str]] = [
        (tm.QuerySyntaxError, 422, "bad_query"),
        (tm.SchemaError, 422, "bad_schema"),
        (tm.SelectorError, 422, "bad_selector"),
        (tm.ConfigError, 422, "invalid"),
        (tm.NotFoundError, 404, "not_found"),
        (tm.AuthError, 502, "provider_auth"),
        (tm.BadRequestError, 502, "provider_bad_request"),
        (tm.RateLimitedError, 502, "provider_rate_limited"),
        (tm.ProviderNetworkError, 502, "provider_unreachable"),
        (tm.ProviderError, 502, "provider_error"),
        (tm.SyncError, 502, "sync_failed"),
        (tm.ParseError, 422, "parse_error"),
        (tm.RuleError, 422, "bad_rule"),
        (tm.SearchError, 422, "bad_search"),
        (tm.SecretError, 500, "secret_error"),
        (tm.StorageError, 500, "storage_error"),
    ]
    for kind, status, code in table:
        if isinstance(exc, kind):
            return status, code
    return 500, "error"


def from_library(exc: tm.ThreatmatchError, field: str | None = None) -> ApiError:
    """Translate a library error into an ``ApiError`` (message kept verbatim: it says how to fix it)."""
    status, code = _status_for(exc)
    return ApiError(status, code, str(exc), field)


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[-1] if loc else "")


_MACHINE_PATHS = ("/api/", "/metrics", "/healthz", "/openapi.json")


def _wants_html(request: Request) -> bool:
    """Console pages answer errors with a page; the API, metrics and health always with JSON."""
    path = request.url.path
    return not path.startswith(_MACHINE_PATHS) and "text/html" in request.headers.get("accept", "")


def respond(request: Request, error: ApiError) -> Response:
    """The error as JSON, or as a console page for a browser."""
    if _wants_html(request):
        from threatmatch.server.console.render import render
        from threatmatch.server.deps import current_session

        try:
            session = current_session(request)
        except Exception:  # the error page must render even when the database is the problem
            session = None
        return render(request, "error.html", session, status=error.status, code=error.code,
                      message=error.message, field=error.field)
    return JSONResponse(error_body(error.code, error.message, error.field), status_code=error.status,
                        headers=error.headers)


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error shape."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return respond(request, exc)

    async def library_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, tm.ThreatmatchError)
        api = from_library(exc)
        if api.status >= 500:
            log.error("request failed: %s", exc)
        return respond(request, api)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = _loc_to_field(tuple(first.get("loc", ())))
        message = f"{field}: {first.get('msg', 'invalid value')}" if field else str(first.get("msg"))
        return respond(request, ApiError(422, "invalid", message, field or None))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return respond(request, ApiError(exc.status_code, code, str(exc.detail),
                                         headers=dict(getattr(exc, "headers", None) or {})))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(tm.ThreatmatchError, library_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
