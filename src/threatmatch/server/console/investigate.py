"""Events (search enriched events, expand to see p_enrichment), Alerts (list and detail), Log types, Detections."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from threatmatch.errors import ConfigError, SearchError
from threatmatch.lake.indicator_search import indicator_values
from threatmatch.server.console.render import render
from threatmatch.server.deps import ServiceDep, SessionDep
from threatmatch.server.errors import ApiError
from threatmatch.server.queries import SEVERITIES, EventFilter, parse_time
from threatmatch.server.routes.rules import rules_report
from threatmatch.server.routes.search import find_alerts, find_events, get_alert

router = APIRouter()


@router.get("/events")
async def events(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    q = request.query_params
    raw = {key: q.get(key) or None for key in ("log_type", "since", "until", "provider", "value", "indicator")}
    error = None
    try:
        f = EventFilter(raw["log_type"], parse_time(raw["since"], "From"), parse_time(raw["until"], "To"),
                        raw["provider"], raw["value"], bool(q.get("matched_only")), 100,
                        indicator_values(raw["indicator"]))
    except (ApiError, ConfigError) as exc:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        f, error = EventFilter(raw["log_type"], None, None, raw["provider"], raw["value"], False, 100), message
    try:
        found = await run_in_threadpool(find_events, service, f)
    except (SearchError, ApiError) as exc:
        found, error = [], str(exc)
    return render(request, "events.html", session, events=found, f=f, raw=raw, error=error,
                  log_types=service.engine.registry.names(), providers=service.repo().names())


@router.get("/alerts")
async def alerts(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    severity = request.query_params.get("severity") or None
    alert_type = request.query_params.get("alert_type") or None
    rule_id = (request.query_params.get("rule_id") or "").strip() or None
    error = None
    try:
        found = await run_in_threadpool(find_alerts, service, severity, rule_id, 200, alert_type)
    except ApiError as exc:
        found, error = [], exc.message
    return render(request, "alerts.html", session, alerts=found, severity=severity, severities=SEVERITIES,
                  alert_type=alert_type, rule_id=rule_id, error=error)


@router.get("/alerts/{alert_id}")
async def alert(request: Request, alert_id: str, session: SessionDep, service: ServiceDep) -> Response:
    found = await run_in_threadpool(get_alert, service, alert_id)
    return render(request, "alert.html", session, alert=found)


@router.get("/logtypes")
def log_types(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    return render(request, "logtypes.html", session, log_types=list(service.engine.registry))


@router.get("/rules")
def rules(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    return render(request, "rules.html", session, **rules_report(service.engine.ruleset))
