"""Search (read-only SQL over the lake), enriched events and alerts."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from threatmatch.lake.indicator_search import indicator_values
from threatmatch.server.deps import ServiceDep, TokenDep
from threatmatch.server.errors import ApiError
from threatmatch.server.queries import EventFilter, alert_sql, alerts_sql, events_sql, parse_time
from threatmatch.server.service import Service

router = APIRouter(prefix="/api/v1", tags=["search"])


class SearchIn(BaseModel):
    """One read-only SQL statement over the views (see GET /api/v1/search/views)."""

    model_config = ConfigDict(extra="forbid")
    sql: str = Field(description="SELECT / WITH / FROM / DESCRIBE / SHOW / SUMMARIZE / EXPLAIN only")
    limit: int = Field(1000, ge=1, description="Most rows returned (capped by the server's search_row_limit)")
    timeout_s: float = Field(10.0, gt=0, description="Time limit in seconds (capped by the server)")


def run_search(service: Service, sql: str, limit: int, timeout_s: float | None = None) -> dict[str, Any]:
    settings = service.settings
    if limit > settings.search_row_limit:
        raise ApiError(422, "invalid", f"limit {limit} exceeds this server's maximum of "
                       f"{settings.search_row_limit} rows: aggregate, filter, or page with LIMIT/OFFSET", "limit")
    timeout = min(timeout_s or settings.search_timeout_s, settings.search_timeout_s)
    result = service.engine.search(sql, limit=limit, timeout_s=timeout)
    return {"columns": result.columns, "types": result.types, "rows": result.rows, "truncated": result.truncated,
            "elapsed_s": round(result.elapsed_s, 4), "warnings": result.warnings}


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def records(answer: dict[str, Any], json_columns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = []
    for row in answer["rows"]:
        record = dict(zip(answer["columns"], row, strict=True))
        for column in json_columns:
            if column in record:
                record[column] = _decode(record[column])
        out.append(record)
    return out


@router.post("/search", summary="Read-only SQL over enriched events, alerts and lookup tables")
async def search(body: SearchIn, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """Runs in DuckDB with the lake's views; writes, file access and extensions are refused."""
    return await run_in_threadpool(run_search, service, body.sql, body.limit, body.timeout_s)


@router.get("/search/views", summary="Views and their columns")
async def views(service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    def describe() -> dict[str, list[tuple[str, str]]]:
        service.engine.sink.flush()
        return service.engine.lake.describe()

    described = await run_in_threadpool(describe)
    return {"views": {name: [{"name": c, "type": t} for c, t in cols] for name, cols in described.items()}}


def find_events(service: Service, f: EventFilter) -> list[dict[str, Any]]:
    answer = run_search(service, events_sql(f), f.limit)
    return records(answer, ("p_enrichment", "event"))


@router.get("/events", summary="Enriched events, newest first")
async def events(service: ServiceDep, _: TokenDep,
                 log_type: str | None = None, since: str | None = None, until: str | None = None,
                 provider: Annotated[str | None, Query(description="Only events this provider enriched")] = None,
                 value: Annotated[str | None, Query(description="Only events where this value matched")] = None,
                 matched_only: bool = False,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                 indicator: Annotated[str | None, Query(description=(
                     "Indicator search: events holding any of these values (comma or space separated, at most 100) "
                     "in any p_any_* field, enriched or not; IPs compared in canonical form, the rest without case"
                 ))] = None) -> dict[str, Any]:
    f = EventFilter(log_type or None, parse_time(since, "since"), parse_time(until, "until"), provider or None,
                    value or None, matched_only, limit, indicator_values(indicator))
    return {"events": await run_in_threadpool(find_events, service, f)}


def find_alerts(service: Service, severity: str | None, rule_id: str | None, limit: int,
                alert_type: str | None = None) -> list[dict[str, Any]]:
    sql = alerts_sql(severity=severity, rule_id=rule_id, alert_type=alert_type, limit=limit)
    return records(run_search(service, sql, limit))


def get_alert(service: Service, alert_id: str) -> dict[str, Any]:
    found = records(run_search(service, alert_sql(alert_id), 1), ("alert_context", "sample_events"))
    if not found:
        raise ApiError(404, "not_found", f"no alert with id {alert_id!r}: list alerts with GET /api/v1/alerts")
    return found[0]


@router.get("/alerts", summary="Alerts, most recently updated first",
            description="`alert_type`: `RULE_MATCH` (a rule matched), `RULE_ERROR` (a rule raised an error on "
                        "events; the alert's `error` says which, its sample events carry `p_rule_error`) or "
                        "`SYSTEM_ERROR` (a rule reached the alert limit: 1,000 alerts within an hour; lines of a "
                        "log type were rejected: one alert per log type and hour, `dedup` "
                        "`classification failure`, the rejected lines as sample events; or a log type with a "
                        "drop-off alarm received no event for its minutes, `dedup` `no data`).")
async def alerts(service: ServiceDep, _: TokenDep, severity: str | None = None, rule_id: str | None = None,
                 alert_type: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return {"alerts": await run_in_threadpool(find_alerts, service, severity, rule_id, limit, alert_type)}


@router.get("/alerts/{alert_id}", summary="One alert with its sample enriched events")
async def alert(alert_id: str, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    return await run_in_threadpool(get_alert, service, alert_id)
