"""The built-in Anomali rule pack: its own tests pass, and it behaves on enriched real events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from tests.conftest import shared_path

from threatmatch.detect import builtin_rules_dir, load_rules, run_tests
from threatmatch.detect.anomali import anomali_matches
from threatmatch.detect.event import PantherEvent

PACK = load_rules([builtin_rules_dir()])
OUTCOMES = run_tests(PACK)


@pytest.mark.parametrize("outcome", OUTCOMES, ids=[f"{o.rule_id}::{o.test_name}" for o in OUTCOMES])
def test_pack_test_passes(outcome: Any) -> None:
    """Every inline test of the built-in pack passes."""
    assert outcome.passed, outcome.reason


def test_pack_shape() -> None:
    """The pack has the five Anomali rules, each with positive and negative tests on real events."""
    assert {r.id for r in PACK} == {
        "ThreatMatch.Anomali.HighConfidenceIndicator", "ThreatMatch.Anomali.C2Indicator",
        "ThreatMatch.Anomali.LoginFromMaliciousIP", "ThreatMatch.Anomali.PhishingDomainDNS",
        "ThreatMatch.Anomali.FileHashMatch"}
    for rule in PACK:
        assert {t.expected_result for t in rule.tests} == {True, False}, rule.id


def _positive(rule_id: str, name: str) -> dict[str, Any]:
    rule = PACK.get(rule_id)
    assert rule is not None
    return next(t.log_data() for t in rule.tests if t.name == name)  # type: ignore[return-value]


def test_severity_and_title_follow_the_indicator() -> None:
    """High-confidence alerts take meta.severity; the title names the matched value and itype."""
    rule_id = "ThreatMatch.Anomali.HighConfidenceIndicator"
    login = _positive(rule_id, "CloudTrail console login from a C2 IP (very-high)")
    [hit] = [r for r in PACK.run([login]) if r.rule_id == "ThreatMatch.Anomali.HighConfidenceIndicator"]
    assert hit.severity == "CRITICAL" and "192.0.2.0" in (hit.title or "") and "c2_ip" in (hit.title or "")
    assert hit.dedup == "192.0.2.0"
    assert hit.alert_context is not None and hit.alert_context["anomali_matches"][0]["table"] == "ThreatStream Prod"


def test_rows_found_under_any_provider_name() -> None:
    """Anomali rows are recognised by shape, whatever the table (provider) name."""
    login = _positive("ThreatMatch.Anomali.LoginFromMaliciousIP", "Okta successful login from a malware IP")
    row = login["p_enrichment"]["anomali"]["client.ipAddress"]
    for name in ("anomali", "My ThreatStream", "ts-prod"):
        renamed = {**login, "p_enrichment": {name: {"client.ipAddress": row}}}
        [(table, selector, _)] = anomali_matches(PantherEvent(renamed))
        assert (table, selector) == (name, "client.ipAddress")
    without_log_type = {k: v for k, v in row.items() if k != "p_log_type"}
    assert anomali_matches(PantherEvent({**login, "p_enrichment": {"x": {"s": [without_log_type]}}}))


def test_pack_is_quiet_on_panther_enriched_events() -> None:
    """On Panther's 69 enriched test events (ipinfo, tor, MISP, GreyNoise, OTX) the pack neither errors nor fires."""
    path = shared_path("realdata", "rules", "panther-analysis", "p_enrichment_test_events.jsonl")
    events = [orjson.loads(line)["log"] for line in path.read_bytes().splitlines() if line.strip()]
    assert len(events) == 69
    results = PACK.run([{**e, "p_log_type": e.get("p_log_type") or "Okta.SystemLog"} for e in events])
    assert [r for r in results if r.error] == []
    assert [r for r in results if r.matched] == []
