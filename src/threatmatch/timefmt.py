"""Timestamps in Panther's text form (pure; the caller passes ``now``)."""

from __future__ import annotations

from datetime import UTC, datetime


def panther_ts(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.fff`` in UTC (Panther's ``p_event_time`` / ``p_parse_time`` text)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_iso(text: str) -> datetime | None:
    """Parse ThreatStream/ISO-8601 timestamps (``2023-08-11T10:35:52.302Z``, bare dates too) as UTC.

    Returns None for empty or unparsable text.
    """
    value = text.strip()
    if not value:
        return None
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso_to_panther(text: str | None) -> str | None:
    """Convert an ISO timestamp to Panther text, or None when absent/unparsable."""
    if not text:
        return None
    parsed = parse_iso(text)
    return panther_ts(parsed) if parsed is not None else None
