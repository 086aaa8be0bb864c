"""Sync over real HTTP against the real ThreatStream emulator: status, counts, stored rows, failures keep the table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.server.harness import LiveServer

from threatmatch.emulator.testing import EmulatorHandle, run_emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    with run_emulator(indicators=600, seed=7) as handle:
        yield handle


def _create(live: LiveServer, emulator: EmulatorHandle, name: str, query: str = 'status="active"') -> dict[str, Any]:
    answer = live.client.post("/api/v1/providers", json={
        "name": name, "subdomain": emulator.base_url, "username": emulator.username,
        "api_token": emulator.api_key, "query": query, "refresh_minutes": 60})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


class TestSync:
    def test_connection_test_counts_indicators(self, live: LiveServer, emulator: EmulatorHandle) -> None:
        """Test connection reports how many indicators the query matches."""
        _create(live, emulator, "conn-test")
        answer = live.client.post("/api/v1/providers/conn-test/test")
        assert answer.status_code == 200, answer.text
        assert answer.json()["ok"] is True and answer.json()["indicators"] > 0

    def test_wrong_api_key_is_reported(self, live: LiveServer, emulator: EmulatorHandle) -> None:
        """A refused key is a 502 provider_auth error that never contains the key."""
        answer = live.client.post("/api/v1/providers/test", json={
            "name": "x", "subdomain": emulator.base_url, "username": emulator.username,
            "api_token": "wrong-key-123", "query": 'status="active"'})
        assert answer.status_code == 502
        assert answer.json()["error"]["code"] == "provider_auth"
        assert "wrong-key-123" not in answer.text

    def test_sync_then_status_and_rows(self, live: LiveServer, emulator: EmulatorHandle) -> None:
        """Sync stores the indicators; status shows counts by type and status; rows can be filtered and paged."""
        _create(live, emulator, "ts-main")
        synced = live.client.post("/api/v1/providers/ts-main/sync")
        assert synced.status_code == 200, synced.text
        result = synced.json()
        assert result["rows"] > 0 and result["fetched"] == result["rows"] + result["duplicates"] + result["rejected"]
        status = live.client.get("/api/v1/providers/ts-main/status").json()
        assert status["last_success"] is not None and status["last_error"] is None
        assert status["rows"] == result["rows"]
        assert sum(status["counts"]["type"].values()) == result["rows"]
        assert set(status["counts"]["status"]) == {"active"}
        page = live.client.get("/api/v1/providers/ts-main/rows?limit=5").json()
        assert page["total"] == result["rows"] and len(page["rows"]) == 5
        assert all("match" in row for row in page["rows"])
        one = page["rows"][0]
        by_match = live.client.get("/api/v1/providers/ts-main/rows", params={"match": one["match"][0]}).json()
        assert one["id"] in [row["id"] for row in by_match["rows"]]
        typed = live.client.get("/api/v1/providers/ts-main/rows", params={"type": "domain", "limit": 1000}).json()
        assert typed["total"] == status["counts"]["type"].get("domain", 0)
        assert all(row["type"] == "domain" for row in typed["rows"])
        confident = live.client.get("/api/v1/providers/ts-main/rows", params={"min_confidence": 90}).json()
        assert all(row["confidence"] >= 90 for row in confident["rows"])
        second = live.client.get("/api/v1/providers/ts-main/rows?limit=5&offset=5").json()
        assert {r["id"] for r in second["rows"]}.isdisjoint({r["id"] for r in page["rows"]})

    def test_failed_sync_keeps_the_table(self, live: LiveServer, emulator: EmulatorHandle) -> None:
        """A sync that fails (403) answers 502, records the error, and leaves the previous rows in use."""
        _create(live, emulator, "ts-fail")
        first = live.client.post("/api/v1/providers/ts-fail/sync").json()
        emulator.fault("403", count=5)
        try:
            failed = live.client.post("/api/v1/providers/ts-fail/sync")
        finally:
            emulator.clear_faults()
        assert failed.status_code == 502
        assert failed.json()["error"]["code"] == "sync_failed"
        status = live.client.get("/api/v1/providers/ts-fail/status").json()
        assert status["last_error"] and status["rows"] == first["rows"]
        metrics = live.client.get("/metrics").text
        assert 'threatmatch_sync_failures_total{provider="ts-fail"} 1.0' in metrics
        assert 'threatmatch_lookup_table_rows{provider="ts-fail"}' in metrics
