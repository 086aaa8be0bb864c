"""The console's Alert destinations page: webhooks new alerts are sent to (add, test, remove)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from threatmatch.errors import ConfigError, NotFoundError
from threatmatch.server.auth import CSRF_FIELD, check_csrf
from threatmatch.server.console.render import redirect, render
from threatmatch.server.deps import ServiceDep, SessionDep
from threatmatch.server.routes.destinations import test_result
from threatmatch.storage.destinations_repo import SEVERITIES

router = APIRouter()


@router.get("/destinations")
def destinations_page(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    return render(request, "destinations.html", session, destinations=service.destinations().list(),
                  severities=SEVERITIES)


@router.post("/destinations")
async def change_destinations(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    """``action``: ``add`` (the form's fields), ``test`` or ``remove`` (``name``)."""
    form = await request.form()
    check_csrf(session, str(form.get(CSRF_FIELD) or ""))
    action, name = str(form.get("action") or ""), str(form.get("name") or "").strip()
    try:
        if action == "test":
            outcome = await run_in_threadpool(test_result, service, name)
            kind = "ok" if outcome["sent"] else "error"
            return redirect(request, "/destinations", f"Test alert to {name}: {outcome['message']}.", kind=kind)
        if action == "remove":
            service.destinations().remove(name)
            return redirect(request, "/destinations", f"Removed destination {name}.")
        header_name = str(form.get("header_name") or "").strip() or None
        header_value = str(form.get("header_value") or "") or None
        service.destinations().add(name, str(form.get("url") or "").strip(),
                                   min_severity=str(form.get("min_severity") or "INFO"), header_name=header_name,
                                   header_value=header_value if header_name else None, now=datetime.now(UTC))
    except (ConfigError, NotFoundError) as exc:
        return redirect(request, "/destinations", f"Not saved: {exc}", kind="error")
    return redirect(request, "/destinations", f"Added destination {name}: new alerts are sent to it.")
