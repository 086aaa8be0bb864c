"""The sync and provider commands as a user runs them: real processes, real emulator, real database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from tests.sync.helpers import FAST_RETRY, add_provider

from threatmatch.cli.main import cli
from threatmatch.emulator.testing import run_emulator
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_files import PAGE_SIZE, generation_file
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.sync.job import sync_provider


def in_process(home: Path, *args: str) -> Result:
    """Run a command in this process (fast path for commands whose exit-code handling is tested elsewhere)."""
    return CliRunner().invoke(cli, ["--home", str(home), *args])


def threatmatch(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command as a user does: a separate process, exit code and streams as the shell sees them."""
    return subprocess.run([sys.executable, "-m", "threatmatch", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with run_emulator(indicators=4000, seed=21) as handle:
        yield handle


class TestCommands:
    def test_add_test_sync_and_view_table(self, emulator: Any, tmp_path: Path) -> None:
        """A user adds a provider, tests it, syncs it and looks rows up, never seeing the token."""
        home = tmp_path / "home"
        env = {"TS_KEY": emulator.api_key}
        added = threatmatch(home, "providers", "add-threatstream", "anomali", "--base-url", emulator.base_url,
                            "--username", emulator.username, "--api-token-env", "TS_KEY",
                            "--query", 'status="active" or status="inactive" or status="falsepos"', env=env)
        assert added.returncode == 0, added.stderr
        tested = threatmatch(home, "providers", "test", "anomali")
        assert tested.returncode == 0 and "OK: ThreatStream" in tested.stdout and "4,000 indicators" in tested.stdout
        synced = threatmatch(home, "sync", "anomali")
        assert synced.returncode == 0, synced.stderr
        assert "synced 'anomali': 4,000 rows" in synced.stdout and "by status:" in synced.stdout
        row = LookupStore(connect(home / "threatmatch.db")).query("anomali", limit=1)[0]
        shown = in_process(home, "table", "anomali", "--match", row["value"], "--json")
        assert shown.exit_code == 0 and row["id"] in [orjson.loads(line)["id"] for line in shown.stdout.splitlines()]
        listed = in_process(home, "providers", "list", "--json")
        status = orjson.loads(listed.stdout.splitlines()[0])["status"]
        assert status["row_count"] == 4000 and status["last_error"] is None
        for result in (added, tested, synced):
            assert emulator.api_key not in result.stdout + result.stderr
        for ran in (shown, listed, in_process(home, "providers", "show", "anomali"), in_process(home, "table")):
            assert ran.exit_code == 0 and emulator.api_key not in ran.output

    def test_sync_all_then_remove_drops_the_table(self, emulator: Any, tmp_path: Path) -> None:
        """`sync` without a name refreshes every provider; `providers remove` also drops the lookup table."""
        home = add_provider(tmp_path / "home", emulator).root
        synced = in_process(home, "sync")
        assert synced.exit_code == 0, synced.output
        assert LookupStore(connect(home / "threatmatch.db")).count("anomali") == 4000
        removed = in_process(home, "providers", "remove", "anomali")
        assert removed.exit_code == 0 and "its lookup table (4,000 rows)" in removed.output
        assert LookupStore(connect(home / "threatmatch.db")).tables() == []

    def test_refresh_below_minimum_and_bad_query_are_refused(self, tmp_path: Path) -> None:
        """The CLI refuses a 15-minute refresh and points at the error position of a bad query."""
        base = ["providers", "add-threatstream", "x", "--subdomain", "api", "--username", "u@example.com",
                "--api-token-env", "TS_KEY"]
        short = threatmatch(tmp_path, *base, "--query", "status=active", "--refresh-minutes", "15",
                            env={"TS_KEY": "k"})
        assert short.returncode == 1 and "at least 60 minutes" in short.stderr
        os.environ["TS_KEY"] = "k"
        try:
            bad = in_process(tmp_path, *base, "--query", "status=active and (")
        finally:
            del os.environ["TS_KEY"]
        assert bad.exit_code == 1 and "position 19" in str(bad.exception) and "^" in str(bad.exception)

    def test_wrong_credentials_give_plain_words_and_exit_1(self, emulator: Any, tmp_path: Path) -> None:
        """A wrong API key makes `sync` and `providers test` exit 1 with a plain-words reason."""
        home = add_provider(tmp_path / "home", emulator, token="wrong-key-0000").root
        for args in (("sync", "anomali"), ("providers", "test", "anomali")):
            result = threatmatch(home, *args)
            assert result.returncode == 1
            assert f"refused the credentials for user {emulator.username}" in result.stderr
            assert "wrong-key-0000" not in result.stdout + result.stderr
        shown = threatmatch(home, "providers", "show", "anomali")
        assert "last_error: " in shown.stdout and "HTTP 401" in shown.stdout

    def test_network_error_in_plain_words(self, tmp_path: Path, free_port: int) -> None:
        """A provider pointing at a closed port reports that ThreatStream cannot be reached."""
        class Nowhere:
            base_url = f"http://127.0.0.1:{free_port}"
            username = "u@example.com"
            api_key = "k"

        home = add_provider(tmp_path / "home", Nowhere).root
        result = threatmatch(home, "providers", "test", "anomali")
        assert result.returncode == 1 and "cannot reach ThreatStream at" in result.stderr


@pytest.mark.slow
def test_sync_killed_midway_leaves_previous_table_intact(tmp_path: Path) -> None:
    """SIGKILL during paging leaves the previous table complete and readable; the next sync cleans up and works."""
    with run_emulator(indicators=10_000, seed=9) as emulator:
        home = add_provider(tmp_path / "home", emulator)
        sync_provider(connect(home.database), home, "anomali", retry=FAST_RETRY)
        store = LookupStore(connect(home.database))
        before = list(store.iter_match_blobs("anomali"))
        emulator.modify(store.query("anomali", limit=1)[0]["id"], confidence=1)
        emulator.fault("slow", count=12, delay=0.3)
        child = subprocess.Popen([sys.executable, "-m", "threatmatch", "--home", str(home.root), "sync", "anomali"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            building = _wait_for_partial_generation(home.database, timeout=60)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=30)
        emulator.clear_faults()
        assert child.returncode == -signal.SIGKILL
        reader = LookupStore(connect(home.database))
        assert list(reader.iter_match_blobs("anomali")) == before
        assert reader.count("anomali") == len(before) == 10_000
        assert reader.info("anomali").generation == 1
        result = sync_provider(connect(home.database), home, "anomali", retry=FAST_RETRY)
        assert result.rows == 10_000 and result.generation > building
        tables = {r[0] for r in sqlite3.connect(home.database).execute("SELECT name FROM sqlite_master")}
        assert not any(name.startswith(f"lut_1_g{building}") for name in tables)
        assert not generation_file(str(home.database), 1, building).exists()  # the killed build's file is gone


def _wait_for_partial_generation(database: Path, timeout: float) -> int:
    """Block until a sync is loading rows into a new, not yet active generation file; return its number."""
    deadline = time.monotonic() + timeout
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    while time.monotonic() < deadline:
        row = conn.execute("SELECT tid, generation FROM lookup_generations WHERE state = 'building'").fetchone()
        if row is not None:
            path = generation_file(str(database), row[0], row[1])
            if path.exists() and path.stat().st_size > 2 * PAGE_SIZE:  # rows beyond the empty schema
                return int(row[1])
        time.sleep(0.02)
    raise AssertionError("the sync never started writing a new generation")
