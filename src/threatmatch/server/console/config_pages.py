"""Provider sub-pages: the Enriched Log Types editor and "View stored data" (the lookup table browser)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threatmatch.enrich.selectors import parse_selectors
from threatmatch.errors import SelectorError
from threatmatch.server.auth import CSRF_FIELD, check_csrf
from threatmatch.server.console.providers import _provider_url
from threatmatch.server.console.render import redirect, render
from threatmatch.server.deps import ServiceDep, SessionDep
from threatmatch.server.errors import ApiError
from threatmatch.server.routes.lookup import STATUSES, page_of_rows, row_filters
from threatmatch.server.service import Service

router = APIRouter()
PAGE = 50


def _rows(service: Service, name: str, added: list[str], chosen: dict[str, list[str]] | None = None,
          order: list[str] | None = None) -> list[dict[str, Any]]:
    """Editor rows: enabled log types (or ``order`` after a failed save) plus pending additions."""
    registry = service.engine.registry
    every = {s.log_type: s for s in service.enriched_log_types(name, include_disabled=True)}
    names = order if order is not None else [n for n, s in every.items() if s.enabled]
    names = names + [a for a in added if a in every and a not in names]
    rows = []
    for log_type in names:
        kind = registry.get(log_type)
        selected = chosen.get(log_type, []) if chosen is not None else list(every[log_type].selectors)
        options = list(dict.fromkeys([*kind.indicator_fields, *kind.field_paths, *selected]))
        rows.append({"log_type": log_type, "selectors": selected, "options": options})
    return rows


def _editor(request: Request, session: Any, service: Service, name: str, rows: list[dict[str, Any]],
            pending: list[str], error: str | None = None, status: int = 200) -> Response:
    shown = {row["log_type"] for row in rows}
    addable = [n for n in service.engine.registry.names() if n not in shown]
    return render(request, "provider_logtypes.html", session, status=status, provider_name=name,
                  provider_url=_provider_url(name), rows=rows, addable=addable, pending=pending, error=error)


@router.get("/enrichments/{name}/logtypes/edit")
def edit_log_types(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    service.repo().public(name)
    added = [a for a in request.query_params.getlist("add") if a in service.engine.registry]
    return _editor(request, session, service, name, _rows(service, name, added), added)


@router.post("/enrichments/{name}/logtypes/edit")
async def save_log_types(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    """Save the whole tile at once: rows present are enabled with their selectors, rows removed are disabled."""
    form = await request.form()
    check_csrf(session, str(form.get(CSRF_FIELD) or ""))
    service.repo().public(name)
    registry = service.engine.registry
    order = [str(v) for v in form.getlist("log_type") if str(v) in registry]
    chosen = {lt: [str(v) for v in form.getlist(f"selectors:{lt}")] for lt in order}
    for log_type in order:
        try:
            parse_selectors(chosen[log_type], registry.get(log_type))
        except SelectorError as exc:
            rows = _rows(service, name, [], chosen, order)
            return _editor(request, session, service, name, rows, [], f"{log_type}: {exc}", status=422)
    config = service.enrichment_config()
    for log_type in order:
        config.set_selectors(name, registry.get(log_type), chosen[log_type])
        config.enable(name, log_type)
    removed = [s.log_type for s in service.enriched_log_types(name) if s.log_type not in chosen]
    for log_type in removed:
        config.disable(name, log_type)
    service.settings_changed()
    return redirect(request, _provider_url(name), f"Saved Enriched Log Types: {len(order)} enabled, "
                    f"{len(removed)} removed.")


@router.get("/enrichments/{name}/data")
def stored_data(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    q = request.query_params
    raw = {key: q.get(key) or None for key in ("match", "type", "itype", "status", "min_confidence")}
    error = None
    try:
        confidence = int(raw["min_confidence"]) if raw["min_confidence"] else None
    except ValueError:
        confidence, error = None, "Min confidence must be a whole number between -1 and 100."
    try:
        offset = max(0, int(q.get("offset") or 0))
    except ValueError:
        offset = 0
    shown = {**raw, "min_confidence": confidence}
    try:
        filters = row_filters(raw["match"], raw["type"], raw["itype"], raw["status"], confidence)
    except ApiError as exc:
        filters, error = row_filters(raw["match"], raw["type"], raw["itype"], None, None), exc.message
    page = page_of_rows(service, name, filters, PAGE, offset)
    base = {k: v for k, v in raw.items() if v}

    def link(to: int) -> str:
        return "?" + urlencode({**base, "offset": to})

    prev_url = link(max(0, offset - PAGE)) if offset > 0 else None
    next_url = link(offset + PAGE) if offset + PAGE < page["total"] else None
    return render(request, "lookup_rows.html", session, provider_name=name, provider_url=_provider_url(name),
                  page=page, f=shown, statuses=STATUSES, error=error, prev_url=prev_url, next_url=next_url)
