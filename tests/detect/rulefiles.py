"""Write small rule directories for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml


def write_rule(folder: Path, stem: str, body: str, **spec: Any) -> Path:
    """A panther-analysis-shaped rule: ``stem.py`` with ``body`` and ``stem.yml`` from ``spec``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    doc = {"AnalysisType": "rule", "Filename": f"{stem}.py", "RuleID": spec.pop("RuleID", stem), "Enabled": True,
           "LogTypes": spec.pop("LogTypes", ["Test.Log"]), "Severity": spec.pop("Severity", "Medium"), **spec}
    path = folder / f"{stem}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def event(**fields: Any) -> dict[str, Any]:
    """A minimal normalised event of the test log type."""
    return {"p_log_type": "Test.Log", "p_event_time": "2024-01-01 00:00:00.000", **fields}
