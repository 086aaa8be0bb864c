"""`threatmatch destinations`: add, list and remove webhooks from the command line; the header value comes from a
file or the environment, is stored encrypted and is never printed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from threatmatch.cli.main import cli
from threatmatch.home import Home


def test_add_list_remove(home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("SOC_TOKEN", "Bearer cli-secret-value")
    added = runner.invoke(cli, ["destinations", "add-webhook", "soc", "--url", "https://hooks.example.com/x",
                                "--min-severity", "high", "--header", "Authorization", "--header-value-env",
                                "SOC_TOKEN"])
    assert added.exit_code == 0, added.output
    assert "added destination soc (https://hooks.example.com/x, from HIGH)" in added.stdout
    assert "cli-secret-value" not in added.output
    listed = runner.invoke(cli, ["destinations", "list", "--json"])
    assert [orjson.loads(line)["name"] for line in listed.stdout.splitlines()] == ["soc"]
    assert "cli-secret-value" not in listed.output
    with sqlite3.connect(Home(home_dir).database) as conn:  # encrypted at rest
        [(stored,)] = conn.execute("SELECT header_value FROM destinations").fetchall()
    assert b"cli-secret-value" not in bytes(stored)
    assert runner.invoke(cli, ["destinations", "remove", "soc"]).exit_code == 0
    missing = runner.invoke(cli, ["destinations", "remove", "soc"])
    assert missing.exit_code != 0 and "no destination named 'soc'" in (missing.output + str(missing.exception))


@pytest.mark.parametrize(("args", "words"), [
    (["--header", "Authorization"], "give --header with --header-value-file or --header-value-env"),
    (["--header-value-env", "UNSET_VAR_FOR_TEST"], "UNSET_VAR_FOR_TEST is not set or empty"),
    (["--url", "not-a-url"], "give the webhook's full http:// or https:// address"),
])
def test_bad_input_is_refused(home_dir: Path, args: list[str], words: str) -> None:
    base = ["destinations", "add-webhook", "x"]
    if "--url" not in args:
        base += ["--url", "https://hooks.example.com/x"]
    result = CliRunner().invoke(cli, base + args)
    assert result.exit_code != 0 and words in (result.output + str(result.exception))
