"""Ingest in worker processes: same answers as in-process, every change reaches the workers, a dead worker
loses nothing and is replaced."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.server.harness import LiveServer, run_server

from threatmatch.emulator.testing import EmulatorHandle, run_emulator
from threatmatch.server.settings import ServerSettings

C2_IP = "198.51.100.77"
LATE_IP = "203.0.113.99"
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "threatmatch" / "server" / "demo_logs"

CRASH_RULE_YML = """AnalysisType: rule
Filename: crash.py
RuleID: Test.KillsItsProcess
Enabled: true
LogTypes: [AWS.CloudTrail]
Severity: Low
"""
CRASH_RULE_PY = '''import os


def rule(event):
    if event.get("eventName") == "KillTheWorker":
        os._exit(9)  # what a crashing C extension in a rule looks like from outside
    return False
'''

CUSTOM_SCHEMA = b"""schema: Custom.Beacon
fields:
  - name: ts
    type: timestamp
    timeFormat: rfc3339
    isEventTime: true
  - name: remote
    type: string
    indicators: [ip]
"""


def cloudtrail(ip: str, name: str = "ConsoleLogin") -> bytes:
    return orjson.dumps({"eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventName": name,
                         "eventSource": "signin.amazonaws.com", "awsRegion": "us-east-1",
                         "sourceIPAddress": ip, "recipientAccountId": "111122223333",
                         "userIdentity": {"type": "IAMUser", "userName": "casey",
                                          "arn": "arn:aws:iam::111122223333:user/casey"}})


def ingest(live: LiveServer, body: bytes, log_type: str = "AWS.CloudTrail") -> Any:
    return live.client.post(f"/api/v1/ingest/{log_type}", content=body)


def lake_count(live: LiveServer) -> int:
    """Events stored in the lake (0 before the first one)."""
    answer = live.client.post("/api/v1/search", json={"sql": "SELECT count(*) AS n FROM all_events"})
    if answer.status_code == 422 and "all_events does not exist" in answer.text:
        return 0
    assert answer.status_code == 200, answer.text
    return int(answer.json()["rows"][0][0])


def add_provider(live: LiveServer, emulator: EmulatorHandle) -> None:
    created = live.client.post("/api/v1/providers", json={
        "name": "Anomali", "subdomain": emulator.base_url, "username": emulator.username,
        "api_token": emulator.api_key, "query": 'status="active"'})
    assert created.status_code == 201, created.text
    synced = live.client.post("/api/v1/providers/Anomali/sync")
    assert synced.status_code == 200, synced.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, EmulatorHandle]]:
    """A server with two ingest workers (and a rule that kills its process on one event name)."""
    rules = tmp_path_factory.mktemp("rules")
    (rules / "crash.yml").write_text(CRASH_RULE_YML)
    (rules / "crash.py").write_text(CRASH_RULE_PY)
    settings = ServerSettings(run_scheduler=False, ingest_workers=2, rule_paths=(rules,))
    with run_emulator(indicators=300, seed=3) as emulator, \
            run_server(tmp_path_factory.mktemp("home"), settings) as live:
        emulator.add(value=C2_IP, type="ip", itype="c2_ip", confidence=95, status="active")
        add_provider(live, emulator)
        yield live, emulator


def pool_pids(live: LiveServer) -> list[int]:
    pool = live.service.engine.pool
    assert pool is not None
    return sorted(pool.pids)


def wait_for_workers(live: LiveServer, count: int) -> None:
    pool = live.service.engine.pool
    assert pool is not None
    deadline = time.monotonic() + 60
    while pool.alive() < count:
        assert time.monotonic() < deadline, "the replacement worker did not start"
        time.sleep(0.1)


def test_requests_run_in_worker_processes(world: tuple[LiveServer, EmulatorHandle]) -> None:
    live, _ = world
    pids = pool_pids(live)
    assert len(pids) == 2 and os.getpid() not in pids
    for pid in pids:
        assert Path(f"/proc/{pid}").exists() or not Path("/proc").exists()


def test_same_answers_alerts_and_stored_events_as_in_process(tmp_path: Path,
                                                              world: tuple[LiveServer, EmulatorHandle]) -> None:
    """The bundled sample logs (and a body with a C2 match and a broken line) give the same counts, matches,
    rejects, alerts and lake rows with workers as with processing inside the service."""
    live, emulator = world
    bodies = [(path.name.removesuffix(".jsonl"), path.read_bytes()) for path in sorted(SAMPLES.glob("*.jsonl"))]
    bodies.append(("AWS.CloudTrail", b"\n".join([cloudtrail(C2_IP), cloudtrail("192.0.2.10"), b"{broken-in-both", b"",
                                                 cloudtrail(C2_IP, "GetObject")])))
    assert len(bodies) >= 3
    with run_server(tmp_path / "home", ServerSettings(run_scheduler=False, ingest_workers=0)) as local:
        assert local.service.engine.pool is None
        add_provider(local, emulator)
        seen = []
        kept = []
        for server in (live, local):
            before = lake_count(server)
            answers = []
            for log_type, body in bodies:
                report = ingest(server, body, log_type).json()
                answers.append({key: report[key] for key in ("lines", "accepted", "rejected", "blank", "matched",
                                                            "alerts", "rejects")})
            seen.append((answers, lake_count(server) - before))
            sql = "SELECT log_type, line, reason, raw FROM rejects WHERE raw = '{broken-in-both' ORDER BY line"
            kept.append(server.client.post("/api/v1/search", json={"sql": sql}).json()["rows"])
    assert seen[0] == seen[1]
    # the rejected line is kept in the lake, not only listed in the answer, by a worker as by the service
    assert kept[0] == kept[1] == [["AWS.CloudTrail", 3, kept[0][0][2], "{broken-in-both"]]
    assert kept[0][0][2].startswith("invalid JSON")
    answers, stored = seen[0]
    assert sum(a["matched"] for a in answers) > 0 and sum(a["alerts"] for a in answers) > 0
    assert stored == sum(a["accepted"] for a in answers)


def test_lines_reach_a_worker_exactly(world: tuple[LiveServer, EmulatorHandle]) -> None:
    """Requests cross to the worker as one newline-joined body; blank lines, a lone blank line and a line
    holding a newline itself (sent another way) keep their count and numbers."""
    live, _ = world
    pool = live.service.engine.pool
    assert pool is not None
    done = pool.process("AWS.CloudTrail", [b"", cloudtrail("192.0.2.10"), b"{broken", b""])
    assert (done.report.lines, done.report.accepted, done.report.blank) == (4, 1, 2)
    assert [r["line"] for r in done.report.rejects] == [3]
    assert len(done.payloads) == 1
    alone = pool.process("AWS.CloudTrail", [b""])
    assert (alone.report.lines, alone.report.blank, alone.payloads) == (1, 1, [])
    odd = pool.process("AWS.CloudTrail", [cloudtrail("192.0.2.10"), b'{"a":\n1}', cloudtrail("192.0.2.11")])
    assert (odd.report.lines, odd.report.accepted, odd.report.rejected) == (3, 3, 0)


def test_a_sync_reaches_every_worker(world: tuple[LiveServer, EmulatorHandle]) -> None:
    """An indicator added upstream matches in every worker once the sync has answered."""
    live, emulator = world
    assert ingest(live, cloudtrail(LATE_IP)).json()["matched"] == 0
    emulator.add(value=LATE_IP, type="ip", itype="scan_ip", confidence=60, status="active")
    assert live.client.post("/api/v1/providers/Anomali/sync").status_code == 200
    for _ in range(6):  # requests go to both workers
        assert ingest(live, cloudtrail(LATE_IP)).json()["matched"] == 1


def test_the_service_keeps_table_sizes_not_indexes(world: tuple[LiveServer, EmulatorHandle]) -> None:
    """The workers match, so the service builds no index of its own; status and metrics still give the size."""
    live, emulator = world
    tables = live.service.tables
    assert not tables.indexed and len(tables.live["Anomali"].current) == 0
    status = live.client.get("/api/v1/providers/Anomali").json()["status"]
    assert status["rows"] == status["stored_rows"] > 0
    metrics = live.client.get("/metrics").text
    assert f'threatmatch_lookup_table_rows{{provider="Anomali"}} {float(status["rows"])}' in metrics
    emulator.add(value="203.0.113.123", type="ip", itype="scan_ip", confidence=60, status="active")
    assert live.client.post("/api/v1/providers/Anomali/sync").status_code == 200
    assert live.client.get("/api/v1/providers/Anomali").json()["status"]["rows"] == status["rows"] + 1
    assert ingest(live, cloudtrail("203.0.113.123")).json()["matched"] == 1


def test_settings_and_log_types_reach_every_worker(world: tuple[LiveServer, EmulatorHandle]) -> None:
    live, _ = world
    off = live.client.put("/api/v1/providers/Anomali/logtypes/AWS.CloudTrail", json={"enabled": False})
    assert off.status_code == 200, off.text
    for _ in range(4):
        assert ingest(live, cloudtrail(C2_IP)).json()["matched"] == 0
    on = live.client.put("/api/v1/providers/Anomali/logtypes/AWS.CloudTrail", json={"enabled": True})
    assert on.status_code == 200, on.text
    for _ in range(4):
        assert ingest(live, cloudtrail(C2_IP)).json()["matched"] == 1

    added = live.client.post("/api/v1/logtypes", content=CUSTOM_SCHEMA)
    assert added.status_code == 201, added.text
    line = orjson.dumps({"ts": "2024-05-01T10:00:00Z", "remote": C2_IP})
    for _ in range(4):
        report = ingest(live, line, "Custom.Beacon").json()
        assert (report["accepted"], report["matched"]) == (1, 1), report


def test_errors_keep_their_meaning(world: tuple[LiveServer, EmulatorHandle]) -> None:
    live, _ = world
    unknown = ingest(live, cloudtrail("192.0.2.1"), "AWS.CloudTrial")
    assert unknown.status_code == 404
    assert "AWS.CloudTrail" in unknown.json()["error"]["message"]  # did-you-mean survives the process boundary


def test_a_worker_dying_mid_request_stores_nothing_and_is_replaced(world: tuple[LiveServer, EmulatorHandle]) -> None:
    live, _ = world
    before = lake_count(live)
    doomed = b"\n".join([cloudtrail("192.0.2.20"), cloudtrail("192.0.2.21", "KillTheWorker")])
    answer = ingest(live, doomed)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "ingest_worker_died"
    assert "nothing of the request was stored" in error["message"] and "send it again" in error["message"]
    assert lake_count(live) == before
    report = ingest(live, cloudtrail("192.0.2.22")).json()  # the other worker answers meanwhile
    assert report["accepted"] == 1
    wait_for_workers(live, 2)
    assert lake_count(live) == before + 1


def test_a_worker_killed_while_idle_is_skipped_and_replaced(world: tuple[LiveServer, EmulatorHandle]) -> None:
    live, _ = world
    wait_for_workers(live, 2)
    victim = pool_pids(live)[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.2)
    for n in range(4):
        report = ingest(live, cloudtrail(f"192.0.2.{30 + n}")).json()
        assert report["accepted"] == 1, report
    wait_for_workers(live, 2)
    assert victim not in pool_pids(live)
    assert ingest(live, cloudtrail(C2_IP)).json()["matched"] == 1  # the replacement loaded the table
