"""Trying a schema on sample lines before saving it: `threatmatch log-types test` and `try_schema`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from click.testing import CliRunner

from threatmatch.cli.main import cli
from threatmatch.logtypes import load_schema
from threatmatch.logtypes.trial import try_schema

SCHEMA = """\
schema: Custom.Fw
parser:
  fastmatch:
    match: ['%{time} %{action} src=%{src} dst=%{dst}']
fields:
  - {name: time, type: timestamp, timeFormat: rfc3339, isEventTime: true}
  - {name: action, type: string, validate: {allow: [DROP, ACCEPT]}}
  - {name: src, type: string, indicators: [ip]}
  - {name: dst, type: string, indicators: [ip], lowerCase: true}
"""
LINES = ["2026-01-01T00:00:00Z DROP src=198.51.100.7 dst=10.0.0.5", "",
         "2026-01-01T00:00:01Z ACCEPT 198.51.100.8",
         "2026-01-01T00:00:02Z REJECT src=192.0.2.1 dst=192.0.2.2"]
NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_every_line_is_an_event_or_a_reject_with_its_reason() -> None:
    import yaml

    trial = try_schema(load_schema(yaml.safe_load(SCHEMA)), LINES, now=NOW)
    assert (trial.log_type, trial.lines, trial.parsed, trial.rejected) == ("Custom.Fw", 4, 1, 2)
    [event] = trial.events
    assert event["p_log_type"] == "Custom.Fw" and event["p_event_time"] == "2026-01-01 00:00:00.000"
    assert event["p_parse_time"] == "2026-02-01 00:00:00.000" and len(event["p_row_id"]) == 32
    assert event["p_any_ip_addresses"] == ["10.0.0.5", "198.51.100.7"]
    assert trial.rejects == [
        (3, "the line does not match the fastmatch pattern: expected ' src=' after %{action} (from character 22)",
         LINES[2]),
        (4, 'field action: "REJECT" is not in validate.allow ("DROP", "ACCEPT"): the event does not match log type '
            "Custom.Fw", LINES[3])]


def test_cli_prints_events_rejects_and_a_summary_and_saves_nothing(home_dir: Path, tmp_path: Path) -> None:
    schema, sample = tmp_path / "fw.yml", tmp_path / "fw.log"
    schema.write_text(SCHEMA)
    sample.write_text("\n".join(LINES) + "\n")
    result = CliRunner().invoke(cli, ["log-types", "test", str(schema), str(sample)])
    assert result.exit_code == 1  # a line was rejected
    [event] = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert event["action"] == "DROP" and event["p_any_ip_addresses"] == ["10.0.0.5", "198.51.100.7"]
    assert "rejected: line 3: the line does not match the fastmatch pattern" in result.stderr
    assert 'rejected: line 4: field action: "REJECT" is not in validate.allow' in result.stderr
    assert "Custom.Fw: 4 lines, 1 events, 2 rejected" in result.stderr
    assert "warning: fields[3].lowerCase: not applied by threatmatch" in result.stderr
    assert "Custom.Fw" not in CliRunner().invoke(cli, ["log-types", "list"]).stdout  # not saved
    good = tmp_path / "good.log"
    good.write_text(LINES[0] + "\n")
    summary = CliRunner().invoke(cli, ["log-types", "test", str(schema), str(good), "--json"])
    assert summary.exit_code == 0
    data = orjson.loads(summary.stdout)
    assert (data["parsed"], data["rejected"], data["rejects"]) == (1, 0, [])
    assert data["events"][0]["dst"] == "10.0.0.5" and len(data["warnings"]) == 1


def test_cli_refuses_a_bad_schema_with_its_path(home_dir: Path, tmp_path: Path) -> None:
    schema, sample = tmp_path / "bad.yml", tmp_path / "s.log"
    schema.write_text(SCHEMA.replace("%{action} src=", "%{actoin} src="))
    sample.write_text(LINES[0])
    result = CliRunner().invoke(cli, ["log-types", "test", str(schema), str(sample)])
    assert result.exit_code != 0
    assert "parser.fastmatch.match[0]: %{actoin} is not a top-level field of this schema" in result.output + str(
        result.exception)
