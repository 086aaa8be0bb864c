"""Loading rules from directories: both shapes, helpers, data models, validation and duplicate ids."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from tests.detect.rulefiles import event, write_rule

from threatmatch.detect import load_rules, run_tests
from threatmatch.errors import RuleError

CLASS_RULE = '''
from threatmatch.detect import Rule, RuleTest, Severity

class Big(Rule):
    id = "Class.Big"
    log_types = ["Test.Log"]
    default_severity = Severity.HIGH
    dedup_period_minutes = 15

    def rule(self, event):
        return event.get("size", 0) > 10

    tests = [RuleTest(name="big", expected_result=True, log={"size": 11}),
             RuleTest(name="small", expected_result=False, log={"size": 1})]
'''


def test_yaml_rule_with_global_helper(tmp_path: Path) -> None:
    """A rule module imports a module from the directory's global_helpers/ by plain name."""
    (tmp_path / "global_helpers").mkdir()
    (tmp_path / "global_helpers" / "my_helpers.py").write_text("def is_admin(e):\n    return e.get('user') == 'root'\n")
    write_rule(tmp_path, "admin", "from my_helpers import is_admin\n\ndef rule(e):\n    return is_admin(e)\n",
               RuleID="Admin", DedupPeriodMinutes=5, Threshold=2, Tags=["t"],
               Tests=[{"Name": "root", "ExpectedResult": True, "Log": {"user": "root"}}])
    ruleset = load_rules([tmp_path])
    rule = ruleset.get("Admin")
    assert rule is not None and rule.dedup_period_minutes == 5 and rule.threshold == 2 and rule.tags == ("t",)
    assert [o.passed for o in run_tests(ruleset)] == [True]
    assert "my_helpers" not in sys.modules


def test_helpers_are_isolated_per_directory(tmp_path: Path) -> None:
    """Two rule directories may each ship a helper of the same name without clashing."""
    for name, value in (("one", "1"), ("two", "2")):
        root = tmp_path / name
        (root / "global_helpers").mkdir(parents=True)
        (root / "global_helpers" / "shared.py").write_text(f"VALUE = {value}\n")
        write_rule(root, "r", "import shared\n\ndef rule(e):\n    return e['v'] == shared.VALUE\n", RuleID=f"R{value}")
    ruleset = load_rules([tmp_path / "one", tmp_path / "two"])
    assert [r.rule_id for r in ruleset.run([event(v=1)])] == ["R1"]
    assert [r.rule_id for r in ruleset.run([event(v=2)])] == ["R2"]


def test_class_rules(tmp_path: Path) -> None:
    """pypanther-style Rule subclasses load with their class attributes and inline tests."""
    (tmp_path / "big.py").write_text(CLASS_RULE)
    ruleset = load_rules([tmp_path])
    rule = ruleset.get("Class.Big")
    assert rule is not None and rule.kind == "class" and rule.severity == "HIGH" and rule.dedup_period_minutes == 15
    assert all(o.passed for o in run_tests(ruleset))
    [result] = ruleset.run([event(size=50)])
    assert result.title == "Class.Big" and result.dedup == "Class.Big" and result.severity == "HIGH"


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    """The same rule id in two files is an error naming both."""
    first = write_rule(tmp_path / "a", "r", "def rule(e):\n    return True\n", RuleID="Dup")
    second = write_rule(tmp_path / "b", "r", "def rule(e):\n    return True\n", RuleID="Dup")
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path])
    assert str(first) in str(caught.value) and str(second) in str(caught.value)


def test_yaml_errors_name_the_field(tmp_path: Path) -> None:
    """Invalid YAML specs report every problem with its field path; strict loading raises them together."""
    write_rule(tmp_path, "bad", "def rule(e):\n    return True\n", Severity="Urgent", Threshold=0,
               Tests=[{"Name": "t", "ExpectedResult": "yes", "Log": {}}])
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path])
    text = str(caught.value)
    assert "Severity: expected one of Info" in text and "Threshold: expected an integer >= 1" in text
    assert "Tests[0].ExpectedResult: expected true or false" in text
    lenient = load_rules([tmp_path], strict=False)
    assert len(lenient) == 0 and len(lenient.fatal_issues) == 3


def test_missing_module_and_import_errors(tmp_path: Path) -> None:
    """A missing Filename module or a module that fails to import is reported with its file."""
    (tmp_path / "nofile.yml").write_text(yaml.safe_dump({
        "AnalysisType": "rule", "Filename": "nofile.py", "RuleID": "N", "Enabled": True, "LogTypes": ["X"],
        "Severity": "Low"}))
    write_rule(tmp_path, "broken", "import not_a_real_module_xyz\n\ndef rule(e):\n    return True\n")
    issues = [str(i) for i in load_rules([tmp_path], strict=False).fatal_issues]
    assert any("nofile.py not found" in i for i in issues)
    assert any("ModuleNotFoundError" in i and "line 1" in i for i in issues)


def test_unknown_keys_warn(tmp_path: Path) -> None:
    """An unknown YAML key is a warning with a case hint, not a failure."""
    write_rule(tmp_path, "r", "def rule(e):\n    return True\n", severityy="x", tags=["a"])
    ruleset = load_rules([tmp_path])
    warnings = [str(i) for i in ruleset.issues if not i.fatal]
    assert any("tags: unknown field, ignored (did you mean Tags?)" in w for w in warnings)


def test_keys_not_applied_warn(tmp_path: Path) -> None:
    """Panther keys that would narrow or reshape the rule's alerts but are not applied here load with a warning
    saying so (an empty value changes nothing and says nothing); the rule still runs on its rule() alone."""
    filters = {"All": [{"KeyPath": "eventName", "Condition": "Equals", "Value": "ConsoleLogin"}]}
    write_rule(tmp_path, "r", "def rule(e):\n    return True\n", InlineFilters=[filters],
               DynamicSeverities=[{"ChangeTo": "HIGH", "Conditions": []}], AlertTitle="", GroupBy=[])
    ruleset = load_rules([tmp_path])
    warnings = [str(i) for i in ruleset.issues if not i.fatal]
    assert any("InlineFilters: not applied by threatmatch: rule() sees every event" in w for w in warnings)
    assert any("DynamicSeverities: not applied by threatmatch: alerts get Severity" in w for w in warnings)
    assert not any("AlertTitle" in w or "GroupBy" in w for w in warnings)
    [result] = ruleset.run([event(eventName="GetObject")])
    assert result.matched


def test_datamodel_yaml(tmp_path: Path) -> None:
    """A datamodel YAML maps udm names for its log type, with Path and Method mappings."""
    (tmp_path / "dm.py").write_text("def actor(e):\n    return e.get('who')\n")
    (tmp_path / "dm.yml").write_text(yaml.safe_dump({
        "AnalysisType": "datamodel", "DataModelID": "DM", "Enabled": True, "LogTypes": ["Test.Log"],
        "Filename": "dm.py",
        "Mappings": [{"Name": "source_ip", "Path": "$.src.ip"}, {"Name": "actor_user", "Method": "actor"}]}))
    body = "def rule(e):\n    return e.udm('source_ip') == '1.1.1.1' and e.udm('actor_user') == 'eve'\n"
    write_rule(tmp_path, "r", body)
    [result] = load_rules([tmp_path]).run([event(src={"ip": "1.1.1.1"}, who="eve")])
    assert result.matched
