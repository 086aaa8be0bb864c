"""Rejected lines raise one system-error alert per log type and hour (Panther's classification failures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threatmatch.detect.alerts import SYSTEM_ERROR
from threatmatch.detect.classification import DEDUP, MAX_RAW, ClassificationAlerts

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _lines(count: int, start: int = 1, reason: str = "invalid JSON: unexpected end of data") -> list[dict[str, object]]:
    return [{"line": n, "reason": reason, "raw": f'{{"broken": {n}'} for n in range(start, start + count)]


def test_one_alert_per_log_type_and_hour_counts_every_rejected_line() -> None:
    alerts = ClassificationAlerts(max_samples=3)
    first = alerts.process("AWS.CloudTrail", _lines(2), T0)
    assert first is not None
    assert (first["alert_type"], first["dedup"], first["rule_id"], first["severity"]) == (SYSTEM_ERROR, DEDUP, None,
                                                                                         "MEDIUM")
    assert first["title"] == "Log classification failures: AWS.CloudTrail" and first["log_types"] == ["AWS.CloudTrail"]
    assert first["event_count"] == 2 and first["created_at"] == first["updated_at"] == "2026-03-01 12:00:00.000"
    assert "First reason: invalid JSON: unexpected end of data." in first["error"]
    assert "SELECT * FROM rejects WHERE log_type = 'AWS.CloudTrail'" in first["error"]
    later = alerts.process("AWS.CloudTrail", _lines(5, start=3, reason="other"), T0 + timedelta(minutes=59))
    assert later is not None and later["alert_id"] == first["alert_id"]
    assert later["event_count"] == 7 and later["updated_at"] == "2026-03-01 12:59:00.000"
    assert later["created_at"] == first["created_at"] and "First reason: invalid JSON" in later["error"]
    assert [s["line"] for s in later["sample_events"]] == [1, 2, 3]  # the first three kept as samples
    assert first["event_count"] == 2  # what was returned is a copy, not updated behind the caller's back
    other = alerts.process("Okta.SystemLog", _lines(1), T0 + timedelta(minutes=59))
    assert other is not None and other["alert_id"] != first["alert_id"] and other["event_count"] == 1
    renewed = alerts.process("AWS.CloudTrail", _lines(1), T0 + timedelta(minutes=60))
    assert renewed is not None and renewed["alert_id"] != first["alert_id"] and renewed["event_count"] == 1
    assert {a["alert_id"] for a in alerts.alerts()} == {renewed["alert_id"], other["alert_id"]}


def test_no_rejected_line_no_alert() -> None:
    assert ClassificationAlerts().process("AWS.CloudTrail", [], T0) is None


def test_samples_keep_line_reason_and_raw_text_cut_to_size() -> None:
    long_raw = "<script>alert(1)</script>" + "x" * (2 * MAX_RAW)
    [sample] = ClassificationAlerts().process("Custom.App", [{"line": 7, "reason": "r", "raw": long_raw}],
                                              T0)["sample_events"]  # type: ignore[index]
    assert sample["line"] == 7 and sample["reason"] == "r" and sample["p_log_type"] == "Custom.App"
    assert sample["raw"] == long_raw[:MAX_RAW] + "..."
