"""Load rules and data models from directories, in both shapes Panther users have.

- panther-analysis shape: ``*.yml`` with ``AnalysisType: rule`` (+ its ``Filename`` module) or
  ``AnalysisType: datamodel``; ``AnalysisType: global`` modules and ``global_helpers/`` /
  ``data_models/`` folders are importable by plain name from that directory's rules.
- class shape: any other ``*.py`` defining Rule subclasses (pypanther-style).

Helper modules are visible only while their own directory loads, so two rule directories may
each ship a ``panther_base_helpers`` without clashing. A rule id defined twice is an error that
names both files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from threatmatch.detect.compat import (
    adapt_datamodel_class,
    adapt_rule_class,
    looks_like_datamodel_class,
    looks_like_rule_class,
)
from threatmatch.detect.datamodel import DataModel, DataModels, datamodel_from_mappings
from threatmatch.detect.ruleset import AUX_FUNCTIONS, LoadedRule, LoadIssue, RuleSet
from threatmatch.detect.yamlspec import SpecErrors, parse_datamodel, parse_rule
from threatmatch.errors import RuleError

HELPER_DIRS = ("global_helpers", "data_models")
SKIPPED_TYPES = {"lookup_table", "pack", "policy", "scheduled_rule", "scheduled_query", "saved_query",
                 "correlation_rule", "derived"}


def load_rules(paths: list[Path], *, strict: bool = True) -> RuleSet:
    """Load every rule and data model under ``paths``.

    With ``strict`` any unloadable file raises one RuleError listing all problems; otherwise the
    problems are kept in ``RuleSet.issues``. Duplicate rule ids always raise.
    """
    ruleset = RuleSet()
    models: list[DataModel] = []
    for path in paths:
        if not path.exists():
            raise RuleError(f"rules path {path} does not exist")
        _load_root(path, ruleset, models)
    try:
        ruleset.datamodels = DataModels(models)
    except RuleError as exc:
        ruleset.issues.append(LoadIssue("data models", str(exc)))
    if strict and ruleset.fatal_issues:
        listing = "\n  ".join(str(issue) for issue in ruleset.fatal_issues)
        raise RuleError(f"{len(ruleset.fatal_issues)} rule file(s) could not be loaded:\n  {listing}")
    return ruleset


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix in (".yml", ".yaml", ".py")
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)
    )


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RuleError(f"not valid YAML: {exc}") from exc


def _load_root(root: Path, ruleset: RuleSet, models: list[DataModel]) -> None:
    base = root if root.is_dir() else root.parent
    files = _files(root)
    specs: list[tuple[Path, dict[str, Any]]] = []
    consumed: set[Path] = set()
    helper_dirs = [base / name for name in HELPER_DIRS if (base / name).is_dir()]
    for path in files:
        if path.suffix == ".py":
            continue
        try:
            doc = _read_yaml(path)
        except RuleError as exc:
            ruleset.issues.append(LoadIssue(str(path), str(exc)))
            continue
        if not isinstance(doc, dict) or "AnalysisType" not in doc:
            continue
        specs.append((path, doc))
        filename = doc.get("Filename")
        if isinstance(filename, str):
            consumed.add((path.parent / filename).resolve())
            if doc.get("AnalysisType") == "global" and path.parent not in helper_dirs:
                helper_dirs.append(path.parent)
    with _import_scope(helper_dirs):
        for path, doc in specs:
            _load_spec(path, doc, ruleset, models)
        for path in files:
            if path.suffix == ".py" and path.resolve() not in consumed and not _under(path, helper_dirs):
                _load_class_module(path, ruleset, models)


def _under(path: Path, dirs: list[Path]) -> bool:
    return any(path.is_relative_to(d) for d in dirs)


def _load_spec(path: Path, doc: dict[str, Any], ruleset: RuleSet, models: list[DataModel]) -> None:
    kind = doc.get("AnalysisType")
    try:
        if kind == "rule":
            ruleset.add(_yaml_rule(path, doc, ruleset))
        elif kind == "datamodel":
            models.append(_yaml_datamodel(path, doc, ruleset))
        elif kind == "global":
            return
        elif kind in SKIPPED_TYPES:
            ruleset.issues.append(LoadIssue(str(path), f"AnalysisType {kind} is not run by threatmatch", fatal=False))
        else:
            raise RuleError(f"AnalysisType: unknown value {kind!r} (expected rule, datamodel or global)")
    except SpecErrors as exc:
        ruleset.issues.extend(LoadIssue(str(path), problem) for problem in exc.problems)
    except RuleError as exc:
        if str(exc).startswith("duplicate rule id"):
            raise
        ruleset.issues.append(LoadIssue(str(path), str(exc)))


def _yaml_rule(path: Path, doc: dict[str, Any], ruleset: RuleSet) -> LoadedRule:
    spec = parse_rule(doc)
    ruleset.issues.extend(LoadIssue(str(path), w, fatal=False) for w in spec.warnings)
    module = import_file(path.parent / spec.filename, what=f"rule {spec.rule_id}")
    if not callable(getattr(module, "rule", None)):
        raise RuleError(f"Filename: {spec.filename} defines no rule(event) function")
    return LoadedRule(
        id=spec.rule_id,
        log_types=tuple(spec.log_types),
        severity=spec.severity,
        target=module,
        defined=frozenset(n for n in AUX_FUNCTIONS if callable(getattr(module, n, None))),
        source=str(path),
        kind="yaml",
        enabled=spec.enabled,
        dedup_period_minutes=spec.dedup_period_minutes,
        threshold=spec.threshold,
        display_name=spec.display_name,
        description=spec.description,
        runbook=spec.runbook,
        reference=spec.reference,
        destinations=tuple(spec.destinations) if spec.destinations is not None else None,
        tags=tuple(spec.tags),
        reports=spec.reports,
        summary_attributes=tuple(spec.summary_attributes),
        create_alert=spec.create_alert,
        tests=tuple(spec.tests),
        module=module,
    )


def _yaml_datamodel(path: Path, doc: dict[str, Any], ruleset: RuleSet) -> DataModel:
    spec = parse_datamodel(doc)
    ruleset.issues.extend(LoadIssue(str(path), w, fatal=False) for w in spec.warnings)
    module: ModuleType | None = None
    if any(method for _, _, method in spec.mappings):
        assert spec.filename is not None  # parse_datamodel guarantees it for Method mappings
        module = import_file(path.parent / spec.filename, what=f"data model {spec.model_id}")
    mappings = []
    for name, json_path, method in spec.mappings:
        function = None
        if method is not None:
            function = getattr(module, method, None)
            if not callable(function):
                raise RuleError(f"Mappings: {name!r} names Method {method!r}, which {spec.filename} does not define")
        mappings.append((name, json_path, function))
    return datamodel_from_mappings(spec.model_id, spec.log_types, mappings, enabled=spec.enabled, source=str(path))


def _load_class_module(path: Path, ruleset: RuleSet, models: list[DataModel]) -> None:
    try:
        module = import_file(path, what="rule module")
        own = [obj for obj in vars(module).values() if getattr(obj, "__module__", None) == module.__name__]
        for cls in own:
            if looks_like_rule_class(cls):
                ruleset.add(adapt_rule_class(cls, str(path)))
            elif looks_like_datamodel_class(cls):
                models.append(adapt_datamodel_class(cls))
    except RuleError as exc:
        if str(exc).startswith("duplicate rule id"):
            raise
        ruleset.issues.append(LoadIssue(str(path), str(exc)))


def module_name(path: Path) -> str:
    """A unique, stable module name for a rule file (two files with the same stem never collide)."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"threatmatch_rules_{digest}_{stem}"


def import_file(path: Path, *, what: str) -> ModuleType:
    """Import one Python file under a unique name; RuleError (with the failing line) when it does not load."""
    if not path.is_file():
        raise RuleError(f"{what}: module file {path} not found")
    name = module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuleError(f"{what}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = f" (line {frames[-1].lineno})" if frames else ""
        raise RuleError(f"{what}: importing {path.name} failed{line}: {type(exc).__name__}: {exc}") from exc
    return module


@contextmanager
def _import_scope(dirs: list[Path]) -> Iterator[None]:
    """Make the modules in ``dirs`` importable by plain name, then hide them again.

    Same-named modules already loaded are set aside and restored afterwards; the rule modules keep
    their references to the helpers they imported.
    """
    names = {p.stem for d in dirs for p in d.glob("*.py")} | {
        p.name for d in dirs for p in d.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    names.discard("__init__")
    saved: dict[str, ModuleType] = {}
    for key in [k for k in sys.modules if k in names or k.split(".")[0] in names]:
        saved.setdefault(key, sys.modules[key])
        del sys.modules[key]
    entries = [str(d) for d in dirs]
    sys.path[:0] = entries
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for entry in entries:
            if entry in sys.path:
                sys.path.remove(entry)
        for key in [k for k in sys.modules if k.split(".")[0] in names]:
            del sys.modules[key]
        sys.modules.update(saved)
