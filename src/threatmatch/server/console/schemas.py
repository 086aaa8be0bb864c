"""The console's log type pages: one log type's fields, and a new custom log type (paste a schema, try it on sample
lines, save it: Panther's schema editor)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from threatmatch.errors import ConfigError
from threatmatch.logtypes.describe import field_rows
from threatmatch.server.auth import CSRF_FIELD, check_csrf
from threatmatch.server.console.render import redirect, render
from threatmatch.server.deps import ServiceDep, SessionDep
from threatmatch.server.errors import ApiError
from threatmatch.server.routes.logtypes import SchemaTrial, add_schema, alarm_of, trial_of
from threatmatch.storage.alarms_repo import AlarmRepo

router = APIRouter()

EXAMPLE = """schema: Custom.Firewall
parser:
  fastmatch:
    match: ['%{time} %{action} src=%{src} dst=%{dst}']
fields:
  - {name: time, type: timestamp, timeFormat: rfc3339, isEventTime: true}
  - {name: action, type: string, validate: {allow: [DROP, ACCEPT]}}
  - {name: src, type: string, indicators: [ip]}
  - {name: dst, type: string, indicators: [ip]}
"""
SHOWN_EVENTS = 20


def _page(request: Request, session: Any, schema: str, sample: str, *, trial: dict[str, Any] | None = None,
          error: str | None = None, status: int = 200) -> Response:
    return render(request, "logtype_new.html", session, status=status, schema=schema, sample=sample, trial=trial,
                  error=error, example=EXAMPLE, shown_events=SHOWN_EVENTS)


@router.get("/logtypes/new")
def new_log_type(request: Request, session: SessionDep, _: ServiceDep) -> Response:
    return _page(request, session, "", "")


@router.post("/logtypes/new")
async def try_or_save(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    """``action=test``: show what the schema makes of the sample lines (nothing saved); ``action=save``: add it."""
    form = await request.form()
    check_csrf(session, str(form.get(CSRF_FIELD) or ""))
    schema, sample = str(form.get("schema") or ""), str(form.get("sample") or "")
    if not schema.strip():
        return _page(request, session, schema, sample, error="Paste a schema first (YAML or JSON).", status=422)
    try:
        if form.get("action") == "save":
            added = await run_in_threadpool(add_schema, service, schema.encode())
            return redirect(request, "/logtypes", f"Added log type {added['name']}: send its lines to "
                            f"POST /api/v1/ingest/{added['name']}.")
        trial = await run_in_threadpool(trial_of, SchemaTrial(schema=schema, lines=sample))
    except ApiError as exc:
        return _page(request, session, schema, sample, error=exc.message, status=422)
    return _page(request, session, schema, sample, trial=trial)


@router.get("/logtypes/{name}")
def log_type_page(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    """One log type: input format, default selectors, fields (type, indicators, required, validate...), warnings."""
    kind = service.engine.registry.get(name)
    return render(request, "logtype.html", session, kind=kind, fields=field_rows(kind.schema.fields),
                  alarm=alarm_of(service, kind.name))


@router.post("/logtypes/{name}/alarm")
async def save_alarm(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    """Set the drop-off alarm (minutes), or remove it (empty)."""
    form = await request.form()
    check_csrf(session, str(form.get(CSRF_FIELD) or ""))
    kind = service.engine.registry.get(name)
    text = str(form.get("minutes") or "").strip()
    url = f"/logtypes/{quote(kind.name)}"
    repo = AlarmRepo(service.db())
    if not text:
        repo.remove(kind.name)
        return redirect(request, url, f"Removed the drop-off alarm of {kind.name}.")
    minutes: Any = int(text) if text.isdigit() else text  # set() refuses anything but a whole number in range
    try:
        repo.set(kind.name, minutes, datetime.now(UTC))
    except ConfigError as exc:
        return redirect(request, url, f"Not saved: {exc}.", kind="error")
    return redirect(request, url, f"{kind.name} alarms after {minutes} minutes without an event.")
