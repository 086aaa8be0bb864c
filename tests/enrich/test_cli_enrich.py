"""`threatmatch enrich` and `threatmatch enrichments` against a real home (SQLite, files, forked workers)."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from threatmatch.cli.main import cli
from threatmatch.errors import NotFoundError, SelectorError
from threatmatch.home import Home
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore

EVENTS = [
    {"eventTime": "2026-01-01T00:00:00Z", "sourceIPAddress": "55.44.33.22", "eventName": "GetObject"},
    {"eventTime": "2026-01-01T00:00:01Z", "sourceIPAddress": "5.188.10.7", "eventName": "ListBuckets"},
    {"eventTime": "2026-01-01T00:00:02Z", "sourceIPAddress": "192.0.2.10", "eventName": "AssumeRole"},
]


def _write_input(path: Path, *, broken: bool = True) -> Path:
    lines = [orjson.dumps(event) for event in EVENTS]
    if broken:
        lines.insert(1, b'{"eventTime": oops')
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _seed_store(home: Path) -> None:
    conn = connect(Home(home).ensure().database)
    writer = LookupStore(conn).begin("anomali")
    writer.add([{"match": ["55.44.33.22"], "id": 1, "value": "55.44.33.22", "type": "ip", "itype": "mal_ip",
                 "status": "active", "confidence": 80}])
    writer.commit()
    conn.close()


@pytest.fixture
def drop_table(tmp_path: Path) -> Path:
    path = tmp_path / "drop.txt"
    path.write_text("; Spamhaus DROP style\n5.188.10.0/23 ; SBL1\n1.10.16.0/20 ; SBL2\n")
    return path


def _events(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_enrich_files_with_stored_and_custom_tables(home_dir: Path, tmp_path: Path, drop_table: Path) -> None:
    """Stored tables and --table files enrich; rejects keep line and reason; the summary balances."""
    _seed_store(home_dir)
    source = _write_input(tmp_path / "trail.jsonl")
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    result = CliRunner().invoke(cli, ["enrich", "--log-type", "AWS.CloudTrail", str(source), "-o", str(out),
                                      "--rejects", str(rejects), "--table", f"spamhaus_drop={drop_table}"])
    assert result.exit_code == 0, result.output
    events = _events(out)
    assert [e["eventName"] for e in events] == ["GetObject", "ListBuckets", "AssumeRole"]
    assert events[0]["p_enrichment"]["anomali"]["p_any_ip_addresses"][0]["p_match"] == "55.44.33.22"  # type: ignore[index]
    assert events[1]["p_enrichment"] == {"spamhaus_drop": {"p_any_ip_addresses": [  # type: ignore[comparison-overlap]
        {"match": ["5.188.10.0/23"], "value": "5.188.10.0/23", "comment": "SBL1", "p_match": "5.188.10.7"}]}}
    assert "p_enrichment" not in events[2]
    [reject] = _events(rejects)
    assert reject["file"] == str(source) and reject["line"] == 2 and reject["raw"] == '{"eventTime": oops'
    assert "read 4, enriched 3, matched 2, rejected 1" in result.stderr


def test_gzip_is_detected_by_content_and_stdin_works(home_dir: Path, tmp_path: Path, drop_table: Path) -> None:
    """A gzip file without .gz suffix is decompressed; '-' reads stdin; stdout is the default output."""
    packed = tmp_path / "trail.log"
    packed.write_bytes(gzip.compress(_write_input(tmp_path / "plain.jsonl", broken=False).read_bytes()))
    table = ["--table", f"drop={drop_table}", "--no-stored-tables"]
    from_file = CliRunner().invoke(cli, ["enrich", "-t", "AWS.CloudTrail", str(packed), *table])
    assert from_file.exit_code == 0, from_file.output
    assert len(from_file.stdout.splitlines()) == 3
    from_stdin = CliRunner().invoke(cli, ["enrich", "-t", "AWS.CloudTrail", "-", *table],
                                    input=packed.read_bytes())
    assert from_stdin.exit_code == 0, from_stdin.output
    assert [orjson.loads(line)["eventName"] for line in from_stdin.stdout.splitlines()] == \
        ["GetObject", "ListBuckets", "AssumeRole"]


def test_workers_give_the_same_events(home_dir: Path, tmp_path: Path, drop_table: Path) -> None:
    """--workers 2 writes the same events in the same order as one process."""
    source = tmp_path / "many.jsonl"
    source.write_bytes(b"".join(orjson.dumps({**EVENTS[n % 3], "n": n}) + b"\n" for n in range(6000)))
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.jsonl"
        result = CliRunner().invoke(cli, ["enrich", "-t", "AWS.CloudTrail", str(source), "-o", str(out),
                                          "--workers", workers, "--table", f"drop={drop_table}"])
        assert result.exit_code == 0, result.output
        assert "read 6,000, enriched 6,000, matched 2,000, rejected 0" in result.stderr
        outputs.append([(e["n"], e.get("p_enrichment")) for e in _events(out)])
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(("args", "message"), [
    (["enrich", "-t", "AWS.Cloudtrail"], "did you mean AWS.CloudTrail"),
    (["enrich", "-t", "AWS.CloudTrail", "missing.jsonl"], "no such file"),
    (["enrich", "-t", "AWS.CloudTrail", "--table", "broken"], "NAME=FILE"),
    (["enrich"], "Missing option"),
    (["enrich", "-t", "AWS.CloudTrail", "--table", "t=BAD_TABLE"], "bad.jsonl:2: not valid JSON"),
])
def test_usage_errors_exit_2(home_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    """Unknown log types, missing files and malformed options are usage errors (exit 2) that say why."""
    bad_table = tmp_path / "bad.jsonl"
    bad_table.write_text('{"match": "1.2.3.4"}\n{oops\n')
    args = [arg.replace("BAD_TABLE", str(bad_table)) for arg in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.output


def test_enrichments_configuration_round_trip(home_dir: Path, tmp_path: Path) -> None:
    """show lists defaults; set-selectors validates and stores; disable/enable/reset change what enrich does."""
    _seed_store(home_dir)
    runner = CliRunner()
    shown = runner.invoke(cli, ["enrichments", "show", "anomali", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = {row["log_type"]: row for row in orjson.loads(shown.stdout)}
    assert rows["AWS.CloudTrail"]["enabled"] and "p_any_ip_addresses" in rows["AWS.CloudTrail"]["selectors"]
    assert not rows["AWS.CloudTrail"]["customized"]

    bad = runner.invoke(cli, ["enrichments", "set-selectors", "anomali", "AWS.CloudTrail", "$.sourceIPAdress"])
    assert isinstance(bad.exception, SelectorError) and "Did you mean $.sourceIPAddress" in str(bad.exception)
    good = runner.invoke(cli, ["enrichments", "set-selectors", "anomali", "AWS.CloudTrail", "$.sourceIPAddress"])
    assert good.exit_code == 0, good.output

    source = _write_input(tmp_path / "trail.jsonl", broken=False)
    enriched = runner.invoke(cli, ["enrich", "-t", "AWS.CloudTrail", str(source)])
    first = orjson.loads(enriched.stdout.splitlines()[0])
    assert list(first["p_enrichment"]["anomali"]) == ["sourceIPAddress"]
    assert first["p_enrichment"]["anomali"]["sourceIPAddress"]["p_match"] == "55.44.33.22"

    assert runner.invoke(cli, ["enrichments", "disable", "anomali", "AWS.CloudTrail"]).exit_code == 0
    disabled = runner.invoke(cli, ["enrich", "-t", "AWS.CloudTrail", str(source)])
    assert "p_enrichment" not in orjson.loads(disabled.stdout.splitlines()[0])
    table = runner.invoke(cli, ["enrichments", "show", "anomali"])
    assert "Enriched Log Types" in table.stdout and "no (custom)" in table.stdout

    assert runner.invoke(cli, ["enrichments", "enable", "anomali", "AWS.CloudTrail"]).exit_code == 0
    reset = runner.invoke(cli, ["enrichments", "reset", "anomali"])
    assert reset.exit_code == 0 and "1 setting(s) removed" in reset.stdout
    again = runner.invoke(cli, ["enrich", "-t", "AWS.CloudTrail", str(source)])
    assert list(orjson.loads(again.stdout.splitlines()[0])["p_enrichment"]["anomali"]) == ["p_any_ip_addresses"]


def test_enrichments_checks_provider_names(home_dir: Path) -> None:
    """Unknown provider names are refused with a suggestion unless --custom says it is a file table."""
    _seed_store(home_dir)
    runner = CliRunner()
    typo = runner.invoke(cli, ["enrichments", "disable", "anomalli", "AWS.CloudTrail"])
    assert isinstance(typo.exception, NotFoundError) and "did you mean anomali" in str(typo.exception)
    custom = runner.invoke(cli, ["enrichments", "disable", "drop", "AWS.CloudTrail", "--custom"])
    assert custom.exit_code == 0, custom.output
