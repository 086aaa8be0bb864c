"""Configure → Enrichments: the provider list (Panther's "Enrichment Providers" page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threatmatch.server import parts, providers_view
from threatmatch.server.console.render import render
from threatmatch.server.deps import ServiceDep, SessionDep

router = APIRouter()


@router.get("/enrichments")
def enrichments(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    if not parts.has("providers"):
        return render(request, "enrichments.html", session, providers=[],
                      missing=f"The provider store is not installed (module {parts.PARTS['providers']}).")
    return render(request, "enrichments.html", session, providers=providers_view.summaries(service), missing=None)
