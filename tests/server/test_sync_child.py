"""The service refreshes a provider in a child process at lower CPU priority, then swaps the live table."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from tests.server.harness import create_token, free_port, run_server

from threatmatch.cli.main import cli
from threatmatch.emulator.testing import run_emulator
from threatmatch.home import Home
from threatmatch.server.settings import ServerSettings


def _sync_children(parent: int | None = None) -> list[tuple[int, int]]:
    """(pid, nice value) of the children of ``parent`` (default: this process) running the sync module."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == parent and b"threatmatch.sync.child" in cmdline:
            found.append((int(entry.name), int(stat[16])))
    return found


def _sync_watching_niceness(client: httpx.Client, emulator: Any, *, parent: int, want: int
                            ) -> tuple[set[int], httpx.Response]:
    """Add provider ``intel`` for ``emulator``, POST its sync (slowed by one page) and collect the nice values of
    ``parent``'s sync children while it runs, until ``want`` is seen; (nice values seen, the sync's answer)."""
    created = client.post("/api/v1/providers", json={
        "name": "intel", "subdomain": emulator.base_url, "username": emulator.username,
        "api_token": emulator.api_key, "query": 'status="active"', "refresh_minutes": 60})
    assert created.status_code == 201, created.text
    emulator.fault("slow", count=1, delay=2.0)
    answer: dict[str, httpx.Response] = {}
    request = threading.Thread(target=lambda: answer.update(r=client.post("/api/v1/providers/intel/sync")))
    request.start()
    seen: set[int] = set()
    deadline = time.monotonic() + 10
    while want not in seen and request.is_alive() and time.monotonic() < deadline:
        seen.update(nice for _, nice in _sync_children(parent))  # the child lowers its priority first thing
        time.sleep(0.02)
    request.join(timeout=60)
    emulator.clear_faults()
    return seen, answer["r"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process priorities from /proc (Linux)")
def test_sync_runs_in_a_lower_priority_child_and_swaps_the_table(tmp_path: Path) -> None:
    """While POST /sync runs, a child process at the configured niceness does the work; afterwards the live
    table serves the new rows and no child is left."""
    with run_emulator(indicators=200, seed=5) as emulator, \
            run_server(tmp_path / "home", ServerSettings(run_scheduler=False, sync_niceness=5)) as live:
        seen, synced = _sync_watching_niceness(live.client, emulator, parent=os.getpid(), want=os.nice(0) + 5)
        assert os.nice(0) + 5 in seen
        assert synced.status_code == 200, synced.text
        rows = synced.json()["rows"]
        assert rows > 0 and live.service.table_sizes()["intel"] == rows
        assert _sync_children() == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process priorities from /proc (Linux)")
def test_serve_sync_niceness_option_sets_the_refresh_priority(tmp_path: Path) -> None:
    """`threatmatch serve --sync-niceness 7`: the refresh child of that service runs 7 steps nicer than it."""
    home = Home(tmp_path / "home").ensure()
    token = create_token(home, "admin")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "threatmatch", "--home", str(home.root), "serve", "--port",
                               str(port), "--no-scheduler", "--ingest-workers", "0", "--sync-niceness", "7"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with run_emulator(indicators=200, seed=5) as emulator, \
                httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "the service did not start"
                time.sleep(0.1)
            service_nice = int(Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
            want = min(19, service_nice + 7)
            seen, synced = _sync_watching_niceness(client, emulator, parent=server.pid, want=want)
            assert want in seen
            assert synced.status_code == 200, synced.text
    finally:
        server.terminate()
        server.wait(30)


def test_serve_refuses_a_sync_niceness_outside_0_to_19() -> None:
    result = CliRunner().invoke(cli, ["serve", "--sync-niceness", "20"])
    assert result.exit_code == 2
    assert "--sync-niceness" in result.output and "0<=x<=19" in result.output
