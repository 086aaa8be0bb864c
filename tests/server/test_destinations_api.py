"""Alert destinations over real HTTP: webhooks on 127.0.0.1 receive new alerts as JSON, routed by minimum severity
or by the rule's Destinations; the header value is write-only; a failing webhook is retried, counted and logged."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest
from tests.detect.rulefiles import write_rule
from tests.server.harness import LiveServer, Receiver, run_server

from threatmatch.server.settings import ServerSettings

ROUTED = """\
def rule(event):
    return event.get("eventName") == "Routed"
"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    rules = tmp_path_factory.mktemp("rules")
    write_rule(rules, "routed", ROUTED, RuleID="Test.Routed", LogTypes=["AWS.CloudTrail"], Severity="Low",
               OutputIds=["soc"])
    settings = ServerSettings(run_scheduler=False, ingest_workers=0, rule_paths=(rules,),
                              console_url="http://console.example:8080")
    with run_server(tmp_path_factory.mktemp("home"), settings) as server:
        yield server


def _line(name: str) -> bytes:
    return orjson.dumps({"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventName": name,
                         "eventSource": "s3.amazonaws.com", "sourceIPAddress": "192.0.2.1"})


def test_destinations_receive_new_alerts_routed_as_panther_routes_them(live: LiveServer, receiver: Receiver,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    add = live.client.post
    soc = add("/api/v1/destinations", json={"name": "soc", "url": receiver.url + "/soc", "min_severity": "high",
                                            "header_name": "Authorization", "header_value": "Bearer s3cret-token"})
    assert soc.status_code == 201, soc.text
    assert soc.json()["header"] is True and "s3cret" not in soc.text and soc.json()["min_severity"] == "HIGH"
    assert add("/api/v1/destinations", json={"name": "all", "url": receiver.url + "/all"}).status_code == 201
    assert add("/api/v1/destinations", json={"name": "broken", "url": receiver.url + "/fail"}).status_code == 201
    listed = live.client.get("/api/v1/destinations")
    assert [d["name"] for d in listed.json()["destinations"]] == ["all", "broken", "soc"]
    assert "s3cret" not in listed.text

    # a MEDIUM system error (rejected lines) reaches every destination whose minimum it meets, not "soc" (HIGH)
    assert live.client.post("/api/v1/ingest/AWS.CloudTrail", content=b"{broken").json()["rejected"] == 1
    [(headers, body)] = receiver.posts("/all", 1)
    assert body["title"] == "Log classification failures: AWS.CloudTrail" and body["severity"] == "MEDIUM"
    assert body["link"] == f"http://console.example:8080/alerts/{body['alert_id']}"
    assert headers["Content-Type"] == "application/json" and "Authorization" not in headers
    assert len(receiver.posts("/fail", 3)) == 3  # tried three times
    # a LOW alert of a rule naming "soc" in its OutputIds (Panther's destination override) goes to soc only
    assert live.client.post("/api/v1/ingest/AWS.CloudTrail", content=_line("Routed")).json()["alerts"] == 1
    [(headers, body)] = receiver.posts("/soc", 1)
    assert body["rule_id"] == "Test.Routed" and body["severity"] == "LOW"
    assert headers["Authorization"] == "Bearer s3cret-token"
    time.sleep(0.5)
    assert len(receiver.posts("/all", 1)) == 1  # the routed alert did not go there
    # an update of an open alert is not sent again
    live.client.post("/api/v1/ingest/AWS.CloudTrail", content=b"{broken again")
    time.sleep(0.5)
    assert len(receiver.posts("/all", 1)) == 1
    metrics = live.client.get("/metrics").text
    assert 'threatmatch_alert_deliveries_total{destination="broken",outcome="failed"} 1.0' in metrics
    assert 'threatmatch_alert_deliveries_total{destination="soc",outcome="sent"} 1.0' in metrics
    assert any("not delivered to destination broken after 3 attempt(s): HTTP 500" in r.getMessage()
               for r in caplog.records)
    assert not any("s3cret" in r.getMessage() for r in caplog.records)


def test_test_button_bad_input_and_removal(live: LiveServer, receiver: Receiver) -> None:
    sent = live.client.post("/api/v1/destinations/all/test").json()
    assert sent == {"sent": True, "message": "delivered: HTTP 204"}
    failed = live.client.post("/api/v1/destinations/broken/test").json()
    assert failed == {"sent": False, "message": "not delivered: HTTP 500"}
    for body, words in [({"name": "x", "url": "ftp://example"}, "give the webhook's full http:// or https://"),
                        ({"name": "all", "url": receiver.url}, "a destination named 'all' exists"),
                        ({"name": "y", "url": receiver.url, "min_severity": "urgent"}, "min_severity 'urgent'"),
                        ({"name": "z", "url": receiver.url, "header_name": "X-Key"}, "give both header_name")]:
        answer = live.client.post("/api/v1/destinations", json=body)
        assert answer.status_code == 422 and words in answer.json()["error"]["message"], answer.text
    assert live.client.delete("/api/v1/destinations/broken").status_code == 204
    assert live.client.delete("/api/v1/destinations/broken").status_code == 404
    assert live.anonymous().get("/api/v1/destinations").status_code == 401
