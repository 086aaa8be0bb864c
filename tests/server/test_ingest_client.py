"""`threatmatch ingest --url ... --rejects FILE`, the real command against a real server: every line that is not
ingested ends up in the rejects file with its file, line number, reason and raw text, whether the service rejected
it or its whole request failed, so lines in = accepted + rejected + blank + not sent."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.server.harness import LiveServer, run_server

from threatmatch.server.client import MAX_BATCH_LINES, _batches
from threatmatch.server.ingest_core import MAX_REJECT_DETAILS
from threatmatch.server.settings import ServerSettings


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("home"), ServerSettings(run_scheduler=False, ingest_workers=0)) as server:
        yield server


def _ingest(live: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "THREATMATCH_TOKEN": live.token}
    return subprocess.run([sys.executable, "-m", "threatmatch", "ingest", "--url", live.base_url, *args],
                          capture_output=True, text=True, env=env, timeout=300)


def _event(n: int) -> bytes:
    return orjson.dumps({"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventName": "GetObject",
                         "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1",
                         "requestID": f"R{n}"})


def _rejects(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_rejected_line_reaches_the_rejects_file(live: LiveServer, tmp_path: Path) -> None:
    """More rejects than the service lists for one request (1,000) still all arrive, with their own line numbers
    and raw text: the client sends at most that many lines per request."""
    lines: list[bytes] = []
    bad: dict[int, bytes] = {}
    for n in range(1, 2602):
        if n == 7:
            lines.append(b"")  # blank: neither accepted nor rejected
        elif n % 2:
            bad[n] = b'{"broken": ' + str(n).encode()
            lines.append(bad[n])
        else:
            lines.append(_event(n))
    data = tmp_path / "trail.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    done = _ingest(live, "--log-type", "AWS.CloudTrail", "--rejects", str(rejects), "--json", str(data))
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert (summary["accepted"], summary["rejected"], summary["not_sent"]) == (1300, 1300, 0)
    assert summary["accepted"] + summary["rejected"] + 1 == len(lines)  # + the blank line
    written = _rejects(rejects)
    assert [r["line"] for r in written] == sorted(n for n in bad if n != 7)
    assert all(r["raw"] == bad[r["line"]].decode() and r["file"] == str(data) for r in written)
    assert all(r["reason"].startswith("invalid JSON") for r in written)


def test_lines_of_a_failed_request_are_kept_with_the_reason(live: LiveServer, tmp_path: Path) -> None:
    """A request the service refuses as a whole (here: an unknown log type) ingests none of its lines: each goes
    to the rejects file saying why, the summary counts them as not sent, and the command exits 1."""
    data = tmp_path / "trail.jsonl"
    data.write_bytes(b"\n".join(_event(n) for n in range(3)) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    done = _ingest(live, "--log-type", "AWS.CloudTrial", "--rejects", str(rejects), str(data))
    assert done.returncode == 1
    assert "3 line(s) not ingested (their requests failed): send them again" in done.stdout
    assert f"lines not ingested, with their reasons: {rejects}" in done.stdout
    written = _rejects(rejects)
    assert [r["line"] for r in written] == [1, 2, 3]
    assert all(r["reason"].startswith("not ingested: the service refused the batch (404)") for r in written)
    assert "AWS.CloudTrail" in written[0]["reason"]  # the service's did-you-mean comes along
    assert written[0]["raw"] == _event(0).decode()


def test_an_unwritable_rejects_path_is_refused_before_sending(live: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "trail.jsonl"
    data.write_bytes(_event(1) + b"\n")
    done = _ingest(live, "--log-type", "AWS.CloudTrail", "--rejects", str(tmp_path / "missing" / "r.jsonl"),
                   str(data))
    assert done.returncode != 0
    assert "--rejects" in done.stderr and "cannot write it" in done.stderr


def test_batches_hold_at_most_as_many_lines_as_the_service_lists_rejects() -> None:
    assert MAX_BATCH_LINES == MAX_REJECT_DETAILS
    chunks = list(_batches((b"x\n" for _ in range(2500)), batch_bytes=1 << 30))
    assert [(first, len(lines)) for first, lines in chunks] == [(1, 1000), (1001, 1000), (2001, 500)]
    by_size = list(_batches((b"x" * 99 + b"\n" for _ in range(30)), batch_bytes=1000))
    assert [len(lines) for _, lines in by_size] == [10, 10, 10]
