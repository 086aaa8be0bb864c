"""Built-in rule: see the .yml beside this file."""

from __future__ import annotations

from typing import Any

from threatmatch.detect.anomali import Match, anomali_matches, context, itype, kind, strongest
from threatmatch.detect.event import PantherEvent

BENIGN_ITYPES = {"geolocation_url", "ipcheck_url", "speedtest_url"}


def _login(event: PantherEvent) -> bool:
    log_type = event.get("p_log_type")
    if log_type == "Okta.SystemLog":
        return bool(event.get("eventType") == "user.session.start")
    if log_type in ("GSuite.ActivityEvent", "GSuite.Reports"):
        app = event.deep_get("id", "applicationName")
        return app == "login" and str(event.get("name", "")).startswith("login_")
    if log_type == "AWS.CloudTrail":
        return bool(event.get("eventName") == "ConsoleLogin")
    return False


def _succeeded(event: PantherEvent) -> bool:
    log_type = event.get("p_log_type")
    if log_type == "Okta.SystemLog":
        return bool(event.deep_get("outcome", "result") == "SUCCESS")
    if log_type == "AWS.CloudTrail":
        return bool(event.deep_get("responseElements", "ConsoleLogin") == "Success")
    return bool(event.get("name") == "login_success")


def _hits(event: PantherEvent) -> list[Match]:
    return [m for m in anomali_matches(event) if kind(m[2]) == "ip" and itype(m[2]) not in BENIGN_ITYPES]


def rule(event: PantherEvent) -> bool:
    return bool(_hits(event)) and _login(event)  # the cheap test first: most events have no match


def title(event: PantherEvent) -> str:
    table, selector, row = strongest(_hits(event))
    outcome = "successful" if _succeeded(event) else "attempted"
    address = row.get("p_match") or row.get("value")
    return f"{event.get('p_log_type')}: {outcome} login from malicious IP {address} ({itype(row)})"


def dedup(event: PantherEvent) -> str:
    return str(strongest(_hits(event))[2].get("value"))


def severity(event: PantherEvent) -> str:
    return "HIGH" if _succeeded(event) else "MEDIUM"


def alert_context(event: PantherEvent) -> dict[str, Any]:
    return context(_hits(event))
