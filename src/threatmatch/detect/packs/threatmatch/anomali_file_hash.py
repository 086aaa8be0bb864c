"""Built-in rule: see the .yml beside this file."""

from __future__ import annotations

from typing import Any

from threatmatch.detect.anomali import Match, anomali_matches, context, itype, kind, severity_of, strongest
from threatmatch.detect.event import PantherEvent


def _hits(event: PantherEvent) -> list[Match]:
    return [m for m in anomali_matches(event) if kind(m[2]) == "hash"]


def rule(event: PantherEvent) -> bool:
    return bool(_hits(event))


def title(event: PantherEvent) -> str:
    table, selector, row = strongest(_hits(event))
    return f"{event.get('p_log_type')}: file hash {row.get('p_match') or row.get('value')} matches Anomali {itype(row)}"


def dedup(event: PantherEvent) -> str:
    return str(strongest(_hits(event))[2].get("value"))


def severity(event: PantherEvent) -> str:
    return severity_of(strongest(_hits(event))[2], "DEFAULT")


def alert_context(event: PantherEvent) -> dict[str, Any]:
    return context(_hits(event))
