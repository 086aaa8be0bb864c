"""Find Anomali ThreatStream rows in an event's p_enrichment, whatever the provider was named.

Helpers for rules (the built-in pack uses them; user rules may ``from threatmatch.detect.anomali import ...``).

The enrichment provider's name is chosen by the user, so rows are recognised by shape: rows of
the ``Anomali.Indicator`` log type, or rows carrying ThreatStream's ``itype`` plus ``threat_type``
or ``confidence``. Each match is reported with the table and selector it was found under.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ANOMALI_LOG_TYPE = "Anomali.Indicator"
HIGH_CONFIDENCE = 80
Match = tuple[str, str, Mapping[str, Any]]
"""(table name, selector, row)"""
SEVERITY_BY_META = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "very-high": "CRITICAL", "very_high": "CRITICAL"}


def _rows(found: Any) -> list[Any]:
    if isinstance(found, Mapping):
        return [found]
    if isinstance(found, Sequence) and not isinstance(found, str):
        return list(found)
    return []


def is_anomali_row(row: Any) -> bool:
    """True for a ThreatStream indicator row."""
    if not isinstance(row, Mapping):
        return False
    if row.get("p_log_type") == ANOMALI_LOG_TYPE:
        return True
    return "itype" in row and ("threat_type" in row or "confidence" in row)


def is_active(row: Mapping[str, Any]) -> bool:
    """Rows without a status count as active (the engine only emits active rows)."""
    status = row.get("status")
    return status is None or str(status).lower() == "active"


def confidence(row: Mapping[str, Any]) -> int:
    """The row's confidence as an int (0 when absent or malformed)."""
    try:
        return int(row.get("confidence") or 0)
    except (TypeError, ValueError):
        return 0


def anomali_matches(event: Any) -> list[Match]:
    """Every ``(table, selector, row)`` of an active Anomali row attached to ``event``."""
    raw = getattr(event, "_data", None)
    if raw.__class__ is dict and "p_enrichment" not in raw:
        return []  # the common case, decided without the view (``p_*`` keys are matched exactly there)
    enrichment = event.get("p_enrichment")
    if not isinstance(enrichment, Mapping):
        return []
    found = []
    for table, selectors in enrichment.items():
        if not isinstance(selectors, Mapping) or str(table).startswith("p_any_"):
            continue
        for selector, value in selectors.items():
            for row in _rows(value):
                if is_anomali_row(row) and is_active(row):
                    found.append((str(table), str(selector), row))
    return found


def itype(row: Mapping[str, Any]) -> str:
    """The row's itype, lower-case."""
    return str(row.get("itype") or "").lower()


def kind(row: Mapping[str, Any]) -> str:
    """The indicator kind: ``ip``, ``domain``, ``url``, ``email``, ``hash``... (``type``, else the itype suffix)."""
    value_type = str(row.get("type") or "").lower()
    if value_type == "md5":
        return "hash"
    if value_type in ("ipv6", "ip"):
        return "ip"
    if value_type:
        return value_type
    suffix = itype(row).rsplit("_", 1)[-1]
    return {"md5": "hash", "ipv6": "ip", "hash": "hash"}.get(suffix, suffix)


def severity_of(row: Mapping[str, Any], default: str) -> str:
    """ThreatStream's ``meta.severity`` mapped to an alert severity, else ``default``."""
    meta = row.get("meta")
    severity = meta.get("severity") if isinstance(meta, Mapping) else None
    return SEVERITY_BY_META.get(str(severity or "").lower(), default)


def strongest(matches: list[Match]) -> Match:
    """The match with the highest confidence (first one on ties)."""
    return max(matches, key=lambda m: confidence(m[2]))


def matched_value(match: Match) -> str:
    """The event value that matched (``p_match``), else the indicator value."""
    row = match[2]
    return str(row.get("p_match") or row.get("value") or "")


def context(matches: list[Match]) -> dict[str, Any]:
    """Alert context listing every matched indicator."""
    return {
        "anomali_matches": [
            {
                "table": table,
                "selector": selector,
                "p_match": row.get("p_match"),
                "value": row.get("value"),
                "itype": row.get("itype"),
                "threat_type": row.get("threat_type"),
                "confidence": row.get("confidence"),
                "severity": (row.get("meta") or {}).get("severity") if isinstance(row.get("meta"), Mapping) else None,
                "source": row.get("source"),
                "id": row.get("id"),
            }
            for table, selector, row in matches
        ]
    }
