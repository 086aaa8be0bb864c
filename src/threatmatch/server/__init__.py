"""The threatmatch service: one ASGI app serving the REST API, the web console, ingest and metrics.

``create_app(home)`` builds it; ``threatmatch serve`` runs it on uvicorn.
"""

from __future__ import annotations

from threatmatch.server.app import create_app
from threatmatch.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
