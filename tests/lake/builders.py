"""Panther-shaped enriched events, alerts and a small lookup table for the lake tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from threatmatch.home import Home
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.timefmt import panther_ts

PROVIDER = "Anomali ThreatStream"


def ts_row(row_id: int, value: str, itype: str, *, confidence: int = 80, kind: str = "ip") -> dict[str, Any]:
    """A ThreatStream lookup row as the provider stores it (API fields + ``match``)."""
    return {
        "match": [value], "id": row_id, "value": value, "type": kind, "itype": itype, "status": "active",
        "confidence": confidence, "threat_type": itype.split("_")[0], "source": "Analyst",
        "modified_ts": "2024-01-10T09:56:22.915Z", "expiration_ts": "9999-12-31T00:00:00.000Z",
        "tags": [{"name": "campaign-x"}], "meta": {"severity": "high"},
    }


LOOKUP_ROWS = [
    ts_row(1001, "203.0.113.50", "c2_ip", confidence=90),
    ts_row(1002, "198.51.100.7", "mal_ip", confidence=60),
    ts_row(1003, "evil.example.com", "c2_domain", confidence=75, kind="domain"),
]


def enrichment_for(ip: str) -> dict[str, Any] | None:
    """``p_enrichment`` as the enricher writes it for an event whose p_any_ip_addresses holds ``ip``."""
    for row in LOOKUP_ROWS:
        if row["value"] == ip:
            found = {k: v for k, v in row.items() if k != "match"}
            return {PROVIDER: {"p_any_ip_addresses": [{**found, "p_match": ip}]}}
    return None


def cloudtrail(n: int, when: datetime, ip: str, *, event_name: str = "ConsoleLogin") -> dict[str, Any]:
    """An enriched AWS.CloudTrail event (enrichment attached when ``ip`` is in LOOKUP_ROWS)."""
    event: dict[str, Any] = {
        "eventVersion": "1.08", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "signin.amazonaws.com",
        "eventName": event_name, "awsRegion": "us-east-1", "sourceIPAddress": ip,
        "userAgent": "Mozilla/5.0", "readOnly": False, "requestID": f"req-{n}", "eventID": f"evt-{n}",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::123456789012:user/user{n % 7}",
                         "accountId": "123456789012", "userName": f"user{n % 7}"},
        "responseElements": {"ConsoleLogin": "Success"},
        "p_log_type": "AWS.CloudTrail", "p_row_id": f"{n:032x}", "p_event_time": panther_ts(when),
        "p_parse_time": panther_ts(when + timedelta(seconds=5)), "p_schema_version": 0,
        "p_any_ip_addresses": [ip], "p_any_aws_account_ids": ["123456789012"],
        "p_any_aws_arns": [f"arn:aws:iam::123456789012:user/user{n % 7}"],
    }
    enrichment = enrichment_for(ip)
    if enrichment:
        event["p_enrichment"] = enrichment
    return event


def okta(n: int, when: datetime, ip: str) -> dict[str, Any]:
    """An enriched Okta.SystemLog event."""
    event: dict[str, Any] = {
        "uuid": f"okta-{n}", "published": when.isoformat(), "eventType": "user.session.start",
        "displayMessage": "User login to Okta", "severity": "INFO",
        "actor": {"id": "00u1", "type": "User", "alternateId": "alice@example.com", "displayName": "Alice"},
        "client": {"ipAddress": ip, "userAgent": {"rawUserAgent": "Mozilla/5.0"}},
        "outcome": {"result": "SUCCESS"},
        "p_log_type": "Okta.SystemLog", "p_row_id": f"{n + 10**6:032x}", "p_event_time": panther_ts(when),
        "p_parse_time": panther_ts(when + timedelta(seconds=2)), "p_schema_version": 0,
        "p_any_ip_addresses": [ip], "p_any_emails": ["alice@example.com"],
    }
    enrichment = enrichment_for(ip)
    if enrichment:
        event["p_enrichment"] = enrichment
    return event


def alert_for(events: list[dict[str, Any]], now: datetime, *, rule_id: str = "ThreatStream.C2.Activity",
              count: int | None = None) -> dict[str, Any]:
    """An alert dict shaped like ``threatmatch.detect.alerts.AlertManager`` output."""
    return {
        "alert_id": "a" * 31 + "1", "rule_id": rule_id, "title": "C2 traffic from [bold]203.0.113.50[/bold]",
        "severity": "HIGH", "dedup": "203.0.113.50", "dedup_period_minutes": 60, "threshold": 1,
        "created_at": panther_ts(now), "updated_at": panther_ts(now),
        "first_event_time": events[0]["p_event_time"], "last_event_time": events[-1]["p_event_time"],
        "event_count": count if count is not None else len(events), "log_types": ["AWS.CloudTrail"],
        "sample_events": events, "alert_context": {"ip": "203.0.113.50", "itype": "c2_ip"},
        "description": "Traffic to a ThreatStream C2 indicator", "runbook": "", "reference": "",
        "destinations": None, "tags": ["threatstream"], "reports": {},
    }


def store_table(home: Home, name: str, rows: list[dict[str, Any]]) -> int:
    """Commit ``rows`` as a new generation of lookup table ``name`` in the home's real SQLite store."""
    conn = connect(home.database)
    try:
        writer = LookupStore(conn).begin(name)
        writer.add(rows)
        return writer.commit()
    finally:
        conn.close()
