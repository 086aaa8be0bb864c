"""Writing enriched events and alerts to the lake from a separate process.

Turning events into Parquet is CPU work that would otherwise share the interpreter lock with parsing and
enrichment; a writer process puts it on another core. Events arrive either as one JSON text per batch
(``write_events``: the writer decodes them and builds their Arrow table) or already built into their Arrow
table (``write_table``: ingest worker processes build it themselves, so that work runs on every worker's core
instead of all in the one writer, which then only concatenates and writes). Payloads cross as raw bytes over a
``wide_pipe`` (never pickled); the writer reads them in a thread of its own into a bounded queue, so a slow
disk slows ingest down (back-pressure) instead of growing memory. ``flush()`` waits until everything sent so
far is on disk (searches call it first, so they see every accepted event). If the writer dies, ingest fails loudly
(503) rather than accepting events it cannot store.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from threatmatch.errors import StorageError
from threatmatch.home import Home
from threatmatch.lake.schema import JsonText, dumps, events_table
from threatmatch.runtime import wide_pipe

MAX_PENDING_BATCHES = 16
MAX_CACHED_SAMPLES = 2_000  # alerts whose encoded samples are kept (up to ten events each)


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


_RAW_KINDS = ("events", "table")  # messages followed by their payload as raw bytes


def _receive(conn: Connection, inbox: queue.Queue[tuple[str, Any, Any]]) -> None:  # pragma: no cover - child
    """Move messages from the pipe to ``inbox`` (blocking when it is full); end-of-file (the service is gone)
    becomes a final ``("gone", None, None)``."""
    while True:
        try:
            kind, arg, payload = conn.recv()
            if kind in _RAW_KINDS:
                payload = conn.recv_bytes()
        except (EOFError, OSError):
            inbox.put(("gone", None, None))
            return
        inbox.put((kind, arg, payload))


def _writer_main(root: str, conn: Connection, acks: Any) -> None:  # pragma: no cover - runs in the child process
    from threatmatch.lake import Lake
    from threatmatch.runtime import name_process, tune_for_bulk_work

    name_process("tm-lake-writer")
    tune_for_bulk_work()
    lake = Lake(Home(Path(root)), buffer_rows=50_000, flush_interval_s=2.0)
    inbox: queue.Queue[tuple[str, Any, Any]] = queue.Queue(MAX_PENDING_BATCHES)
    threading.Thread(target=_receive, args=(conn, inbox), name="threatmatch-lake-inbox", daemon=True).start()
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
            elif kind == "rejects":
                lake.write_rejects(payload)
            elif kind == "flush":
                lake.flush()
                acks.put((arg, failure))
                failure = None
            elif kind in ("stop", "gone"):
                lake.close()
                if kind == "stop":
                    acks.put((arg, failure))
                return
        except Exception as exc:  # reported on the next flush; the process keeps serving
            failure = f"{type(exc).__name__}: {exc}"
            if kind in ("flush", "stop"):
                acks.put((arg, failure))
                failure = None
            if kind in ("stop", "gone"):
                return


class LakeSink:
    """``write_events`` / ``write_alerts`` / ``write_rejects`` / ``flush`` / ``close`` backed by a writer process."""

    def __init__(self, home: Home) -> None:
        context = mp.get_context("spawn")  # never fork a threaded server
        self._conn, child_end = wide_pipe(context)
        self._acks = context.Queue()
        self._process = context.Process(target=_writer_main, args=(str(home.root), child_end, self._acks),
                                        name="threatmatch-lake-writer", daemon=True)
        self._process.start()
        child_end.close()  # the writer holds the only other end: its death is a broken pipe here
        self._send_lock = threading.Lock()  # one message (and its payload) at a time on the pipe
        self._cache_lock = threading.Lock()
        self._samples: dict[str, tuple[int, JsonText]] = {}  # alert id -> (sample count, samples as JSON)
        self._lock = threading.Lock()
        self._sequence = 0

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def _stopped(self) -> StorageError:
        return StorageError(f"the lake writer process has stopped (exit code {self._process.exitcode}); "
                            "nothing more can be stored: restart the service and check the disk")

    def _put(self, kind: str, arg: Any, payload: Any = None) -> None:
        if not self._process.is_alive():
            raise self._stopped()
        try:
            with self._send_lock:
                if kind in _RAW_KINDS:
                    self._conn.send((kind, arg, None))
                    self._conn.send_bytes(payload)
                else:
                    self._conn.send((kind, arg, payload))
        except OSError:
            self._process.join(1.0)
            raise self._stopped() from None

    def write_payload(self, log_type: str, payload: bytes) -> None:
        """Queue events already encoded by ``encode_events`` (one JSON text: about a sixth of the cost of
        pickling the dicts)."""
        self._put("events", log_type, payload)

    def write_table(self, log_type: str, payload: bytes) -> None:
        """Queue events already built into their lake table by ``encode_table`` (the Arrow work is then done by
        whichever process enriched them, not by the single writer)."""
        self._put("table", log_type, payload)

    def write_events(self, log_type: str, events: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``events`` (StorageError here, before anything is queued, when one cannot be stored)."""
        self.write_payload(log_type, encode_events(log_type, events))

    def write_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Queue alerts (their current state). Sample events go as JSON encoded once per alert and sample
        count: an alert is rewritten on every request that adds to it, and its samples, up to ten whole
        events, stop changing once full, so encoding them each time cost the service and the writer more
        than the rest of the alert traffic. This relies on what ``AlertManager`` guarantees: the samples of
        one alert id only ever grow, so the same count means the same samples."""
        self._put("alerts", None, [self._with_encoded_samples(alert) for alert in alerts])

    def write_rejects(self, rejects: Sequence[Mapping[str, Any]]) -> None:
        """Queue rejected lines (``lake.schema.REJECT_FIXED`` keys)."""
        self._put("rejects", None, list(rejects))

    def _with_encoded_samples(self, alert: Mapping[str, Any]) -> Mapping[str, Any]:
        samples = alert.get("sample_events")
        if not isinstance(samples, list) or not samples:
            return alert
        alert_id = alert.get("alert_id")
        if not isinstance(alert_id, str):
            return alert  # nothing to key a cache on: sent as it is
        with self._cache_lock:
            count, encoded = self._samples.get(alert_id, (0, None))
        if encoded is None or count != len(samples):
            encoded = JsonText(dumps(samples))
            with self._cache_lock:
                self._samples.pop(alert_id, None)  # re-inserted last: the oldest encodings go first
                self._samples[alert_id] = (len(samples), encoded)
                while len(self._samples) > MAX_CACHED_SAMPLES:
                    del self._samples[next(iter(self._samples))]
        return {**alert, "sample_events": encoded}

    def _round_trip(self, kind: str, timeout_s: float) -> None:
        with self._lock:
            self._sequence += 1
            wanted = self._sequence
            self._put(kind, wanted)
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
        self._conn.close()
