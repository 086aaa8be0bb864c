"""Writing enriched events and alerts to the lake from a separate process.

Turning events into Parquet is CPU work that would otherwise share the interpreter lock with parsing and
enrichment; a writer process puts it on another core. Events arrive either as one JSON text per batch
(``write_events``: the writer decodes them and builds their Arrow table) or already built into their Arrow
table (``write_table``: ingest worker processes build it themselves, so that work runs on every worker's core
instead of all in the one writer, which then only concatenates and writes). The queue is bounded, so a slow
disk slows ingest down (back-pressure) instead of growing memory. ``flush()`` waits until everything sent so
far is on disk (searches call it first, so they see every accepted event). If the writer dies, ingest fails loudly
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
import pyarrow as pa

from threatmatch.errors import StorageError
from threatmatch.home import Home

MAX_PENDING_BATCHES = 16


def table_to_ipc(table: pa.Table) -> bytes:
    """An Arrow table as one IPC stream (what ``write_table`` sends; reading it back copies nothing)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return bytes(sink.getvalue())


def table_from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def encode_table(log_type: str, events: list[dict[str, Any]], texts: Sequence[bytes | None] | None = None) -> bytes:
    """``events`` as their lake table (``lake.schema.events_table``; ``texts`` as there) in IPC form, built by the
    caller's process; StorageError when one cannot be stored."""
    from threatmatch.lake.schema import events_table

    try:
        return table_to_ipc(events_table(log_type, events, texts))
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        raise StorageError(f"events of {log_type} cannot be stored ({type(exc).__name__}: {exc}); nothing of "
                           "this request was stored: fix the value or its schema type and send the request "
                           "again") from exc


def encode_events(log_type: str, events: Sequence[Mapping[str, Any]]) -> bytes:
    """``events`` as one JSON array for the lake writer (StorageError when one cannot be stored)."""
    try:
        return orjson.dumps(list(events))
    except orjson.JSONEncodeError as exc:
        raise StorageError(f"events of {log_type} cannot be stored ({exc}); nothing of this request was "
                           "stored: fix the value or its schema type and send the request again") from exc


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
            elif kind == "table":
                lake.write_table(arg, table_from_ipc(payload))
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

    def write_payload(self, log_type: str, payload: bytes) -> None:
        """Queue events already encoded by ``encode_events`` (one JSON text: about a sixth of the cost of
        pickling the dicts)."""
        self._put(("events", log_type, payload))

    def write_table(self, log_type: str, payload: bytes) -> None:
        """Queue events already built into their lake table by ``encode_table`` (the Arrow work is then done by
        whichever process enriched them, not by the single writer)."""
        self._put(("table", log_type, payload))

    def write_events(self, log_type: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``events`` (StorageError here, before anything is queued, when one cannot be stored)."""
        self.write_payload(log_type, encode_events(log_type, events))

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
