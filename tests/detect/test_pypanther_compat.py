"""pypanther's own rules, with their own inline tests, run on threatmatch's event object, runner and harness.

pypanther (Apache-2.0) is a test-only extra: its rule files are loaded by threatmatch's loader with
threatmatch's pypanther-compatible classes standing in for pypanther's runtime (see pypanther_support).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import shared_path
from tests.detect import pypanther_support

from threatmatch.detect import load_rules, run_tests
from threatmatch.detect.ruleset import RuleSet
from threatmatch.detect.testing import TestOutcome, run_test
from threatmatch.detect.yamlspec import parse_rule

# The acceptance list: rules that read p_enrichment (ids as pypanther spells them).
ACCEPTANCE = {
    "Okta.Anonymizing.VPN.Login-prototype", "Standard.SignInFromRogueState-prototype",
    "Connection.to.Embargoed.Country-prototype", "Amazon.EKS.Audit.SystemNamespaceFromPublicIP-prototype",
    "GCP.K8s.IOC.Activity-prototype", "Axonius.TorLogin-prototype",
}


@pytest.fixture(scope="module")
def folder() -> Path:
    return pypanther_support.install()


@pytest.fixture(scope="module")
def enrichment_rules(folder: Path) -> RuleSet:
    files = pypanther_support.enrichment_rule_files(folder) + pypanther_support.helper_enrichment_rule_files(folder)
    return load_rules([folder / "data_models", *files])


def _report(outcomes: list[TestOutcome], label: str) -> None:
    passed = sum(o.passed for o in outcomes)
    print(f"\n{label}: {passed}/{len(outcomes)} inline tests passed across {len({o.rule_id for o in outcomes})} rules")


def test_enrichment_rules_pass_their_own_tests(enrichment_rules: RuleSet, folder: Path) -> None:
    """Every pypanther rule that reads p_enrichment (directly or via its ipinfo/tor/misp helpers) passes its tests."""
    direct = {str(p) for p in pypanther_support.enrichment_rule_files(folder)}
    assert len(direct) >= 12
    assert ACCEPTANCE <= {r.id for r in enrichment_rules}
    outcomes = run_tests(enrichment_rules)
    _report(outcomes, "pypanther enrichment rules")
    failures = [f"{o.rule_id} :: {o.test_name}: {o.reason}" for o in outcomes if not o.passed]
    assert failures == []
    enriched = [o for o in outcomes if "p_enrichment" in _log(enrichment_rules, o)]
    assert len(enriched) >= 25


def _log(ruleset: RuleSet, outcome: TestOutcome) -> dict[str, Any]:
    rule = ruleset.get(outcome.rule_id)
    assert rule is not None
    return next(t.log_data() for t in rule.tests if t.name == outcome.test_name)


def test_panther_analysis_tests_on_pypanther_bodies(enrichment_rules: RuleSet) -> None:
    """The newer panther-analysis YAML tests (69 enriched events among them) pass on the pypanther bodies.

    Two known failures: pypanther 0.1.1a62 has no GSuite.ActivityEvent data model (its GSuite model
    serves GSuite.Reports), so `udm("event_type")` is unmapped for that log type in the brute-force rules.
    """
    folder = shared_path("realdata", "rules", "panther-analysis", "enrichment_rules")
    by_id = {r.id.removesuffix("-prototype"): r for r in enrichment_rules}
    outcomes = []
    for path in sorted(folder.glob("*.yml")):
        spec = parse_rule(yaml.safe_load(path.read_text(encoding="utf-8")))
        rule = by_id.get(spec.rule_id)
        if rule is not None:
            outcomes.extend(run_test(rule, test, enrichment_rules) for test in spec.tests)
    _report(outcomes, "panther-analysis YAML tests on pypanther bodies")
    failed = {(o.rule_id, o.test_name) for o in outcomes if not o.passed}
    assert failed == {
        ("Standard.BruteForceByIP-prototype", "GSuite - Failed Login Event"),
        ("Standard.BruteForceByUser-prototype", "GSuite - Failed Login Event"),
    }
    assert len(outcomes) >= 90


@pytest.mark.slow
def test_whole_pypanther_suite(folder: Path) -> None:
    """All pypanther rules that import without panther-core (or policyuniverse) pass all their inline tests."""
    ruleset = load_rules([folder / "data_models", folder / "rules"], strict=False)
    not_installed = ("No module named 'panther_core'", "No module named 'policyuniverse'")
    unexplained = [str(i) for i in ruleset.fatal_issues if not any(m in str(i) for m in not_installed)]
    assert unexplained == []
    outcomes = run_tests(ruleset)
    _report(outcomes, "whole pypanther suite")
    assert [f"{o.rule_id} :: {o.test_name}: {o.reason}" for o in outcomes if not o.passed] == []
    assert len(ruleset) > 500
