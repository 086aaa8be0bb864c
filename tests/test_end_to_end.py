"""End to end, through the CLI and the real parts: the ThreatStream emulator → sync → enrich real samples of six
log types with detections in the same pass → events and alerts in the lake → SQL search returns the enriched
events with their p_enrichment, the alerts, and joins to the lookup table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from tests.logtypes.samples import iter_sources

from threatmatch.cli.main import cli
from threatmatch.emulator.testing import run_emulator
from threatmatch.logtypes import LogTypeRegistry, RowIdGenerator

PROVIDER = "Anomali ThreatStream"
LOG_TYPES = ("AWS.CloudTrail", "AWS.VPCFlow", "Suricata.EVE", "Apache.AccessCombined", "Nginx.Access",
             "Windows.Sysmon")


def _sample(log_type: str, folder: Path) -> tuple[list[str], str]:
    """The real samples of ``log_type``, one file per source, and an IP address that occurs in them."""
    kind = LogTypeRegistry.load().get(log_type)
    normalize, ids = kind.compile_normalizer(), RowIdGenerator()
    ip = None
    paths: list[str] = []
    for number, (_label, _permissive, lines) in enumerate(iter_sources(log_type)):
        path = folder / f"{log_type}.{number}.log"
        path.write_bytes(b"\n".join(lines) + b"\n")
        paths.append(str(path))
        for _line, raw, _reason in kind.parse(lines):
            if raw is not None and ip is None:
                ips = normalize(raw, "2024-01-01 00:00:00.000", ids()).get("p_any_ip_addresses")
                ip = ips[0] if ips else None
    assert ip, f"no IP address in the {log_type} samples"
    return paths, ip


def _run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _search(runner: CliRunner, sql: str) -> list[dict[str, Any]]:
    output = _run(runner, "search", sql, "--json")
    return [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_feed_to_search_across_six_log_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every log type's matching events come back from search with p_enrichment, alerts exist, joins work."""
    samples = {log_type: _sample(log_type, tmp_path) for log_type in LOG_TYPES}
    monkeypatch.setenv("THREATMATCH_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    with run_emulator(indicators=3000, seed=11) as emulator:
        for _paths, ip in samples.values():
            emulator.add(value=ip, type="ip", itype="c2_ip", status="active", confidence=95,
                         expiration_ts="9999-12-31T00:00:00.000Z", meta={"severity": "very-high"})
        monkeypatch.setenv("E2E_TS_TOKEN", emulator.api_key)
        _run(runner, "providers", "add-threatstream", PROVIDER, "--subdomain", "api", "--base-url",
             emulator.base_url, "--username", emulator.username, "--api-token-env", "E2E_TS_TOKEN",
             "--query", 'status="active"')
        _run(runner, "sync", PROVIDER)
    for log_type, (paths, _ip) in samples.items():
        _run(runner, "enrich", "--log-type", log_type, *paths, "-o", str(tmp_path / f"{log_type}.out"),
             "--rejects", str(tmp_path / f"{log_type}.rejects"), "--rules", "builtin", "--store")

    enriched = _search(runner, "SELECT p_log_type, count(*) AS n FROM all_events "
                               "WHERE p_enrichment IS NOT NULL GROUP BY 1 ORDER BY 1")
    assert {row["p_log_type"] for row in enriched} == set(LOG_TYPES)

    for log_type, (_paths, ip) in samples.items():
        rows = _search(runner, "SELECT p_enrichment FROM all_events "
                               f"WHERE p_log_type = '{log_type}' AND p_enrichment IS NOT NULL LIMIT 1")
        enrichment = rows[0]["p_enrichment"]
        if isinstance(enrichment, str):
            enrichment = orjson.loads(enrichment)
        matched = enrichment[PROVIDER]["p_any_ip_addresses"]
        assert any(row["p_match"] == ip and row["itype"] == "c2_ip" for row in matched), (log_type, matched)

    alerts = _search(runner, "SELECT rule_id, event_count FROM alerts")
    assert {"ThreatMatch.Anomali.C2Indicator", "ThreatMatch.Anomali.HighConfidenceIndicator"} <= {
        a["rule_id"] for a in alerts}

    joined = _search(runner, "SELECT e.p_log_type, t.itype FROM all_events e, unnest(e.p_any_ip_addresses) AS u(ip) "
                             "JOIN anomali_threatstream t ON t.value = u.ip WHERE t.itype = 'c2_ip' "
                             "AND t.confidence = 95")
    assert {row["p_log_type"] for row in joined} == set(LOG_TYPES)
