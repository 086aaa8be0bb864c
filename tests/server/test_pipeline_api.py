"""Ingest → enrich → detect → store over real HTTP, with a provider synced from the real emulator."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tests.server.harness import LiveServer, run_server

from threatmatch.emulator.testing import EmulatorHandle, run_emulator

C2_IP = "198.51.100.77"
XSS_DOMAIN = "evil<script>alert(1)</script>.example"


def cloudtrail(ip: str, name: str = "ConsoleLogin") -> bytes:
    return orjson.dumps({"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventName": name,
                         "eventSource": "signin.amazonaws.com", "awsRegion": "us-east-1",
                         "sourceIPAddress": ip, "recipientAccountId": "111122223333",
                         "userIdentity": {"type": "IAMUser", "userName": "casey",
                                          "arn": "arn:aws:iam::111122223333:user/casey"},
                         "responseElements": {"ConsoleLogin": "Success"}})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, EmulatorHandle]]:
    """A server with one provider synced from an emulator holding a known C2 IP."""
    with run_emulator(indicators=300, seed=3) as emulator, run_server(tmp_path_factory.mktemp("home")) as live:
        emulator.add(value=C2_IP, type="ip", itype="c2_ip", confidence=95, status="active")
        created = live.client.post("/api/v1/providers", json={
            "name": "Anomali", "subdomain": emulator.base_url, "username": emulator.username,
            "api_token": emulator.api_key, "query": 'status="active"'})
        assert created.status_code == 201, created.text
        assert live.client.post("/api/v1/providers/Anomali/sync").status_code == 200
        yield live, emulator


def ingest(live: LiveServer, body: bytes, log_type: str = "AWS.CloudTrail", **headers: str) -> Any:
    return live.client.post(f"/api/v1/ingest/{log_type}", content=body, headers=headers)


class TestIngest:
    def test_match_is_enriched_detected_and_searchable(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """An event from the C2 IP is enriched under p_enrichment.Anomali, raises the C2 alert, and is found."""
        live, _ = world
        answer = ingest(live, cloudtrail(C2_IP) + b"\n" + cloudtrail("192.0.2.200") + b"\n")
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert (report["lines"], report["accepted"], report["rejected"], report["matched"]) == (2, 2, 0, 1)
        assert report["alerts"] >= 1
        found = live.client.get("/api/v1/events", params={"provider": "Anomali", "value": C2_IP}).json()["events"]
        assert len(found) == 1
        row = found[0]["p_enrichment"]["Anomali"]["p_any_ip_addresses"][0]
        assert row["p_match"] == C2_IP and row["itype"] == "c2_ip"
        alerts = live.client.get("/api/v1/alerts").json()["alerts"]
        c2 = [a for a in alerts if a["rule_id"] == "ThreatMatch.Anomali.C2Indicator"]
        assert c2, alerts
        detail = live.client.get(f"/api/v1/alerts/{c2[0]['alert_id']}").json()
        samples = detail["sample_events"]
        assert samples and samples[0]["p_enrichment"]["Anomali"]["p_any_ip_addresses"][0]["p_match"] == C2_IP

    def test_nothing_is_lost(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """Malformed lines are rejected with their line numbers; lines = accepted + rejected + blank."""
        live, _ = world
        body = b"\n".join([cloudtrail("192.0.2.1"), b"{broken", b"", b"[1,2]", cloudtrail("192.0.2.2"),
                           b"\xff\xfe not utf8", b"   "])
        report = ingest(live, body).json()
        assert report["lines"] == 7
        assert report["lines"] == report["accepted"] + report["rejected"] + report["blank"]
        assert report["accepted"] == 2 and report["blank"] == 2
        assert [r["line"] for r in report["rejects"]] == [2, 4, 6]
        assert all(r["reason"] for r in report["rejects"])

    def test_integers_beyond_64_bits_are_rejected_not_lost(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """A text log's integer beyond 64 bits is a reject with its reason; the lake keeps working."""
        live, _ = world
        line = f"2 123456789010 eni-big 10.0.0.1 10.0.0.2 443 49152 6 10 {2**70} 1600000000 1600000060 ACCEPT OK"
        report = ingest(live, line.encode(), log_type="AWS.VPCFlow").json()
        assert (report["accepted"], report["rejected"]) == (0, 1), report
        assert "64-bit range" in report["rejects"][0]["reason"]
        found = live.client.post("/api/v1/search", json={"sql": "SELECT count(*) AS n FROM all_events"}).json()
        assert found.get("rows"), found

    def test_gzip_by_header_and_by_magic(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """gzip bodies are accepted with Content-Encoding or by their magic bytes alone."""
        live, _ = world
        packed = gzip.compress(cloudtrail("192.0.2.3") + b"\n" + cloudtrail("192.0.2.4"))
        assert ingest(live, packed, **{"Content-Encoding": "gzip"}).json()["accepted"] == 2
        assert ingest(live, packed).json()["accepted"] == 2

    def test_bad_gzip_and_oversize_bodies(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """Corrupt gzip is 400; a body over 16 MiB or a zip bomb is 413; nothing is counted for them."""
        live, _ = world
        before = live.client.get("/metrics").text.count("\n")
        bad = ingest(live, b"\x1f\x8bnot really gzip")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_gzip"
        big = ingest(live, b"x" * (16 * 1024 * 1024 + 1))
        assert big.status_code == 413 and "16 MiB" in big.json()["error"]["message"]
        bomb = ingest(live, gzip.compress(b"\n" * (130 * 1024 * 1024)), **{"Content-Encoding": "gzip"})
        assert bomb.status_code == 413 and "decompressed body" in bomb.json()["error"]["message"]
        assert live.client.get("/metrics").text.count("\n") == before

    def test_unknown_log_type_and_empty_body(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """An unknown log type is 404 with a suggestion; an empty body is 400."""
        live, _ = world
        unknown = ingest(live, cloudtrail("192.0.2.5"), log_type="aws.cloudtrail")
        assert unknown.status_code == 404 and "AWS.CloudTrail" in unknown.json()["error"]["message"]
        assert ingest(live, b"").status_code == 400

    def test_form_upload_is_refused(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """A multipart form upload is refused with a message saying to send raw lines."""
        live, _ = world
        answer = live.client.post("/api/v1/ingest/AWS.CloudTrail", files={"file": ("x.json", b"{}")})
        assert answer.status_code == 415

    def test_metrics_count_per_log_type(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """/metrics exposes in/enriched/matched/rejected per log type and the enrichment latency histogram."""
        live, _ = world
        ingest(live, cloudtrail(C2_IP))
        text = live.client.get("/metrics").text
        for name in ("received", "enriched", "matched", "rejected"):
            assert f'threatmatch_events_{name}_total{{log_type="AWS.CloudTrail"}}' in text
        assert 'threatmatch_enrichment_latency_seconds_bucket{le="0.01",log_type="AWS.CloudTrail"}' in text
        assert 'threatmatch_lookup_table_rows{provider="Anomali"}' in text
        assert "threatmatch_sync_duration_seconds_count" in text


class TestSearch:
    def test_read_only_sql(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """SELECT works; writes, multiple statements and bad SQL are 422 with DuckDB's reason."""
        live, _ = world
        ok = live.client.post("/api/v1/search", json={"sql": "SELECT count(*) AS n FROM all_events"})
        assert ok.status_code == 200 and ok.json()["columns"] == ["n"]
        for sql, words in (("DROP VIEW all_events", "not allowed"), ("SELECT 1; SELECT 2", "one statement"),
                           ("SELEC 1", "syntax"), ("COPY all_events TO '/tmp/x.csv'", "not allowed"),
                           ("SELECT * FROM read_csv('/etc/passwd')", "")):
            bad = live.client.post("/api/v1/search", json={"sql": sql})
            assert bad.status_code == 422, sql
            assert bad.json()["error"]["code"] == "bad_search"
            assert words in bad.json()["error"]["message"]

    def test_row_and_time_limits(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """Results are cut at the limit (truncated: true); a limit above the server maximum is refused."""
        live, _ = world
        cut = live.client.post("/api/v1/search", json={"sql": "SELECT * FROM range(50)", "limit": 10}).json()
        assert len(cut["rows"]) == 10 and cut["truncated"] is True
        refused = live.client.post("/api/v1/search", json={"sql": "SELECT 1", "limit": 10_000_000})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "limit"
        slow = live.client.post("/api/v1/search", json={
            "sql": "SELECT count(*) FROM range(100000000000) a", "timeout_s": 0.5})
        assert slow.status_code == 422 and "time limit" in slow.json()["error"]["message"]

    def test_lookup_view_is_searchable(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """The provider's lookup table is a view next to the events."""
        live, _ = world
        answer = live.client.post("/api/v1/search", json={
            "sql": f"SELECT value, itype FROM anomali_anomali WHERE value = '{C2_IP}'"}).json()
        assert answer["rows"] == [[C2_IP, "c2_ip"]]

    def test_bad_event_filters(self, world: tuple[LiveServer, EmulatorHandle]) -> None:
        """A malformed time filter or severity is 422 naming the parameter."""
        live, _ = world
        assert live.client.get("/api/v1/events?since=yesterday").json()["error"]["field"] == "since"
        assert live.client.get("/api/v1/alerts?severity=urgent").json()["error"]["field"] == "severity"
        assert live.client.get("/api/v1/alerts/no-such-alert").status_code == 404
