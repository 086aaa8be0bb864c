"""Feed providers from the command line: add-feed, list, show, test, sync and the stored table."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from tests.conftest import shared_path
from tests.providers.feed_server import FeedServer, feed_server

from threatmatch.cli.main import cli
from threatmatch.errors import ConfigError

SECRET = "f33d-k3y-s3cr3t"


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--home", str(home), *args], env=env)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


def test_add_test_sync_and_view_a_csv_feed(tmp_path: Path, server: FeedServer) -> None:
    """The whole flow a user runs: add the Feodo Tracker CSV, test it, sync it, look at its rows."""
    body = shared_path("realdata", "intel", "feeds", "abuse.ch", "feodotracker_ipblocklist.csv").read_bytes()
    url = server.publish("/downloads/ipblocklist.csv", body)
    home = tmp_path / "home"
    added = run(home, "providers", "add-feed", "feodo", "--url", url, "--format", "csv", "--column", "dst_ip",
                "--itype", "c2_ip", "--confidence", "90")
    assert added.exit_code == 0, added.output
    assert "added feed provider 'feodo'" in added.output and "(csv, column dst_ip)" in added.output
    tested = run(home, "providers", "test", "feodo")
    assert tested.exit_code == 0, tested.output
    assert f"OK: Downloaded {len(body):,} bytes from {url}: 28 ip." in " ".join(tested.output.split())
    synced = subprocess.run([sys.executable, "-m", "threatmatch", "--home", str(home), "sync", "feodo"],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert synced.returncode == 0, synced.stderr
    assert "synced 'feodo': 28 rows (fetched 28, duplicates 0, rejected 0)" in synced.stdout
    again = run(home, "sync", "feodo")
    assert "'feodo' is unchanged since its last sync: its 28 rows stay in use" in again.output
    table = run(home, "table", "feodo", "--match", "192.9.135.73", "--json")
    assert table.exit_code == 0, table.output
    row = orjson.loads(table.output.splitlines()[0])
    assert row["malware"] == "Pikabot" and row["itype"] == "c2_ip" and row["confidence"] == 90
    listed = run(home, "providers", "list", "--json")
    settings = orjson.loads(listed.output.splitlines()[0])
    assert settings["kind"] == "feed" and settings["status"]["row_count"] == 28 and settings["column"] == "dst_ip"
    plain = run(home, "providers", "list")
    assert "feodo" in plain.output and "feed" in plain.output


def test_header_value_is_read_from_the_environment_and_never_shown(tmp_path: Path, server: FeedServer) -> None:
    """--header-value-env stores the key encrypted; show, list and test never print it."""
    url = server.publish("/keyed.txt", b"198.51.100.7\n203.0.113.0/24\n")
    server.require_header("/keyed.txt", "Auth-Key", SECRET)
    home = tmp_path / "home"
    added = run(home, "providers", "add-feed", "keyed", "--url", url, "--header", "Auth-Key",
                "--header-value-env", "FEED_KEY", env={"FEED_KEY": SECRET})
    assert added.exit_code == 0, added.output
    shown = run(home, "providers", "show", "keyed")
    assert "header_name: Auth-Key" in shown.output and "header_value: (stored encrypted, not shown)" in shown.output
    tested = run(home, "providers", "test", "keyed")
    assert tested.exit_code == 0 and "1 cidr, 1 ip" in tested.output
    for result in (added, shown, tested, run(home, "providers", "list"), run(home, "providers", "show", "keyed",
                                                                           "--json")):
        assert SECRET not in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "csv"], "a csv feed needs --column"),
    (["--column", "ip"], "--column applies to csv and jsonl feeds"),
    (["--refresh-minutes", "5"], "at least 15 minutes"),
    (["--confidence", "101"], "between 0 and 100"),
    (["--header-value-env", "X"], "need --header NAME"),
    (["--header", "Bad Header", "--header-value-env", "FEED_KEY"], "is not an HTTP header name"),
])
def test_bad_settings_are_refused_with_the_fix(tmp_path: Path, args: list[str], message: str) -> None:
    """Each wrong option is a configuration error saying what to change; nothing is stored."""
    home = tmp_path / "home"
    result = run(home, "providers", "add-feed", "bad", "--url", "https://example.com/feed.txt", *args,
                 env={"FEED_KEY": SECRET})
    assert isinstance(result.exception, ConfigError), result.output
    assert message in str(result.exception)
    assert "no providers yet" in run(home, "providers", "list").output


def threatmatch(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command as a user does: exit code and streams as the shell sees them."""
    return subprocess.run([sys.executable, "-m", "threatmatch", "--home", str(home), *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))


def test_url_with_credentials_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """A URL carrying user:password exits 1 with the fix, and the password is not repeated back."""
    result = threatmatch(tmp_path / "home", "providers", "add-feed", "x", "--url",
                         "https://user:pa55w0rd@example.com/f")
    assert result.returncode == 1 and "must not carry credentials" in result.stderr
    assert "pa55w0rd" not in result.stdout + result.stderr


def test_test_reports_a_missing_feed_in_plain_words(tmp_path: Path, server: FeedServer) -> None:
    """`providers test` on a URL that answers 404 exits 1 saying to check --url."""
    home = tmp_path / "home"
    assert run(home, "providers", "add-feed", "gone", "--url", server.url("/nothing.txt")).exit_code == 0
    result = threatmatch(home, "providers", "test", "gone")
    assert result.returncode == 1
    assert "there is no feed at" in result.stderr and "check --url" in result.stderr
