"""Provider settings and status as shown by the API and the console (never the token)."""

from __future__ import annotations

from typing import Any

import httpx

from threatmatch.providers.feed.config import FeedConfig
from threatmatch.providers.feed.source import FeedSource
from threatmatch.providers.kinds import AnyConfig
from threatmatch.providers.retry import RetryPolicy
from threatmatch.providers.threatstream.client import ThreatStreamClient
from threatmatch.server.service import Service

TEST_RETRY = RetryPolicy(attempts=1, base_delay=0.5, max_delay=1.0, max_retry_after=2.0)


def status(service: Service, name: str) -> dict[str, Any]:
    """Last success/error, indicator counts by type and status, live rows, next refresh."""
    stored = service.repo().status(name)
    counts = stored.counts or {}
    next_run = service.next_run(name) or stored.next_run
    return {
        "last_attempt": stored.last_attempt,
        "last_success": stored.last_success,
        "last_error": stored.last_error,
        "last_error_at": stored.last_error_at,
        "last_duration_s": stored.duration_s,
        "running": service.sync_running(name) or stored.running_since is not None,
        "next_run": next_run,
        "rows": service.tables.size(name),
        "stored_rows": stored.row_count or 0,
        "counts": {"type": counts.get("type", {}), "status": counts.get("status", {})},
        "fetched": counts.get("fetched"),
        "rejected": counts.get("rejected"),
        "duplicates": counts.get("duplicates"),
        "reject_samples": counts.get("reject_samples", []),
    }


def provider(service: Service, name: str) -> dict[str, Any]:
    """Settings (no token) and status of one provider."""
    public = service.repo().public(name)
    return {**public, "name": name, "status": status(service, name)}


def summaries(service: Service) -> list[dict[str, Any]]:
    """Rows of the Enrichments list."""
    out = []
    for name in service.repo().names():
        state = status(service, name)
        out.append({"name": name, "kind": service.repo().public(name).get("kind"), "rows": state["rows"],
                    "last_success": state["last_success"],
                    "last_error": state["last_error"], "next_run": state["next_run"],
                    "running": state["running"], "log_type_count": service.enriched_log_type_count(name)})
    return out


def test_connection(config: AnyConfig, *, timeout: float = 10.0) -> dict[str, Any]:
    """One authenticated request with the query (limit 1), or one download of a feed; raises a
    ``ProviderError`` subclass on failure."""
    if isinstance(config, FeedConfig):
        return test_feed(config, timeout=max(timeout, 30.0))
    with httpx.Client(timeout=timeout) as http:
        total = ThreatStreamClient(http, config, retry=TEST_RETRY, timeout=timeout).check()
    shown = "an unknown number of" if total is None else f"{total}"
    return {"ok": True, "indicators": total,
            "message": f"Connected to {config.base_url} as {config.username}: the query matches {shown} indicators."}


def test_feed(config: FeedConfig, *, timeout: float = 30.0) -> dict[str, Any]:
    """One download of the feed, read but not stored."""
    with httpx.Client(timeout=timeout) as http:
        found = FeedSource(config, http, retry=TEST_RETRY, timeout=timeout).check()
    return {"ok": True, "indicators": sum(found.by_type.values()), "by_type": found.by_type,
            "rejected": found.rejected, "message": found.message}
