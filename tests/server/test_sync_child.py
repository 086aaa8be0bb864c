"""The service refreshes a provider in a child process at lower CPU priority, then swaps the live table."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.server.harness import run_server

from threatmatch.emulator.testing import run_emulator
from threatmatch.server.settings import ServerSettings


def _sync_children() -> list[tuple[int, int]]:
    """(pid, nice value) of this process's children running the sync module."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == os.getpid() and b"threatmatch.sync.child" in cmdline:
            found.append((int(entry.name), int(stat[16])))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process priorities from /proc (Linux)")
def test_sync_runs_in_a_lower_priority_child_and_swaps_the_table(tmp_path: Path) -> None:
    """While POST /sync runs, a child process at the configured niceness does the work; afterwards the live
    table serves the new rows and no child is left."""
    with run_emulator(indicators=200, seed=5) as emulator, \
            run_server(tmp_path / "home", ServerSettings(run_scheduler=False, sync_niceness=5)) as live:
        created = live.client.post("/api/v1/providers", json={
            "name": "intel", "subdomain": emulator.base_url, "username": emulator.username,
            "api_token": emulator.api_key, "query": 'status="active"', "refresh_minutes": 60})
        assert created.status_code == 201, created.text
        emulator.fault("slow", count=1, delay=2.0)
        answer: dict[str, Any] = {}
        request = threading.Thread(target=lambda: answer.update(r=live.client.post("/api/v1/providers/intel/sync")))
        request.start()
        niceness: set[int] = set()
        deadline = time.monotonic() + 10
        while os.nice(0) + 5 not in niceness and request.is_alive() and time.monotonic() < deadline:
            niceness.update(nice for _, nice in _sync_children())  # the child lowers its priority first thing
            time.sleep(0.02)
        request.join(timeout=60)
        emulator.clear_faults()
        assert os.nice(0) + 5 in niceness
        synced = answer["r"]
        assert synced.status_code == 200, synced.text
        rows = synced.json()["rows"]
        assert rows > 0 and live.service.table_sizes()["intel"] == rows
        assert _sync_children() == []
