"""The rules test harness: mocks, mocked lookups and expected outputs, as panther_analysis_tool test does."""

from __future__ import annotations

from pathlib import Path

from tests.detect.rulefiles import write_rule

from threatmatch.detect import load_rules, run_tests

BODY = '''
import json
from unittest.mock import MagicMock

ALLOW = []

def geo(ip):
    raise RuntimeError("network lookups are not allowed in tests")

def rule(event):
    allow = json.loads(ALLOW()) if isinstance(ALLOW, MagicMock) else ALLOW
    return event.get("user") not in allow and json.loads(geo(event.get("ip")))["country"] == "CN"

def title(event):
    return "lookup says " + str(event.lookup("owners", event.get("user")))
'''


def test_mocks_patch_module_globals_and_are_restored(tmp_path: Path) -> None:
    """Mocks replace module globals with MagicMocks for one test, then the originals come back."""
    write_rule(tmp_path, "r", BODY, RuleID="M", Tests=[
        {"Name": "mocked", "ExpectedResult": True, "Log": {"user": "eve", "ip": "1.1.1.1",
                                                            "_mocked_lookup_data_": {"owners": {"eve": "team-x"}}},
         "Mocks": [{"objectName": "geo", "returnValue": '{"country": "CN"}'}]},
        {"Name": "allow-listed", "ExpectedResult": False, "Log": {"user": "eve", "ip": "1.1.1.1"},
         "Mocks": [{"objectName": "geo", "returnValue": '{"country": "CN"}'},
                   {"objectName": "ALLOW", "returnValue": '["eve"]'}]},
        {"Name": "unmocked", "ExpectedResult": True, "Log": {"user": "eve"}},
    ])
    ruleset = load_rules([tmp_path])
    mocked, allow_listed, unmocked = run_tests(ruleset)
    assert mocked.passed and mocked.result is not None and mocked.result.title == "lookup says team-x"
    assert allow_listed.passed
    assert not unmocked.passed and "RuntimeError" in unmocked.reason
    rule = ruleset.get("M")
    assert rule is not None and rule.module is not None and rule.module.ALLOW == []


def test_unknown_mock_target_fails_the_test(tmp_path: Path) -> None:
    """Mocking a name the rule does not have fails that test with a clear reason."""
    write_rule(tmp_path, "r", "def rule(e):\n    return True\n", Tests=[
        {"Name": "t", "ExpectedResult": True, "Log": {}, "Mocks": [{"objectName": "nope", "returnValue": 1}]}])
    [outcome] = run_tests(load_rules([tmp_path]))
    assert not outcome.passed and "mock failed" in outcome.reason and "nope" in outcome.reason


def test_wrong_expectation_and_aux_failure(tmp_path: Path) -> None:
    """A wrong ExpectedResult and a failing title() both fail, with the reason."""
    write_rule(tmp_path, "r", "def rule(e):\n    return True\ndef title(e):\n    return e['missing']\n", Tests=[
        {"Name": "wrong", "ExpectedResult": False, "Log": {}},
        {"Name": "title", "ExpectedResult": True, "Log": {}}])
    wrong, title = run_tests(load_rules([tmp_path]))
    assert "expected rule() to return False, got True" in wrong.reason
    assert title.reason.startswith("title() failed: KeyError")
