"""Where the real samples for each built-in log type live, and how to read them as lines.

A source is ``(name, permissive)``: ``name`` is a path under ``../shared/realdata/logs`` (globs allowed),
``go:<prefix>`` for raw inputs lifted from Panther V1's Go tests (``go_test_inputs.jsonl``), or
``data:<path>`` for a file under ``tests/data``. ``permissive`` marks Apache/MIT/BSD sources whose
parsed fields may be copied into golden files; for Elastic-licensed and AGPL sources the golden keeps
only the ``p_*`` results and a SHA-256 of the parsed fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
from tests.conftest import DATA, shared_path

# Zeek's test suite canonifies timestamps to X's; a real ts is substituted so lines can parse.
ZEEK_CANONIFIED_TS = b"XXXXXXXXXX.XXXXXX"
ZEEK_SUBSTITUTE_TS = b"1600000000.123456"

SOURCES: dict[str, list[tuple[str, bool]]] = {
    "AWS.CloudTrail": [("aws-cloudtrail/stratus-red-team-datadog-export/*.json", True),
                       ("panther-analysis-tests/AWS.CloudTrail.jsonl", True)],
    "AWS.VPCFlow": [("aws-vpcflow/elastic-integrations/*.log", False),
                    ("panther-analysis-tests/AWS.VPCFlow.jsonl", True)],
    "AWS.ALB": [("go:AWS.ALB", False), ("panther-analysis-tests/AWS.ALB.jsonl", True)],
    "AWS.S3ServerAccess": [("panther-v1-parser-fixtures/awslogs__s3_server_access_samples.log", False),
                           ("go:AWS.S3ServerAccess", False),
                           ("panther-analysis-tests/AWS.S3ServerAccess.jsonl", True)],
    "AWS.GuardDuty": [("panther-analysis-tests/AWS.GuardDuty.jsonl", True), ("go:AWS.GuardDuty", False)],
    "Okta.SystemLog": [("panther-analysis-tests/Okta.SystemLog.jsonl", True),
                       ("panther-v1-parser-fixtures/oktalogs__oktalogs_systemlog_samples.jsonl", False)],
    "GCP.AuditLog": [("panther-analysis-tests/GCP.AuditLog.jsonl", True),
                     ("panther-v1-parser-fixtures/gcplogs__auditlog_samples.jsonl", False), ("go:GCP.AuditLog", False)],
    "GSuite.Reports": [("panther-v1-parser-fixtures/gsuitelogs__reportslog_samples.jsonl", False)],
    "GitHub.Audit": [("panther-analysis-tests/GitHub.Audit.jsonl", True)],
    "Cloudflare.HttpRequest": [("panther-analysis-tests/Cloudflare.HttpRequest.jsonl", True)],
    "Crowdstrike.FDREvent": [("panther-analysis-tests/Crowdstrike.FDREvent.jsonl", True), ("go:Crowdstrike.", False)],
    "Windows.Sysmon": [
        ("windows-sysmon/otrf-security-datasets/cmd_bitsadmin_download_psh_script_2020-10-2302365189.json", True)],
    "Suricata.EVE": [("suricata/elastic-beats/eve-small.log", False), ("go:Suricata.", False)],
    "Nginx.Access": [("nginx/elastic-integrations/test-access.log", False), ("go:Nginx.Access", False)],
    "Apache.AccessCombined": [("apache/elastic-integrations/test-access-basic.log", False), ("go:Apache.", False)],
    "Zeek.Conn": [("zeek/zeek-btest-baselines/*__conn.log", True)],
    "Zeek.DNS": [("zeek/zeek-btest-baselines/*__dns.log", True), ("go:Zeek.DNS", False)],
    "Zeek.HTTP": [("zeek/zeek-btest-baselines/*__http.log", True)],
    "Zeek.SSL": [("zeek/zeek-btest-baselines/*__ssl.log", True)],
    "Syslog.RFC5424": [("go:Syslog.RFC5424", False), ("data:logtypes/rfc5424_examples.log", True)],
}


def _go_inputs(prefix: str) -> list[bytes]:
    path = shared_path("realdata", "logs", "panther-v1-parser-fixtures", "go_test_inputs.jsonl")
    found = []
    for line in path.read_bytes().splitlines():
        record = orjson.loads(line)
        if record["log_type"].startswith(prefix):
            found.append(record["raw"].encode())
    return found


def source_files(name: str) -> list[tuple[str, list[bytes]]]:
    """(label, lines) for one source entry; globs expand to one entry per file."""
    if name.startswith("go:"):
        return [(name, _go_inputs(name[3:]))]
    if name.startswith("data:"):
        path = DATA / name[5:]
        return [(name, path.read_bytes().splitlines(keepends=True))]
    root = shared_path("realdata", "logs")
    paths = sorted(root.glob(name))
    assert paths, f"no real sample matches {name}"
    found = []
    for path in paths:
        data = path.read_bytes()
        if "/zeek/" in path.as_posix():
            data = data.replace(ZEEK_CANONIFIED_TS, ZEEK_SUBSTITUTE_TS)
        found.append((path.relative_to(root).as_posix(), data.splitlines(keepends=True)))
    return found


def iter_sources(log_type: str) -> Iterator[tuple[str, bool, list[bytes]]]:
    """Every (label, permissive, lines) sample of a log type."""
    for name, permissive in SOURCES[log_type]:
        for label, lines in source_files(name):
            yield label, permissive, lines


GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
