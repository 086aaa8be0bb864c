"""`make run` (= `threatmatch serve --demo`) works on an empty home: a newcomer gets enriched events and
alerts behind a console token, with nothing but the package installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


@pytest.mark.slow
def test_serve_demo_brings_up_enriched_events_and_alerts(tmp_path: Path, free_port: int) -> None:
    """The demo bootstrap syncs the bundled emulator and the demo feed, ingests the sample logs and prints a working
    token."""
    env = {**os.environ, "THREATMATCH_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "threatmatch", "serve", "--demo", "--port", str(free_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        seen: list[str] = []
        token = None
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = re.match(r"^\s+(tm_\S+)\s*$", line)
            if found:
                token = found.group(1)
                break
        assert token, "no console token printed:\n" + "".join(seen)
        assert "demo ready" in "".join(seen)
        base = f"http://127.0.0.1:{free_port}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/v1/alerts").status_code == 401  # no token, no data
            alerts = client.get("/api/v1/alerts", headers=headers)
            assert alerts.status_code == 200, alerts.text
            listed = alerts.json()["alerts"]
            assert listed, "the demo produced no alert"
            detail = client.get(f"/api/v1/alerts/{listed[0]['alert_id']}", headers=headers).json()
            assert any(event.get("p_enrichment") for event in detail["sample_events"])
            events = client.get("/api/v1/events", headers=headers).json()["events"]
            assert any(event.get("p_enrichment") for event in events)
            # the demo feed: its CIDR block enriches the sample event from 198.51.100.23, beside ThreatStream's row
            providers = {p["name"]: p for p in client.get("/api/v1/providers", headers=headers).json()["providers"]}
            assert providers["Demo blocklist"]["kind"] == "feed" and providers["Demo blocklist"]["status"]["rows"] == 4
            found = client.get("/api/v1/events", headers=headers, params={"indicator": "198.51.100.23"}).json()
            enrichment = found["events"][0]["p_enrichment"]
            assert enrichment["Demo blocklist"]["p_any_ip_addresses"][0]["value"] == "198.51.100.0/24"
            assert "Anomali ThreatStream" in enrichment
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
