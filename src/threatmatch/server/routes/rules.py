"""Detections the service runs: every loaded rule with its metadata, and the rule files it could not load."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from threatmatch.detect.ruleset import LoadedRule, RuleSet
from threatmatch.server.deps import ServiceDep, TokenDep

router = APIRouter(prefix="/api/v1/rules", tags=["detections"])


def rule_record(rule: LoadedRule) -> dict[str, Any]:
    """One rule as the API and the console show it (``LoadedRule.summary`` plus what an analyst reads)."""
    return {**rule.summary(), "description": rule.description, "create_alert": rule.create_alert,
            "tags": list(rule.tags)}


def rules_report(ruleset: RuleSet) -> dict[str, Any]:
    """Every rule (enabled or not, in load order) and every load problem: a fatal one means a file's rule or data
    model is missing from the service; a warning names a key that is not applied."""
    return {"rules": [rule_record(rule) for rule in ruleset],
            "issues": [{"path": issue.path, "message": issue.message, "fatal": issue.fatal}
                       for issue in ruleset.issues]}


@router.get("", summary="Detection rules loaded by the service, and rule files it could not load",
            description="The built-in pack plus every `--rules` folder, as loaded when the service started. "
                        "`issues` lists each file that could not be loaded (`fatal`: its rule does not run) and "
                        "each warning (a Panther key threatmatch does not apply).")
def list_rules(service: ServiceDep, _: TokenDep) -> dict[str, Any]:
    return rules_report(service.engine.ruleset)
