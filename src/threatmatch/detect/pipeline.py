"""One call for the enrichment pipeline: run detections on a batch of enriched events and fold alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from threatmatch.detect.alerts import AlertManager
from threatmatch.detect.event import LookupFn
from threatmatch.detect.ruleset import RuleSet
from threatmatch.detect.runner import RuleResult, run_rules


def run_detections(
    events: list[dict[str, Any]],
    ruleset: RuleSet,
    alert_manager: AlertManager,
    now: datetime,
    *,
    lookup: LookupFn | None = None,
) -> tuple[list[RuleResult], list[dict[str, Any]]]:
    """Run ``ruleset`` over ``events``; returns (matches and errors, alerts created or updated at ``now``)."""
    results = run_rules(ruleset, events, lookup=lookup)
    return results, alert_manager.process(results, now)
