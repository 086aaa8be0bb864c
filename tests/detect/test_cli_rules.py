"""`threatmatch rules test|list` and `threatmatch detect` end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner
from tests.detect.rulefiles import write_rule

from threatmatch.cli.main import cli
from threatmatch.detect import builtin_rules_dir, load_rules


def test_rules_test_builtin_passes(home_dir: Path) -> None:
    """`rules test` on the built-in pack reports every test passing and exits 0."""
    result = CliRunner().invoke(cli, ["rules", "test", "builtin"])
    assert result.exit_code == 0, result.output
    assert "27/27 tests passed across 5 rules" in result.output
    assert "PASS ThreatMatch.Anomali.C2Indicator" in result.output


def test_rules_test_reports_failures(home_dir: Path, tmp_path: Path) -> None:
    """A failing test and an unloadable file make `rules test` print FAIL and exit 1."""
    write_rule(tmp_path, "r", "def rule(e):\n    return True\n", RuleID="X",
               Tests=[{"Name": "should not fire", "ExpectedResult": False, "Log": {}}])
    (tmp_path / "broken.yml").write_text("AnalysisType: rule\nRuleID: [unclosed\n")
    result = CliRunner().invoke(cli, ["rules", "test", str(tmp_path), "--json"])
    assert result.exit_code == 1
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines == [{"rule_id": "X", "test": "should not fire", "passed": False,
                      "reason": "expected rule() to return False, got True"}]
    assert "not valid YAML" in result.output


def test_rules_list_json(home_dir: Path) -> None:
    """`rules list --json` describes each rule."""
    result = CliRunner().invoke(cli, ["rules", "list", "--json"])
    assert result.exit_code == 0
    ids = {orjson.loads(line)["id"] for line in result.stdout.splitlines()}
    assert "ThreatMatch.Anomali.FileHashMatch" in ids


def test_detect_writes_alerts_and_rejects_bad_lines(home_dir: Path, tmp_path: Path) -> None:
    """`detect` reads enriched JSON lines, dedups matches into alerts and reports rejected lines."""
    pack = load_rules([builtin_rules_dir()])
    rule = pack.get("ThreatMatch.Anomali.LoginFromMaliciousIP")
    assert rule is not None
    positives = [t.log_data() for t in rule.tests if t.expected_result]
    negatives = [t.log_data() for t in rule.tests if not t.expected_result]
    lines = [orjson.dumps(e) for e in positives * 2 + negatives] + [b"{not json", b"[1, 2]"]
    source = tmp_path / "enriched.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "alerts.jsonl"
    results = tmp_path / "results.jsonl"
    args = ["detect", "--rules", "builtin", str(source), "-o", str(out), "--results", str(results)]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    alerts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    login = [a for a in alerts if a["rule_id"] == "ThreatMatch.Anomali.LoginFromMaliciousIP"]
    assert len(login) == len(positives) and all(a["event_count"] == 2 for a in login)
    assert all(a["sample_events"][0]["p_enrichment"] for a in login)
    assert f"{len(positives) * 2 + len(negatives)} events, 2 rejected lines" in run.output
    assert "enriched.jsonl:" in run.output and "expected a JSON object" in run.output
    assert results.read_bytes().count(b"\n") >= len(positives) * 2


def test_detect_turns_a_rule_error_into_an_alert(home_dir: Path, tmp_path: Path) -> None:
    """`detect` counts rule errors, writes each in --results, and alerts on them (RULE_ERROR) like the service."""
    write_rule(tmp_path / "rules", "r", "def rule(e):\n    return e['needed'] == 1\n", RuleID="Needs.Key",
               LogTypes=["AWS.CloudTrail"])
    source = tmp_path / "enriched.jsonl"
    source.write_bytes(b"".join(orjson.dumps({"p_log_type": "AWS.CloudTrail", "n": n}) + b"\n" for n in range(3)))
    out, results = tmp_path / "alerts.jsonl", tmp_path / "results.jsonl"
    run = CliRunner().invoke(cli, ["detect", "--rules", str(tmp_path / "rules"), str(source), "-o", str(out),
                                   "--results", str(results)])
    assert run.exit_code == 0, run.output
    assert "0 matches, 3 rule errors, 1 alerts" in run.output
    [alert] = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert (alert["alert_type"], alert["rule_id"], alert["event_count"]) == ("RULE_ERROR", "Needs.Key", 3)
    assert [s["p_rule_error"] for s in alert["sample_events"]] == ["KeyError: 'needed'"] * 3
    assert [orjson.loads(line)["error"] for line in results.read_bytes().splitlines()] == ["KeyError: 'needed'"] * 3
