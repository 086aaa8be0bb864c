"""Row building in helper processes: same rows as in-process building, and no helper outlives its sync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.sync.helpers import FAST_RETRY, add_provider

from threatmatch.emulator.testing import run_emulator
from threatmatch.errors import SyncError
from threatmatch.providers.threatstream.row_worker import PageRowIds, RowBuilders
from threatmatch.providers.threatstream.source import (
    MAX_WORKERS,
    ThreatStreamSource,
    available_cores,
    default_workers,
    idle_cores,
)
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_rows import unpack_rows
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with run_emulator(indicators=3500, seed=17) as handle:
        yield handle


def _batches(tmp_path: Path, emulator: Any, **source_options: Any) -> list[Any]:
    home = add_provider(tmp_path / "home", emulator)
    config = ProviderRepo(connect(home.database), SecretBox.for_key_file(home.secret_key)).get("anomali")
    with httpx.Client() as http:
        return list(ThreatStreamSource(config, http, retry=FAST_RETRY, **source_options).batches(now=NOW))


def _without_row_id(row: bytes) -> dict[str, Any]:
    decoded = orjson.loads(row)
    assert len(decoded.pop("p_row_id")) == 32
    return dict(decoded)


def test_helpers_build_the_same_rows_in_the_same_order(tmp_path: Path, emulator: Any) -> None:
    """Rows built by two helper processes equal in-process rows, page by page, apart from their unique row ids."""
    local = _batches(tmp_path / "a", emulator, workers=0)
    helped = _batches(tmp_path / "b", emulator, workers=2, parallel_min=1)
    assert [(b.fetched, b.total, b.rejects) for b in helped] == [(b.fetched, b.total, b.rejects) for b in local]
    ours = [row for batch in helped for row in unpack_rows(batch.packed)]
    theirs = [row for batch in local for row in unpack_rows(batch.packed)]
    assert len(ours) == len(theirs) == 3500
    assert [r[:-1] for r in ours] == [r[:-1] for r in theirs]
    assert [_without_row_id(r[-1]) for r in ours] == [_without_row_id(r[-1]) for r in theirs]
    assert len({orjson.loads(r[-1])["p_row_id"] for r in ours}) == 3500


def test_rejects_from_helpers_name_page_and_position() -> None:
    """An object a helper cannot use comes back as a reject with its page, cursor, position and reason."""
    builders = RowBuilders(1)
    try:
        builders.submit([b'{"id": 1, "value": "10.0.0.1", "type": "ip"}', b'{"value": "x"}', b"[1]"],
                        parse_time="2026-01-01 00:00:00.000", number=4, cursor=77)
        packed, rejects = builders.result()
    finally:
        builders.close()
    assert [r[0] for r in unpack_rows(packed)] == ["10.0.0.1"]
    assert [reject.split(":")[0] for reject in rejects] == ["page 4 (update_id > 77), object 1",
                                                           "page 4 (update_id > 77), object 2"]
    assert "integer `id`" in rejects[0]


def test_integers_beyond_64_bits_come_back_from_helpers_exactly() -> None:
    """A row whose update_id and confidence exceed 64 bits comes back from a helper with both values exact."""
    builders = RowBuilders(1)
    try:
        body = f'{{"id": 1, "value": "10.0.0.1", "type": "ip", "confidence": {2**64}, "update_id": {2**70}}}'
        builders.submit([body.encode(), b'{"id": 2, "value": "10.0.0.2", "type": "ip"}'],
                        parse_time="2026-01-01 00:00:00.000", number=1, cursor=None)
        packed, rejects = builders.result()
    finally:
        builders.close()
    rows = unpack_rows(packed)
    assert rejects == [] and [(r[5], r[6]) for r in rows] == [(2**64, 2**70), (None, None)]
    assert json.loads(rows[0][-1])["update_id"] == 2**70 and json.loads(rows[0][-1])["confidence"] == 2**64


def test_a_helper_that_dies_is_reported_with_its_exit_code() -> None:
    """A helper killed mid-sync makes the sync fail with a SyncError naming its exit code, for every later page."""
    builders = RowBuilders(1)
    try:
        helper = builders._procs[0]
        os.kill(helper.pid, signal.SIGKILL)
        helper.wait(timeout=30)
        for number in (1, 2):
            builders.submit([b'{"id": 1, "value": "10.0.0.1"}'], parse_time="2026-01-01 00:00:00.000",
                            number=number, cursor=None)
        for _ in range(2):
            with pytest.raises(SyncError, match=r"exited unexpectedly \(exit code -9\)"):
                builders.result()
    finally:
        builders.close()


def test_many_pages_in_flight_come_back_whole_and_in_order() -> None:
    """Pages submitted long before their results are asked for come back whole, in submission order."""
    builders = RowBuilders(2)
    objects = [f'{{"id": {i}, "value": "10.{i // 250}.0.{i % 250}", "type": "ip", "pad": "{"x" * 1200}"}}'.encode()
               for i in range(1000)]
    try:
        for number in range(1, 9):  # each result is larger than a default 64 KiB pipe holds
            builders.submit(objects[(number - 1) * 100:number * 100 + 25], parse_time="2026-01-01 00:00:00.000",
                            number=number, cursor=None)
        firsts = [unpack_rows(builders.result()[0])[0][1] for _ in range(8)]
    finally:
        builders.close()
    assert firsts == [(number - 1) * 100 for number in range(1, 9)]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_helpers_exit_when_the_sync_process_is_killed() -> None:
    """kill -9 of a syncing process leaves no helper behind: each exits when its input pipe closes."""
    code = ("from threatmatch.providers.threatstream.row_worker import RowBuilders\n"
            "import time\n"
            "b = RowBuilders(2)\n"
            "print(' '.join(str(p.pid) for p in b._procs), flush=True)\n"
            "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    helpers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(helpers) == 2 and not any(_gone(pid) for pid in helpers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(_gone(pid) for pid in helpers):
        time.sleep(0.05)
    assert all(_gone(pid) for pid in helpers)


def test_helpers_are_chosen_only_with_a_spare_core() -> None:
    """Helpers need the sync's own core plus half a core idle; idle CPU is measured from /proc/stat when present."""
    cores = available_cores()
    expected = min(cores, MAX_WORKERS) if cores > 1 else 0
    assert default_workers(idle=float(cores)) == expected
    assert default_workers(idle=1.4) == 0
    measured = idle_cores(0.02)
    assert measured is None or 0.0 <= measured <= (os.cpu_count() or 1) + 0.01


def test_page_row_ids_are_unique_hex_across_pages_generators_and_counter_wrap() -> None:
    """PageRowIds hands out 32-hex ids that never repeat, across pages, instances and a counter wrap."""
    first, second = PageRowIds(), PageRowIds()
    taken = first.take(1000) + first.take(3) + second.take(1000)
    first._next = (1 << 32) - 2  # the counter is about to wrap: the time part moves on
    taken += first.take(5)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in taken)
    assert len(set(taken)) == len(taken)
