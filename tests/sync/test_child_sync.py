"""Syncs run by the service in a child process: same result and errors as in process, lower CPU priority,
stoppable without harming the table in use, never orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.sync.helpers import add_provider

from threatmatch.emulator.testing import run_emulator
from threatmatch.errors import NotFoundError, SyncError
from threatmatch.lake import Lake
from threatmatch.lake.naming import lookup_view
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox
from threatmatch.sync.child import ChildSync, sync_in_child


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with run_emulator(indicators=300, seed=11) as handle:
        yield handle


def _niceness(pid: int) -> int:
    """The nice value of a running process (field 19 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def _wait_until_gone(pid: int, timeout: float = 40.0) -> None:
    """Wait for an orphan (reaped by init, not by us) to disappear."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"sync process {pid} is still running after its parent was killed")


def test_child_sync_returns_what_it_stored(emulator: Any, tmp_path: Path) -> None:
    """The child's SyncResult describes the generation it stored, the store shows exactly those rows, and the
    child exits cleanly."""
    home = add_provider(tmp_path / "home", emulator)
    child = ChildSync(home, "anomali")
    result = child.result()
    assert child.returncode == 0  # a clean exit: nothing aborted at interpreter shutdown
    assert result.provider == "anomali" and result.rows == 300 and result.fetched == 300
    assert result.rejected == 0 and sum(result.by_type.values()) == 300
    info = LookupStore(connect(home.database)).info("anomali")
    assert info.row_count == 300 and info.generation == result.generation


def test_child_sync_reports_the_error_class_and_message(emulator: Any, tmp_path: Path) -> None:
    """A refused key comes back as the SyncError the in-process sync raises (without the key); an unknown
    provider as NotFoundError."""
    home = add_provider(tmp_path / "home", emulator, token="wrong-key-456")
    with pytest.raises(SyncError) as failed:
        sync_in_child(home, "anomali")
    assert "sync of provider 'anomali' failed" in str(failed.value) and "wrong-key-456" not in str(failed.value)
    with pytest.raises(NotFoundError):
        sync_in_child(home, "no-such-provider")


def test_child_runs_at_lower_cpu_priority(emulator: Any, tmp_path: Path) -> None:
    """The sync process lowers its own priority by the niceness asked for."""
    home = add_provider(tmp_path / "home", emulator)
    emulator.fault("slow", count=1, delay=3.0)
    try:
        child = ChildSync(home, "anomali", niceness=7)
        deadline = time.monotonic() + 10
        while _niceness(child.pid) != os.nice(0) + 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _niceness(child.pid) == os.nice(0) + 7
        assert child.result().rows == 300
    finally:
        emulator.clear_faults()


def test_cancel_stops_the_sync_and_keeps_the_table(emulator: Any, tmp_path: Path) -> None:
    """Cancelling a running child sync ends it with a SyncError, records the interruption on the provider,
    and leaves the previous generation in use."""
    home = add_provider(tmp_path / "home", emulator)
    first = sync_in_child(home, "anomali")
    emulator.fault("slow", count=3, delay=5.0)
    try:
        child = ChildSync(home, "anomali")
        time.sleep(1.0)  # the child is waiting on the slow page
        outcome: dict[str, Any] = {}

        def wait() -> None:
            try:
                outcome["result"] = child.result()
            except SyncError as exc:
                outcome["error"] = exc

        waiter = threading.Thread(target=wait)
        waiter.start()
        child.cancel()
        waiter.join(timeout=30)
    finally:
        emulator.clear_faults()
    assert "stopped before it finished" in str(outcome["error"])
    conn = connect(home.database)
    info = LookupStore(conn).info("anomali")
    assert info.generation == first.generation and info.row_count == 300
    status = ProviderRepo(conn, SecretBox.for_key_file(home.secret_key)).status("anomali")
    assert status.last_error is not None and "interrupted" in status.last_error


def test_child_exits_when_its_parent_is_killed(emulator: Any, tmp_path: Path) -> None:
    """A parent killed with SIGKILL mid-sync leaves no sync process behind (the child sees its stdin close)."""
    home = add_provider(tmp_path / "home", emulator)
    emulator.fault("slow", count=3, delay=5.0)
    script = ("import sys, time; from pathlib import Path; from threatmatch.home import Home; "
              "from threatmatch.sync.child import ChildSync; "
              "child = ChildSync(Home(Path(sys.argv[1])), 'anomali'); print(child.pid, flush=True); time.sleep(60)")
    try:
        parent = subprocess.Popen([sys.executable, "-c", script, str(home.root)], stdout=subprocess.PIPE, text=True)
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        time.sleep(1.0)
        parent.kill()
        parent.wait()
        _wait_until_gone(pid)
    finally:
        emulator.clear_faults()


def test_a_sync_process_that_cannot_start_is_a_sync_error(emulator: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """When no process can be started, the caller gets a SyncError saying so, and nothing was touched."""
    home = add_provider(tmp_path / "home", emulator)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(SyncError, match="cannot start a process for the sync of provider 'anomali'"):
        ChildSync(home, "anomali")
    with pytest.raises(NotFoundError):  # no table was created, not even an empty one
        LookupStore(connect(home.database)).info("anomali")


def test_child_sync_exports_the_new_generation_for_search(emulator: Any, tmp_path: Path) -> None:
    """After a child sync the lake already holds the new generation's export, so the first search does not
    build it, and searching the table finds every row."""
    home = add_provider(tmp_path / "home", emulator)
    result = sync_in_child(home, "anomali")
    view = lookup_view("anomali")
    exported = sorted(path.name for path in (home.lake / "lookups" / view).iterdir())
    assert len(exported) == 1 and exported[0].startswith(f"gen-{result.generation}-")
    lake = Lake(home)
    try:
        rows = lake.search(f"SELECT count(*) FROM {view}").rows
    finally:
        lake.close()
    assert rows == [[result.rows]]
    assert sorted(path.name for path in (home.lake / "lookups" / view).iterdir()) == exported


def test_the_result_comes_before_the_search_export(emulator: Any, tmp_path: Path) -> None:
    """The child reports the stored generation first (the service swaps it in meanwhile), then exports it for
    searches and exits cleanly; ``wait`` returns once the export is there."""
    home = add_provider(tmp_path / "home", emulator)
    child = ChildSync(home, "anomali")
    result = child.report()
    assert result.rows == 300
    assert child.returncode is None, "still running: exporting the generation it just reported"
    assert LookupStore(connect(home.database)).info("anomali").generation == result.generation
    assert child.wait() == 0
    exported = [path.name for path in (home.lake / "lookups" / lookup_view("anomali")).iterdir()]
    assert len(exported) == 1 and exported[0].startswith(f"gen-{result.generation}-")


def test_a_child_that_dies_without_a_report_is_a_sync_error(emulator: Any, tmp_path: Path) -> None:
    """A sync process killed outright (the OOM killer, an operator) is reported with its exit code, and the
    previous table stays in use."""
    home = add_provider(tmp_path / "home", emulator)
    first = sync_in_child(home, "anomali")
    emulator.fault("slow", count=3, delay=5.0)
    try:
        child = ChildSync(home, "anomali")
        time.sleep(1.0)
        os.kill(child.pid, signal.SIGKILL)
        with pytest.raises(SyncError, match=r"ended without a result \(its process exited with code -9"):
            child.result()
    finally:
        emulator.clear_faults()
    assert LookupStore(connect(home.database)).info("anomali").generation == first.generation
