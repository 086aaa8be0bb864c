"""Drop-off alarms over real HTTP: set per log type, a silent log type gets one "No data received" system error,
the next event closes it; the console's log type page sets and shows it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.server.harness import LiveServer

LINE = b'{"uuid": "u1", "published": "2026-01-01T00:00:00Z", "eventType": "user.session.start"}'


def test_a_silent_log_type_raises_one_alert_until_its_next_event(live: LiveServer) -> None:
    url = "/api/v1/logtypes/Okta.SystemLog/alarm"
    low = live.client.put(url, json={"minutes": 2})
    assert low.status_code == 422 and "minutes must be a whole number from 5 to 10080" in low.json()["error"]["message"]
    assert live.client.put("/api/v1/logtypes/Okta.Nope/alarm", json={"minutes": 15}).status_code == 404
    saved = live.client.put(url, json={"minutes": 15})
    assert saved.status_code == 200 and (saved.json()["minutes"], saved.json()["alarming"]) == (15, False)
    assert live.client.post("/api/v1/ingest/Okta.SystemLog", content=LINE).json()["accepted"] == 1
    now = datetime.now(UTC)
    assert live.service.check_alarms(now + timedelta(minutes=10)) == []
    [opened] = live.service.check_alarms(now + timedelta(minutes=16))
    assert live.service.check_alarms(now + timedelta(minutes=30)) == []  # one alert per silence
    listed = live.client.get("/api/v1/alerts", params={"alert_type": "SYSTEM_ERROR"}).json()["alerts"]
    assert [a["title"] for a in listed if a["alert_id"] == opened["alert_id"]] == ["No data received: Okta.SystemLog"]
    assert live.client.get("/api/v1/logtypes/Okta.SystemLog").json()["alarm"]["alarming"] is True
    answer = live.client.post("/api/v1/ingest/Okta.SystemLog", content=LINE).json()
    assert answer["alerts"] == 1  # the drop-off alert, closed
    closed = live.client.get(f"/api/v1/alerts/{opened['alert_id']}").json()
    assert closed["alert_context"]["resumed_at"] is not None
    assert live.client.get("/api/v1/logtypes/Okta.SystemLog").json()["alarm"]["alarming"] is False
    page = live.console().get(f"/alerts/{opened['alert_id']}").text
    assert "stopped receiving events; events arrived again at" in page and 'id="system-error-text"' in page
    assert live.client.delete(url).status_code == 204
    assert live.client.delete(url).status_code == 404
    assert live.client.get("/api/v1/logtypes/Okta.SystemLog").json()["alarm"] is None


def test_the_log_type_page_sets_the_alarm(live: LiveServer) -> None:
    console = live.console()
    page = console.get("/logtypes/AWS.CloudTrail")
    assert 'id="alarm-status"' in page.text and "No alarm" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    bad = console.post("/logtypes/AWS.CloudTrail/alarm", data={"csrf_token": csrf.group(1), "minutes": "soon"},
                       follow_redirects=True)
    assert "Not saved: minutes must be a whole number" in bad.text
    good = console.post("/logtypes/AWS.CloudTrail/alarm", data={"csrf_token": csrf.group(1), "minutes": "20"},
                        follow_redirects=True)
    assert "alarms after 20 minutes without an event" in good.text and "for 20 minutes" in good.text
    assert live.client.get("/api/v1/logtypes/AWS.CloudTrail").json()["alarm"]["minutes"] == 20
    removed = console.post("/logtypes/AWS.CloudTrail/alarm", data={"csrf_token": csrf.group(1), "minutes": ""},
                           follow_redirects=True)
    assert "Removed the drop-off alarm" in removed.text
    assert live.client.get("/api/v1/logtypes/AWS.CloudTrail").json()["alarm"] is None
