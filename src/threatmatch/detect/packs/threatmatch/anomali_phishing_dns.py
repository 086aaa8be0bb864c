"""Built-in rule: see the .yml beside this file."""

from __future__ import annotations

from typing import Any

from threatmatch.detect.anomali import Match, anomali_matches, context, itype, kind, strongest
from threatmatch.detect.event import PantherEvent


def _hits(event: PantherEvent) -> list[Match]:
    return [
        m for m in anomali_matches(event)
        if kind(m[2]) in ("domain", "url")
        and (itype(m[2]).startswith("phish_") or str(m[2].get("threat_type", "")).lower() == "phish")
    ]


def rule(event: PantherEvent) -> bool:
    return bool(_hits(event))


def title(event: PantherEvent) -> str:
    table, selector, row = strongest(_hits(event))
    return f"{event.get('p_log_type')}: DNS query for phishing domain {row.get('p_match') or row.get('value')}"


def dedup(event: PantherEvent) -> str:
    return str(strongest(_hits(event))[2].get("value"))


def alert_context(event: PantherEvent) -> dict[str, Any]:
    return context(_hits(event))
