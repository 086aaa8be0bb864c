"""The threatmatch service: one ASGI app serving the REST API, the web console, ingest and metrics.

``create_app(home)`` builds it; ``threatmatch serve`` runs it on uvicorn. The names are imported on first use,
so the service's helper processes (ingest workers, the lake writer) start without loading the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from threatmatch.server.app import create_app
    from threatmatch.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from threatmatch.server.app import create_app

        return create_app
    if name == "ServerSettings":
        from threatmatch.server.settings import ServerSettings

        return ServerSettings
    raise AttributeError(f"module 'threatmatch.server' has no attribute {name!r}")
