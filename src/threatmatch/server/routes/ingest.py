"""``POST /api/v1/ingest/{log_type}``: JSON lines or raw text lines (gzip allowed) → enriched, detected, stored."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from threatmatch.server.body import decode_body, read_body, split_lines
from threatmatch.server.deps import ServiceDep, TokenDep
from threatmatch.server.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["ingest"])

_DESCRIPTION = """Send one record per line: JSON lines, or the log type's raw text format (e.g. Apache combined,
VPC flow, Zeek TSV). The body may be gzip-compressed (`Content-Encoding: gzip`, or detected by its magic
bytes). Bodies over the size limit are refused with 413 before anything is stored.

The answer counts every line: `lines == accepted + rejected + blank`. Each rejected line is listed with its
1-based line number and the reason (the first 1000; `rejects_truncated` says when there were more); every
rejected line is also kept, with its raw text, in the lake's `rejects` view (`POST /api/v1/search`)."""


@router.post("/ingest/{log_type}", summary="Ingest log lines", description=_DESCRIPTION)
async def ingest(log_type: str, request: Request, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    started = time.perf_counter()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
        raise ApiError(415, "unsupported_media_type", "send the log lines as the raw request body "
                       "(e.g. Content-Type: application/x-ndjson or text/plain), not as a form upload",
                       "Content-Type")
    settings = service.settings
    body = await read_body(request, settings.max_body_bytes)
    data = decode_body(body, request.headers.get("content-encoding"), settings.max_decompressed_bytes)
    lines = split_lines(data)
    if not lines:
        raise ApiError(400, "empty", "the request body is empty: send one event per line")
    report = await run_in_threadpool(service.engine.ingest, log_type, lines)
    service.metrics.ingest_latency.observe(time.perf_counter() - started)
    return report.as_dict()
