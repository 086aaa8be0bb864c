"""`threatmatch table`: stored rows shown safely, filtered, and as JSON."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from threatmatch.cli import context
from threatmatch.cli.main import cli
from threatmatch.providers.threatstream.rows import build_row
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore


def _load(home: Path) -> None:
    objects = [
        {"id": 1, "update_id": 5, "value": "[bold red]evil[/].example", "type": "domain", "itype": "c2_domain",
         "status": "active", "confidence": 90, "source": "<script>alert(1)</script>"},
        {"id": 2, "update_id": 6, "value": "198.51.100.7", "type": "ip", "itype": "scan_ip", "status": "inactive",
         "confidence": 20},
    ]
    writer = LookupStore(connect(home / "threatmatch.db")).begin("anomali")
    writer.add(build_row(o, parse_time="2026-01-01 00:00:00.000", row_id=f"{o['id']:032x}") for o in objects)
    writer.commit()


def test_values_are_printed_literally_never_as_markup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attacker-controlled values appear verbatim: Rich markup in them is not interpreted."""
    monkeypatch.setattr(context.out, "width", 300)  # no wrapping inside cells
    _load(tmp_path)
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "table", "anomali"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "[bold red]evil[/].example" in result.output and "<script>alert(1)</script>" in result.output


def test_filters_and_json_output(tmp_path: Path) -> None:
    """--status filters rows and --json prints full stored rows, one per line."""
    _load(tmp_path)
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "table", "anomali", "--status", "inactive", "--json"])
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [2] and rows[0]["p_any_ip_addresses"] == ["198.51.100.7"]


def test_without_name_lists_tables_and_unknown_name_is_explained(tmp_path: Path) -> None:
    """No NAME lists the tables; a misspelt NAME gets a did-you-mean."""
    _load(tmp_path)
    listing = CliRunner().invoke(cli, ["--home", str(tmp_path), "table", "--json"])
    assert orjson.loads(listing.stdout)["row_count"] == 2
    missing = CliRunner().invoke(cli, ["--home", str(tmp_path), "table", "anomaly"])
    assert missing.exit_code == 1 and "did you mean 'anomali'" in str(missing.exception)
