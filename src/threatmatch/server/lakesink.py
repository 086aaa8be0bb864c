"""Writing enriched events and alerts to the lake from a separate process.

Turning events into Parquet is CPU work that would otherwise share the interpreter lock with parsing and
enrichment; a writer process puts it on another core. The queue is bounded, so a slow disk slows ingest
down (back-pressure) instead of growing memory. ``flush()`` waits until everything sent so far is on disk
(searches call it first, so they see every accepted event). If the writer dies, ingest fails loudly
(503) rather than accepting events it cannot store.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from threatmatch.errors import StorageError
from threatmatch.home import Home

MAX_PENDING_BATCHES = 16


def _writer_main(root: str, inbox: Any, acks: Any) -> None:  # pragma: no cover - runs in the child process
    from threatmatch.lake import Lake
    from threatmatch.runtime import tune_gc_for_bulk_work

    tune_gc_for_bulk_work()
    lake = Lake(Home(Path(root)), buffer_rows=50_000, flush_interval_s=2.0)
    failure: str | None = None
    while True:
        kind, arg, payload = inbox.get()
        try:
            if kind == "events":
                lake.write_events(arg, orjson.loads(payload))
            elif kind == "alerts":
                lake.write_alerts(payload)
            elif kind == "flush":
                lake.flush()
                acks.put((arg, failure))
                failure = None
            elif kind == "stop":
                lake.close()
                acks.put((arg, failure))
                return
        except Exception as exc:  # reported on the next flush; the process keeps serving
            failure = f"{type(exc).__name__}: {exc}"
            if kind in ("flush", "stop"):
                acks.put((arg, failure))
                failure = None


class LakeSink:
    """``write_events`` / ``write_alerts`` / ``flush`` / ``close`` backed by a writer process."""

    def __init__(self, home: Home) -> None:
        context = mp.get_context("spawn")  # never fork a threaded server
        self._inbox = context.Queue(MAX_PENDING_BATCHES)
        self._acks = context.Queue()
        self._process = context.Process(target=_writer_main, args=(str(home.root), self._inbox, self._acks),
                                        name="threatmatch-lake-writer", daemon=True)
        self._process.start()
        self._lock = threading.Lock()
        self._sequence = 0

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def _put(self, item: tuple[str, Any, Any]) -> None:
        if not self._process.is_alive():
            raise StorageError(f"the lake writer process has stopped (exit code {self._process.exitcode}); "
                               "nothing more can be stored: restart the service and check the disk")
        self._inbox.put(item)

    def write_events(self, log_type: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``events`` for the writer as one JSON text (about a sixth of the cost of pickling the dicts
        on the ingest thread). Events the lake could not store fail here, before the request answers."""
        try:
            payload = orjson.dumps(list(events))
        except orjson.JSONEncodeError as exc:
            raise StorageError(f"events of {log_type} cannot be stored ({exc}); nothing of this batch was "
                               "written: fix the value or its schema type and send the batch again") from exc
        self._put(("events", log_type, payload))

    def write_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        self._put(("alerts", None, list(alerts)))

    def _round_trip(self, kind: str, timeout_s: float) -> None:
        with self._lock:
            self._sequence += 1
            wanted = self._sequence
            self._put((kind, wanted, None))
            while True:
                try:
                    number, failure = self._acks.get(timeout=timeout_s)
                except queue.Empty:
                    raise StorageError(f"the lake writer did not confirm within {timeout_s:g} s") from None
                if number == wanted:
                    break
        if failure:
            raise StorageError(f"writing to the lake failed: {failure}")

    def flush(self, timeout_s: float = 120.0) -> None:
        """Return once every batch sent so far is written (raises if a write failed)."""
        self._round_trip("flush", timeout_s)

    def close(self, timeout_s: float = 60.0) -> None:
        if self._process.is_alive():
            try:
                self._round_trip("stop", timeout_s)
            finally:
                self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.terminate()
