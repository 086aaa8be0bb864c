"""Panther V1 parser fixtures: raw inputs with the ``p_any_*`` values Panther's Go parsers produced.

Each case runs the raw input through our log type and compares every ``p_any_*`` field with the
fixture. Deliberate deviations are listed per case in ``DEVIATIONS`` with the reason; nothing else may
differ. Sources: ``panther-v1-parser-fixtures/*_tests.yml`` (``input`` + ``result``) and the Go test
inputs that embed their expected indicator fields.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import yaml
from tests.conftest import shared_path

from threatmatch.logtypes import LogTypeRegistry, RowIdGenerator

REGISTRY = LogTypeRegistry.load()

# (fixture file, case name) -> {field: (our value, reason)}: our output differs on purpose.
DEVIATIONS: dict[tuple[str, str], dict[str, tuple[list[str] | None, str]]] = {
    ("awslogs__cloudtrail_tests.yml", "cloud_trail_decrypt"): {
        "p_any_usernames": (["panther-app-LogProcessor-XXXXXXXXXXXX-FunctionRole-XXXXXXXXXX"],
                            "our CloudTrail schema marks userIdentity.userName and sessionIssuer.userName as "
                            "username indicators so user-name intel can match; V1 extracted no CloudTrail user names"),
    },
    ("gsuitelogs__reports_tests.yml", "TestParseGSuiteReports"): {
        "p_any_actor_ids": (["108239653464319429999"],
                            "actor ids did not exist in V1; current Panther fills p_any_actor_ids "
                            "from actor.profileId"),
    },
}

YAML_CASES = [
    ("awslogs__cloudtrail_tests.yml", "AWS.CloudTrail"),
    ("cloudflarelogs__cloudflare_tests.yml", "Cloudflare.HttpRequest"),
    ("gsuitelogs__reports_tests.yml", "GSuite.Reports"),
]


def _yaml_cases() -> list[tuple[str, str, str, dict[str, Any]]]:
    cases = []
    for file_name, log_type in YAML_CASES:
        path = shared_path("realdata", "logs", "panther-v1-parser-fixtures", file_name)
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc.get("logType") == log_type and "result" in doc:
                expected = {k: v for k, v in orjson.loads(doc["result"]).items() if k.startswith("p_any_")}
                cases.append((file_name, doc["name"], doc["input"], expected))
    return cases


def _go_cases() -> list[tuple[str, str, str, dict[str, Any]]]:
    """Go test inputs whose JSON embeds the expected p_any_* fields (Crowdstrike FDR)."""
    path = shared_path("realdata", "logs", "panther-v1-parser-fixtures", "go_test_inputs.jsonl")
    cases = []
    for index, line in enumerate(path.read_bytes().splitlines()):
        record = orjson.loads(line)
        raw = record["raw"]
        if not record["log_type"].startswith("Crowdstrike.") or '"p_any_' not in raw:
            continue
        event = orjson.loads(raw)
        expected = {k: v for k, v in event.items() if k.startswith("p_any_")}
        stripped = orjson.dumps({k: v for k, v in event.items() if not k.startswith("p_")}).decode()
        cases.append(("go_test_inputs.jsonl", f"line {index + 1} {record['log_type']}", stripped, expected))
    return cases


def _collected(collect: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Cases for parametrisation; none (the test is skipped) when ../shared is absent."""
    try:
        return list(collect())
    except pytest.skip.Exception:
        return []


def _run(log_type_name: str, text: str) -> dict[str, Any]:
    log_type = REGISTRY.get(log_type_name)
    results = list(log_type.parse(text.splitlines(keepends=True)))
    events = [raw for _, raw, _ in results if raw is not None]
    assert len(events) == 1, results
    event = log_type.compile_normalizer()(events[0], "2024-05-01 10:00:00.000", RowIdGenerator()())
    return {k: v for k, v in event.items() if k.startswith("p_any_")}


@pytest.mark.parametrize(("file_name", "name", "text", "expected"), _collected(_yaml_cases),
                         ids=lambda value: value if isinstance(value, str) and len(value) < 60 else "")
def test_v1_yaml_fixture(file_name: str, name: str, text: str, expected: dict[str, Any]) -> None:
    """Our p_any_* fields equal Panther V1's for its own CloudTrail, Cloudflare and GSuite fixtures."""
    got = _run(dict(YAML_CASES)[file_name], text)
    for field, (ours, _reason) in DEVIATIONS.get((file_name, name), {}).items():
        assert got.get(field) == ours, f"{name}: documented deviation on {field} changed"
        got.pop(field, None)
        if ours is None:
            expected.pop(field, None)
    assert got == expected, f"{file_name} / {name}"


@pytest.mark.parametrize(("file_name", "name", "text", "expected"), _collected(_go_cases),
                         ids=lambda value: value if isinstance(value, str) and len(value) < 60 else "")
def test_v1_go_fdr_inputs(file_name: str, name: str, text: str, expected: dict[str, Any]) -> None:
    """Crowdstrike FDR events from V1's Go tests get exactly the indicator fields V1 expected."""
    assert _run("Crowdstrike.FDREvent", text) == expected, name


def test_v1_cases_found() -> None:
    """The fixture files still hold the cases this module checks (5 YAML cases, 5 FDR events)."""
    assert len(_yaml_cases()) == 5
    assert len(_go_cases()) == 5
