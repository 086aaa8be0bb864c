"""Log types: list the built-in and custom schemas, show one, add a custom schema, try one on sample lines."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from threatmatch.errors import NotFoundError, SchemaError
from threatmatch.logtypes.describe import field_rows
from threatmatch.logtypes.parsers.common import split_lines
from threatmatch.logtypes.schema import load_schema
from threatmatch.logtypes.trial import try_schema
from threatmatch.server.body import read_body
from threatmatch.server.deps import ServiceDep, TokenDep
from threatmatch.server.errors import ApiError
from threatmatch.server.service import Service
from threatmatch.storage.alarms_repo import MAX_MINUTES, MIN_MINUTES, AlarmRepo
from threatmatch.timefmt import panther_ts

router = APIRouter(prefix="/api/v1/logtypes", tags=["log types"])

MAX_SCHEMA_BYTES = 1024 * 1024


def summary(kind: Any) -> dict[str, Any]:
    return {"name": kind.name, "description": kind.description, "builtin": kind.builtin,
            "input_format": kind.input_format, "indicator_fields": list(kind.indicator_fields)}


@router.get("", summary="Every log type")
def list_log_types(service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    return {"log_types": [summary(kind) for kind in service.engine.registry]}


MAX_TRIAL_BYTES = 8 * 1024 * 1024
MAX_TRIAL_EVENTS = 100
MAX_TRIAL_REJECTS = 1000


class SchemaTrial(BaseModel):
    """A schema (YAML or JSON text) and sample lines to try it on."""

    schema_text: str = Field(alias="schema", description="The schema, as `POST /api/v1/logtypes` takes it.")
    lines: str = Field(description="Sample log lines, one record per line (JSON lines or the schema's text format).")


def trial_of(body: SchemaTrial) -> dict[str, Any]:
    text = body.schema_text.encode()
    _check_document(text)
    try:
        schema = load_schema(yaml.safe_load(text), "schema")
    except SchemaError as exc:
        raise ApiError(422, "bad_schema", str(exc), exc.path or None) from None
    lines = split_lines(body.lines.encode())  # as an ingest body is split
    trial = try_schema(schema, lines, now=datetime.now(UTC), keep=MAX_TRIAL_EVENTS)
    return {"log_type": trial.log_type, "lines": trial.lines, "parsed": trial.parsed, "rejected": trial.rejected,
            "events": trial.events, "rejects": [{"line": n, "reason": r, "raw": raw}
                                                for n, r, raw in trial.rejects[:MAX_TRIAL_REJECTS]],
            "warnings": list(schema.warnings)}


@router.post("/test", summary="Try a schema on sample lines without saving it", openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": SchemaTrial.model_json_schema(by_alias=True)}}}})
async def test_log_type(request: Request, _: TokenDep) -> dict[str, Any]:
    """Body: `{"schema": "<YAML or JSON text>", "lines": "<sample lines>"}`. Parses and normalises the lines as
    ingestion would and returns the events (the first 100, with their `p_*` and `p_any_*` fields), every rejected
    line with its number, reason and raw text (the first 1,000), and the schema's warnings. Nothing is saved; a bad
    schema is a 422 naming the field path."""
    raw = await read_body(request, MAX_TRIAL_BYTES)
    try:
        body = SchemaTrial.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, "bad_request", f"expected {{\"schema\": \"...\", \"lines\": \"...\"}}: {problems}") \
            from None
    return await run_in_threadpool(trial_of, body)


@router.get("/{name}", summary="One log type with its fields, field paths (selector candidates) and drop-off alarm")
def get_log_type(name: str, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    kind = service.engine.registry.get(name)
    return {**detail(kind), "alarm": alarm_of(service, kind.name)}


def alarm_of(service: Service, name: str) -> dict[str, Any] | None:
    """The log type's drop-off alarm (minutes, when set, last event, whether it is alarming now), or None."""
    alarm = AlarmRepo(service.db()).get(name)
    if alarm is None:
        return None
    last = service.engine.dropoff.last_event(name)
    return {"minutes": alarm.minutes, "set_at": panther_ts(alarm.set_at),
            "last_event_at": panther_ts(last) if last is not None else None,
            "alarming": service.engine.dropoff.alarming(name)}


class AlarmIn(BaseModel):
    """A drop-off alarm: alert when the log type receives no event for this many minutes."""

    minutes: int = Field(description=f"{MIN_MINUTES} to {MAX_MINUTES} (7 days)")


@router.put("/{name}/alarm", summary="Set a log type's drop-off alarm (alert when no event arrives for N minutes)")
def set_alarm(name: str, body: AlarmIn, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """One `SYSTEM_ERROR` alert, `No data received: <log type>`, opens when the log type receives no event for
    `minutes` (counted from its last event, the service start or this call, whichever is later) and closes with
    the next event; the service checks every 30 seconds."""
    kind = service.engine.registry.get(name)
    AlarmRepo(service.db()).set(kind.name, body.minutes, datetime.now(UTC))
    return alarm_of(service, kind.name) or {}  # {} only if another request removed it meanwhile


@router.delete("/{name}/alarm", status_code=204, summary="Remove a log type's drop-off alarm")
def remove_alarm(name: str, service: ServiceDep, _: TokenDep) -> Response:
    kind = service.engine.registry.get(name)
    if not AlarmRepo(service.db()).remove(kind.name):
        raise NotFoundError(f"log type {kind.name} has no drop-off alarm")
    return Response(status_code=204)


def detail(kind: Any) -> dict[str, Any]:
    """One log type: its summary, fields (path, type, indicators, notes), field paths (selector candidates) and
    schema warnings (Panther keys not applied)."""
    return {**summary(kind), "fields": [row._asdict() for row in field_rows(kind.schema.fields)],
            "field_paths": list(kind.field_paths), "warnings": list(kind.schema.warnings)}


def _check_document(text: bytes) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ApiError(422, "bad_schema", f"the schema is not valid YAML or JSON{where}: "
                       f"{getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "bad_schema", "the schema must be a mapping with `schema:` (its name) and `fields:`")
    if not isinstance(data.get("schema"), str) or not data["schema"].strip():
        raise ApiError(422, "bad_schema", "the schema needs a name: add `schema: Custom.MyLogs` at the top", "schema")


def add_schema(service: Service, text: bytes) -> dict[str, Any]:
    """Validate and save a custom schema (YAML or JSON), then enrich its events from the next request on."""
    _check_document(text)
    fd, raw_path = tempfile.mkstemp(suffix=".yml", dir=service.home.root)
    path = Path(raw_path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text)
        try:
            kind = service.engine.registry.add(path)
        except SchemaError as exc:
            raise ApiError(422, "bad_schema", str(exc).replace(str(path), "schema"), exc.path or None) from None
    finally:
        path.unlink(missing_ok=True)
    service.engine.reload_registry(service.enrichment_config())
    return detail(kind)


@router.post("", status_code=201, summary="Add a custom log type (YAML or JSON schema in the body)")
async def add_log_type(request: Request, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """The same schema format as the built-ins (see `threatmatch log-types`); built-in names cannot be replaced."""
    body = await read_body(request, MAX_SCHEMA_BYTES)
    if not body.strip():
        raise ApiError(400, "empty", "the request body is empty: send the schema as YAML or JSON")
    return await run_in_threadpool(add_schema, service, body)
