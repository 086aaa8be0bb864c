"""Built-in rule: see the .yml beside this file."""

from __future__ import annotations

from typing import Any

from threatmatch.detect.anomali import (
    HIGH_CONFIDENCE,
    Match,
    anomali_matches,
    confidence,
    context,
    itype,
    severity_of,
    strongest,
)
from threatmatch.detect.event import PantherEvent


def _hits(event: PantherEvent) -> list[Match]:
    return [m for m in anomali_matches(event) if confidence(m[2]) >= HIGH_CONFIDENCE]


def rule(event: PantherEvent) -> bool:
    return bool(_hits(event))


def title(event: PantherEvent) -> str:
    table, selector, row = strongest(_hits(event))
    return (
        f"{event.get('p_log_type', 'event')}: {selector} matched Anomali indicator {row.get('value')} "
        f"({itype(row) or 'unknown itype'}, confidence {confidence(row)})"
    )


def dedup(event: PantherEvent) -> str:
    return str(strongest(_hits(event))[2].get("value"))


def severity(event: PantherEvent) -> str:
    return severity_of(strongest(_hits(event))[2], "DEFAULT")


def alert_context(event: PantherEvent) -> dict[str, Any]:
    return context(_hits(event))
