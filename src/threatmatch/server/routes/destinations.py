"""Alert destinations: webhooks new alerts are sent to (the header value is write-only)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from threatmatch.server.deps import ServiceDep, TokenDep
from threatmatch.server.service import Service
from threatmatch.storage.destinations_repo import SEVERITIES, Destination
from threatmatch.timefmt import panther_ts

router = APIRouter(prefix="/api/v1/destinations", tags=["destinations"])


class DestinationIn(BaseModel):
    """A webhook destination."""

    name: str = Field(description="1-64 letters, digits, spaces, _ . -; rules route to it by this name")
    url: str = Field(description="http:// or https:// address the alerts are POSTed to as JSON")
    min_severity: str = Field("INFO", description=f"lowest severity sent: {', '.join(SEVERITIES)}")
    header_name: str | None = Field(None, description="a header sent with every alert, e.g. Authorization")
    header_value: str | None = Field(None, description="its value (stored encrypted, never returned)")


def shown(destination: Destination) -> dict[str, Any]:
    return {**asdict(destination), "header": destination.header_name is not None}


@router.get("", summary="Every alert destination (header values never shown)")
def list_destinations(service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    return {"destinations": [shown(d) for d in service.destinations().list()]}


@router.post("", status_code=201, summary="Add a webhook destination for new alerts")
def add_destination(body: DestinationIn, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    """New alerts (rule matches, rule errors, system errors) are POSTed as JSON to every destination whose
    `min_severity` they reach, or only to the destinations their rule names (`OutputIds` or `destinations()`, by
    name), each once, when it opens; retried 3 times; outcomes in `threatmatch_alert_deliveries_total`."""
    added = service.destinations().add(body.name, body.url, min_severity=body.min_severity,
                                       header_name=body.header_name, header_value=body.header_value,
                                       now=datetime.now(UTC))
    return shown(added)


@router.delete("/{name}", status_code=204, summary="Remove a destination")
def remove_destination(name: str, service: ServiceDep, _: TokenDep) -> Response:
    service.destinations().remove(name)
    return Response(status_code=204)


def test_result(service: Service, name: str) -> dict[str, Any]:
    """Send a test alert to destination ``name`` now (one attempt): ``{"sent", "message"}``."""
    repo = service.destinations()
    destination = repo.get(name)
    stamp = panther_ts(datetime.now(UTC))
    alert = {"alert_id": "0" * 32, "alert_type": "TEST", "title": f"Test alert for destination {name}",
             "severity": "INFO", "created_at": stamp, "updated_at": stamp,
             "description": "Sent by POST /api/v1/destinations/{name}/test; not a real alert."}
    sent, what = service.delivery.send(destination, repo.header(name), alert, attempts=1)
    return {"sent": sent, "message": f"{'delivered' if sent else 'not delivered'}: {what}"}


@router.post("/{name}/test", summary="Send a test alert to a destination now")
async def test_destination(name: str, service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    return await run_in_threadpool(test_result, service, name)
