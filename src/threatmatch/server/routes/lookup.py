"""Lookup-table rows of a provider ("View stored data"), filtered and paged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from threatmatch.server.deps import ServiceDep, TokenDep
from threatmatch.server.errors import ApiError
from threatmatch.storage.lookup_store import LookupStore

router = APIRouter(prefix="/api/v1/providers", tags=["lookup rows"])

STATUSES = ("active", "inactive", "falsepos")
MAX_PAGE = 1000


def row_filters(match: str | None, type_: str | None, itype: str | None, status: str | None,
                min_confidence: int | None) -> dict[str, Any]:
    """Checked filters for ``LookupStore.query``/``count`` (empty strings mean "no filter")."""
    if status and status not in STATUSES:
        raise ApiError(422, "invalid", f"status must be one of {', '.join(STATUSES)} (got {status!r})", "status")
    if min_confidence is not None and not -1 <= min_confidence <= 100:
        raise ApiError(422, "invalid", f"min_confidence must be between -1 and 100 (got {min_confidence})",
                       "min_confidence")
    return {"match": match or None, "type": type_ or None, "itype": itype or None, "status": status or None,
            "min_confidence": min_confidence}


def page_of_rows(service: Any, name: str, filters: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    service.repo().public(name)  # 404 for an unknown provider
    store = LookupStore(service.db())
    try:
        store.info(name)
    except Exception:  # never synced yet: an empty table
        return {"provider": name, "total": 0, "limit": limit, "offset": offset, "rows": []}
    total = store.count(name, **filters)
    rows = store.query(name, **filters, limit=limit, offset=offset)
    return {"provider": name, "total": total, "limit": limit, "offset": offset, "rows": rows}


@router.get("/{name}/rows", summary="Browse the provider's lookup table")
def rows(name: str, service: ServiceDep, _: TokenDep,
         match: Annotated[str | None, Query(description="Indicator value (compared canonically)")] = None,
         type: Annotated[str | None, Query(description="ThreatStream type: ip, domain, url, email, md5...")] = None,
         itype: Annotated[str | None, Query(description="ThreatStream itype, e.g. mal_ip")] = None,
         status: Annotated[str | None, Query(description="active, inactive or falsepos")] = None,
         min_confidence: Annotated[int | None, Query(description="Lowest confidence (-1..100)")] = None,
         limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
         offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """Rows of the active generation passing every given filter, with the total for paging."""
    filters = row_filters(match, type, itype, status, min_confidence)
    return page_of_rows(service, name, filters, limit, offset)
