"""Make pypanther's rule files importable without its runtime (panther-core is not a dependency of ours).

``import pypanther`` runs its ``__init__``, which pulls in panther-core. Instead we register a bare
``pypanther`` package whose ``__path__`` is the installed one (so ``pypanther.helpers``,
``pypanther.log_types`` and ``pypanther.severity`` load from their real files) and whose ``Rule``,
``RuleTest``, ``RuleMock``, ``DataModel`` and ``DataModelMapping`` are threatmatch's own
pypanther-compatible classes. The rule classes then load through threatmatch's rule loader.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from threatmatch.detect.rule import Rule, RuleMock, RuleTest

PIN = "pypanther==0.1.1a62"
INSTALL_HINT = (
    f"pypanther is not installed; to run this compatibility suite: .venv/bin/pip install --no-deps {PIN} "
    "panther-detection-helpers==1.0.1 && .venv/bin/pip install pycountry==24.6.1 python-dateutil==2.9.0.post0 "
    "boto3==1.44.5 datadog==0.56.0"
)


@dataclass
class DataModelMapping:
    """pypanther's data-model mapping shape."""

    name: str
    path: str | None = None
    method: Any = None


class DataModel:
    """pypanther's data-model base shape (attributes only)."""

    id: str
    display_name: str = ""
    enabled: bool = True
    log_types: list[Any] = []
    mappings: list[DataModelMapping] = []


def panther_managed(cls: type) -> type:
    """pypanther parks managed rules' tests in ``_tests``; mirror that so the adapter sees the same shape."""
    cls._tests = cls.__dict__.get("tests", [])  # type: ignore[attr-defined]
    cls.tests = []  # type: ignore[attr-defined]
    return cls


def pypanther_dir() -> Path:
    """The installed pypanther package folder, skipping the test when it is absent."""
    spec = importlib.util.find_spec("pypanther")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(INSTALL_HINT)
    return Path(list(spec.submodule_search_locations)[0])


def install() -> Path:
    """Register the bare ``pypanther`` package (idempotent); returns its folder."""
    folder = pypanther_dir()
    current = sys.modules.get("pypanther")
    if current is not None and getattr(current, "__threatmatch_shim__", False):
        return folder
    package = ModuleType("pypanther")
    package.__path__ = [str(folder)]
    package.__package__ = "pypanther"
    package.__threatmatch_shim__ = True  # type: ignore[attr-defined]
    sys.modules["pypanther"] = package
    log_types = importlib.import_module("pypanther.log_types")
    severity = importlib.import_module("pypanther.severity")
    base = ModuleType("pypanther.base")
    unit_tests = ModuleType("pypanther.unit_tests")
    names = {
        "Rule": Rule, "RuleTest": RuleTest, "RuleMock": RuleMock, "Severity": severity.Severity,
        "LogType": log_types.LogType, "DataModel": DataModel, "DataModelMapping": DataModelMapping,
        "panther_managed": panther_managed,
    }
    for module in (package, base, unit_tests):
        for name, value in names.items():
            setattr(module, name, value)
    sys.modules["pypanther.base"] = base
    sys.modules["pypanther.unit_tests"] = unit_tests
    return folder


def enrichment_rule_files(folder: Path) -> list[Path]:
    """pypanther rule files that read ``p_enrichment`` directly."""
    return sorted(p for p in (folder / "rules").rglob("*.py") if "p_enrichment" in p.read_text(encoding="utf-8"))


def helper_enrichment_rule_files(folder: Path) -> list[Path]:
    """pypanther rule files that read enrichment only through the ipinfo/tor/misp/lookup-table helpers."""
    markers = ("helpers.ipinfo import", "helpers.tor import", "helpers.misp import", "helpers.lookuptable import")
    direct = set(enrichment_rule_files(folder))
    return sorted(
        p for p in (folder / "rules").rglob("*.py")
        if p not in direct and any(m in p.read_text(encoding="utf-8") for m in markers)
    )
