"""Search SQL built from console/API filters. Every user value goes in as an escaped literal, never as SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from threatmatch.detect.rule import SEVERITY_ORDER
from threatmatch.lake.indicator_search import indicator_condition
from threatmatch.lake.naming import quote_literal
from threatmatch.server.errors import ApiError

SEVERITIES = SEVERITY_ORDER


@dataclass(frozen=True)
class EventFilter:
    """Filters of the Events page / ``GET /api/v1/events``."""

    log_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    provider: str | None = None
    value: str | None = None
    matched_only: bool = False
    limit: int = 50
    #: Indicator search: events holding any of these values in any ``p_any_*`` field
    #: (``threatmatch.lake.indicator_search.indicator_values``).
    indicators: tuple[str, ...] = ()


def _ts(moment: datetime) -> str:
    return "TIMESTAMP " + quote_literal(moment.strftime("%Y-%m-%d %H:%M:%S.%f"))


def events_sql(f: EventFilter) -> str:
    """Newest first; provider/value filters look at the flattened matches (``p_enrichment_matches``), the indicator
    search at every event's ``p_any_*`` fields, enriched or not."""
    where: list[str] = []
    if f.log_type:
        where.append(f"p_log_type = {quote_literal(f.log_type)}")
    if f.since is not None:
        where.append(f"p_event_time >= {_ts(f.since)}")
    if f.until is not None:
        where.append(f"p_event_time < {_ts(f.until)}")
    match_conditions = []
    if f.provider:
        match_conditions.append(f"m.provider = {quote_literal(f.provider)}")
    if f.value:
        match_conditions.append(f"m.match = {quote_literal(f.value)}")
    if match_conditions:
        where.append("len(list_filter(p_enrichment_matches, lambda m: " + " AND ".join(match_conditions) + ")) > 0")
    elif f.matched_only:
        where.append("len(p_enrichment_matches) > 0")
    if f.indicators:
        where.append(indicator_condition(f.indicators))
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return ("SELECT p_log_type, p_event_time, p_row_id, p_any_ip_addresses, p_any_domain_names, "
            "len(p_enrichment_matches) AS matches, p_enrichment, event FROM all_events"
            f"{clause} ORDER BY p_event_time DESC NULLS LAST, p_row_id LIMIT {int(f.limit)}")


ALERT_TYPES = ("RULE_MATCH", "RULE_ERROR", "SYSTEM_ERROR")
_ALERT_TYPE = "coalesce(alert_type, 'RULE_MATCH')"  # alerts stored before types existed were all matches


def alerts_sql(*, severity: str | None = None, rule_id: str | None = None, alert_type: str | None = None,
               limit: int = 100) -> str:
    where = []
    if severity:
        if severity.upper() not in SEVERITIES:
            raise ApiError(422, "invalid", f"severity must be one of {', '.join(SEVERITIES)} (got {severity!r})",
                           "severity")
        where.append(f"upper(severity) = {quote_literal(severity.upper())}")
    if rule_id:
        where.append(f"rule_id = {quote_literal(rule_id)}")
    if alert_type:
        if alert_type.upper() not in ALERT_TYPES:
            raise ApiError(422, "invalid", f"alert_type must be one of {', '.join(ALERT_TYPES)} (got {alert_type!r})",
                           "alert_type")
        where.append(f"{_ALERT_TYPE} = {quote_literal(alert_type.upper())}")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return (f"SELECT alert_id, {_ALERT_TYPE} AS alert_type, rule_id, title, severity, created_at, updated_at, "
            "first_event_time, last_event_time, event_count, log_types, error FROM alerts"
            f"{clause} ORDER BY updated_at DESC, alert_id LIMIT {int(limit)}")


def alert_sql(alert_id: str) -> str:
    return f"SELECT * FROM alerts WHERE alert_id = {quote_literal(alert_id)} LIMIT 1"


def parse_time(text: str | None, field: str) -> datetime | None:
    """``2024-01-31``, ``2024-01-31T12:00`` or ``...Z``/offset text (UTC); 422 naming ``field`` otherwise."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid", f"{field} {text!r} is not a date or time: use e.g. 2024-01-31 or "
                       "2024-01-31T12:00:00Z", field) from None
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
