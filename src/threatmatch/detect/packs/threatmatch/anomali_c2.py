"""Built-in rule: see the .yml beside this file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threatmatch.detect.anomali import Match, anomali_matches, confidence, context, itype, strongest
from threatmatch.detect.event import PantherEvent

C2_ITYPES = {"p2pcnc", "c2_ip", "c2_ipv6", "c2_domain", "c2_url"}


def _is_c2(row: Mapping[str, Any]) -> bool:
    return itype(row).startswith("c2_") or itype(row) in C2_ITYPES or str(row.get("threat_type", "")).lower() == "c2"


def _hits(event: PantherEvent) -> list[Match]:
    return [m for m in anomali_matches(event) if _is_c2(m[2])]


def rule(event: PantherEvent) -> bool:
    return bool(_hits(event))


def title(event: PantherEvent) -> str:
    table, selector, row = strongest(_hits(event))
    return f"{event.get('p_log_type', 'event')}: traffic to command-and-control {row.get('value')} ({itype(row)})"


def dedup(event: PantherEvent) -> str:
    return str(strongest(_hits(event))[2].get("value"))


def severity(event: PantherEvent) -> str:
    return "CRITICAL" if confidence(strongest(_hits(event))[2]) >= 80 else "DEFAULT"


def alert_context(event: PantherEvent) -> dict[str, Any]:
    return context(_hits(event))
