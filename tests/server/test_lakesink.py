"""The lake writer process behind the service: what it is sent is what the lake holds, alerts included."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from threatmatch.errors import StorageError
from threatmatch.home import Home
from threatmatch.lake import Lake
from threatmatch.runtime import PIPE_BUFFER_BYTES, wide_pipe
from threatmatch.server.lakesink import LakeSink, encode_table


def alert(alert_id: str, samples: list[dict[str, Any]], count: int) -> dict[str, Any]:
    return {"alert_id": alert_id, "rule_id": "Test.Rule", "title": f"alert {alert_id}", "severity": "HIGH",
            "dedup": alert_id, "created_at": "2024-05-01 10:00:00.000", "updated_at": "2024-05-01 10:00:00.000",
            "first_event_time": "2024-05-01 10:00:00.000", "last_event_time": "2024-05-01 10:00:00.000",
            "event_count": count, "log_types": ["AWS.CloudTrail"], "alert_context": {"n": count},
            "sample_events": samples}


def event(n: int) -> dict[str, Any]:
    return {"p_log_type": "AWS.CloudTrail", "p_row_id": f"{n:032x}", "p_event_time": "2024-05-01 10:00:00.000",
            "eventName": "ConsoleLogin", "n": n, "nested": {"ip": "192.0.2.1", "list": [1, 2.5, None, "é"]}}


def stored_alerts(home: Home) -> dict[str, dict[str, Any]]:
    with Lake(home) as lake:
        rows = lake.search("SELECT alert_id, event_count, sample_events, alert_context FROM alerts").records()
    return {row["alert_id"]: row for row in rows}


def as_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@pytest.fixture
def sink(tmp_path: Path) -> Any:
    home = Home(tmp_path / "home").ensure()
    sink = LakeSink(home)
    yield home, sink
    sink.close()


def test_alert_updates_store_their_latest_state_and_all_their_samples(sink: Any) -> None:
    """An alert is sent again on every update; samples that did not change and samples that grew are both
    stored exactly (the writer receives them encoded once per alert and sample count)."""
    home, lake_sink = sink
    samples = [event(n) for n in range(3)]
    lake_sink.write_alerts([alert("a1", samples[:2], 2), alert("b2", samples[:1], 1)])
    lake_sink.write_alerts([alert("a1", samples[:2], 3)])  # same samples, one more event
    lake_sink.write_alerts([alert("a1", samples, 4)])  # one more sample
    anonymous = {key: value for key, value in alert("x", samples[1:], 2).items() if key != "alert_id"}
    lake_sink.write_alerts([anonymous])  # no id to cache on: sent as it is
    lake_sink.flush()
    found = stored_alerts(home)
    assert set(found) == {"a1", "b2", None}
    assert as_json(found[None]["sample_events"]) == samples[1:]
    assert found["a1"]["event_count"] == 4 and as_json(found["a1"]["alert_context"]) == {"n": 4}
    assert as_json(found["a1"]["sample_events"]) == samples
    assert as_json(found["b2"]["sample_events"]) == samples[:1]


def test_events_sent_as_tables_are_stored_whole(sink: Any) -> None:
    home, lake_sink = sink
    events = [event(n) for n in range(2500)]
    lake_sink.write_table("AWS.CloudTrail", encode_table("AWS.CloudTrail", events))
    lake_sink.write_events("AWS.CloudTrail", events[:10])
    lake_sink.flush()
    with Lake(home) as lake:
        assert lake.search("SELECT count(*) AS n FROM aws_cloudtrail").rows == [[2510]]
        assert lake.search("SELECT max(n) AS n FROM aws_cloudtrail").rows == [[2499]]


def test_a_dead_writer_is_a_clear_storage_error(sink: Any) -> None:
    _, lake_sink = sink
    lake_sink._process.kill()
    lake_sink._process.join(10)
    with pytest.raises(StorageError, match="lake writer process has stopped"):
        lake_sink.write_alerts([alert("c3", [event(1)], 1)])


def test_wide_pipes_carry_megabytes_intact() -> None:
    """Both ends get buffers above the 208 KiB default where the kernel allows it (up to PIPE_BUFFER_BYTES),
    and a message of megabytes arrives whole."""
    wmem_max = Path("/proc/sys/net/core/wmem_max")
    limit = int(wmem_max.read_text()) if wmem_max.exists() else 0
    ends = wide_pipe(mp.get_context("spawn"))
    try:
        for end in ends:
            with socket.socket(fileno=os.dup(end.fileno())) as sock:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= min(PIPE_BUFFER_BYTES, limit)
        payload = os.urandom(3 * 1024 * 1024)
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(ends[1].recv_bytes()))
        reader.start()
        ends[0].send_bytes(payload)
        reader.join(30)
        assert received == [payload]
        ends[1].send((1, "two"))
        assert ends[0].recv() == (1, "two")
    finally:
        for end in ends:
            end.close()
