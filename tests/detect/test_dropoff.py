"""Drop-off alarms: a system error when a log type stops receiving events, closed by the next event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threatmatch.detect.alerts import SYSTEM_ERROR
from threatmatch.detect.dropoff import DEDUP, DropOffAlarms

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_silence_opens_one_alert_and_the_next_event_closes_it() -> None:
    alarms = DropOffAlarms(T0)
    alarms.received("AWS.CloudTrail", T0 + 5 * MIN)
    assert alarms.check({"AWS.CloudTrail": 15}, T0 + 19 * MIN) == []  # 14 minutes of silence
    [alert] = alarms.check({"AWS.CloudTrail": 15}, T0 + 20 * MIN)
    assert (alert["alert_type"], alert["dedup"], alert["rule_id"]) == (SYSTEM_ERROR, DEDUP, None)
    assert alert["title"] == "No data received: AWS.CloudTrail" and alarms.alarming("AWS.CloudTrail")
    assert alert["error"].startswith("No events of AWS.CloudTrail arrived for 15 minutes (the last one arrived at "
                                     "2026-03-01 12:05:00.000 UTC)")
    assert alarms.check({"AWS.CloudTrail": 15}, T0 + 60 * MIN) == []  # still the same silence: no second alert
    closed = alarms.received("AWS.CloudTrail", T0 + 61 * MIN)
    assert closed is not None and closed["alert_id"] == alert["alert_id"]
    assert closed["alert_context"]["resumed_at"] == "2026-03-01 13:01:00.000" and not alarms.alarming("AWS.CloudTrail")
    assert alarms.received("AWS.CloudTrail", T0 + 62 * MIN) is None
    [again] = alarms.check({"AWS.CloudTrail": 15}, T0 + 77 * MIN)  # a new silence: a new alert
    assert again["alert_id"] != alert["alert_id"]


def test_silence_counts_from_the_start_or_the_alarm_when_nothing_arrived() -> None:
    alarms = DropOffAlarms(T0)
    assert alarms.check({"Okta.SystemLog": 30}, T0 + 29 * MIN) == []
    assert alarms.check({"Okta.SystemLog": 30}, T0 + 40 * MIN, {"Okta.SystemLog": T0 + 20 * MIN}) == []
    [alert] = alarms.check({"Okta.SystemLog": 30}, T0 + 50 * MIN, {"Okta.SystemLog": T0 + 20 * MIN})
    assert "none since 2026-03-01 12:20:00.000 UTC" in alert["error"]
    assert alarms.check({}, T0 + 500 * MIN) == []  # log types without an alarm never alert
