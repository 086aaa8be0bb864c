"""``create_app(home)``: the one ASGI app (FastAPI) serving the API, the console, ingest and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import swagger_ui_bundle
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threatmatch import __version__
from threatmatch.home import Home
from threatmatch.server import console, routes
from threatmatch.server.deps import LoginRequired, require_token_or_session
from threatmatch.server.errors import install_handlers
from threatmatch.server.service import Service
from threatmatch.server.settings import ServerSettings

STATIC = Path(__file__).parent / "console" / "static"

# Swagger UI from the swagger-ui-bundle package, started by our own static script: /docs works offline and
# under the default-src 'self' policy.
API_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>threatmatch API</title>
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script></body></html>
"""
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
# Swagger UI is fetched from its CDN and bootstraps with one inline script: /docs alone gets a wider policy.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "frame-ancestors 'none'")


class SecurityHeaders:
    """Adds CSP and the usual hardening headers to every response (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_CSP if scope.get("path") == "/docs" else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", policy.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer")]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(home: Home, settings: ServerSettings | None = None, *, service: Service | None = None) -> FastAPI:
    """Build the app for ``home``. The service starts with the app (lifespan) and stops with it."""
    svc = service or Service(home, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(title="threatmatch", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="Threat-intel enrichment service. Every endpoint but /healthz needs "
                              "`Authorization: Bearer <token>` (`threatmatch tokens create NAME`).")
    # The bundled Swagger UI (4.x) reads OpenAPI 3.0 documents; nothing in our schema needs 3.1.
    app.openapi_version = "3.0.3"
    app.state.service = svc
    install_handlers(app)

    async def login_required(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    app.add_exception_handler(LoginRequired, login_required)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_token_or_session)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_token_or_session)])
    def docs() -> HTMLResponse:
        return HTMLResponse(API_DOCS_PAGE)

    for router in routes.api_routers():
        app.include_router(router)
    app.include_router(console.router())
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    return app
