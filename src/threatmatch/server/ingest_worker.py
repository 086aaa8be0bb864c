"""One ingest worker process: its own copy of the live tables, log types and rules, processing requests.

Started by ``IngestPool`` (``multiprocessing`` spawn, never fork: the service is threaded). Two pipes:

- **work**: ``("ingest", log_type, lines)``, or ``("ingest", log_type, count)`` followed by the ``count`` lines
  joined by newlines as raw bytes, → ``("ok", Processed, n)`` followed by the ``n`` lake payloads of the
  ``Processed`` as raw bytes | ``("error", class name, message)`` |
  ``("crash", traceback)``; ``("stop",)`` ends the process. The first message the worker sends is
  ``("ready", pid)`` once its tables are loaded, or ``("failed", message)``.
- **control** (a thread of its own, so a table reload never blocks requests in progress):
  ``("settings", seq, providers)``, ``("registry", seq)``, ``("table", seq, name)``, ``("all", seq, providers)``
  → ``("done", seq, None | error text)`` once the change is in use.

Tables are rebuilt aside and swapped (``LiveTable``): requests keep the index they started with. The worker
exits when the service closes its ends of the pipes or dies (the reads see end-of-file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from threatmatch.detect.runner import describe
from threatmatch.enrich.config import EnrichmentConfig
from threatmatch.errors import ThreatmatchError
from threatmatch.home import Home
from threatmatch.logtypes import LogTypeRegistry
from threatmatch.server.ingest_core import IngestCore
from threatmatch.server.tables import TableSet
from threatmatch.storage.db import connect

log = logging.getLogger("threatmatch.server")


class WorkerState:
    """The tables and the ingest core of one worker, and how they change."""

    def __init__(self, home: Home, *, rule_paths: list[Path], batch_size: int, providers: list[str]) -> None:
        self.home = home
        self.tables = TableSet(home)
        self.core = IngestCore(home, lambda: self.tables.live, rule_paths=rule_paths, batch_size=batch_size,
                               lake_tables=True)
        with self._db() as conn:
            for name in providers:
                self.tables.load(conn, name)
            self.core.rebuild(EnrichmentConfig(conn))

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.home.database)
        try:
            yield conn
        finally:
            conn.close()

    def apply(self, message: tuple[Any, ...]) -> None:
        """Apply one control message (see the module docstring)."""
        kind = message[0]
        with self._db() as conn:
            if kind == "table":
                self.tables.load(conn, message[2])  # builds aside, then swaps
            elif kind in ("settings", "all"):
                providers = list(message[2])
                if kind == "all":
                    self.core.registry = LogTypeRegistry.load(self.home)
                for name in list(self.tables.live):
                    if name not in providers:
                        self.tables.remove(name)
                for name in providers:
                    if kind == "all" or name not in self.tables.live:
                        self.tables.load(conn, name)
            elif kind == "registry":
                self.core.registry = LogTypeRegistry.load(self.home)
            else:
                raise ValueError(f"unknown control message {kind!r}")
            self.core.rebuild(EnrichmentConfig(conn))

    def control_loop(self, control: Connection) -> None:
        while True:
            try:
                message = control.recv()
            except (EOFError, OSError):
                return
            try:
                self.apply(message)
                answer: str | None = None
            except Exception as exc:  # the pool replaces a worker that could not apply a change
                log.exception("ingest worker %s could not apply %r", os.getpid(), message[0])
                answer = describe(exc)
            try:
                control.send(("done", message[1], answer))
            except OSError:
                return

    def work_loop(self, work: Connection) -> None:
        while True:
            try:
                message = work.recv()
                if message[0] != "ingest":
                    return  # "stop"
                _, log_type, lines = message
                if lines.__class__ is int:  # the lines follow as one newline-joined body (IngestPool)
                    body = work.recv_bytes()
                    lines = body.split(b"\n") if lines else []
            except (EOFError, OSError):
                return
            payloads: list[bytes] = []
            try:
                done = self.core.process(log_type, lines)
                payloads, done.payloads = done.payloads, []
                reply: tuple[Any, ...] = ("ok", done, len(payloads))
            except ThreatmatchError as exc:
                reply = ("error", type(exc).__name__, str(exc))
            except Exception:  # a bug: the service answers 500 and logs this
                reply = ("crash", traceback.format_exc(limit=20))
            try:
                work.send(reply)
                for payload in payloads:  # the lake payloads follow as raw bytes (megabytes: never pickled)
                    work.send_bytes(payload)
            except (EOFError, OSError):
                return


def worker_main(root: str, rule_paths: list[str], batch_size: int, providers: list[str],
                work: Connection, control: Connection) -> None:  # pragma: no cover - runs in the child process
    """Entry point of the worker process."""
    from threatmatch.runtime import name_process, tune_for_bulk_work

    name_process("tm-ingest")
    tune_for_bulk_work()
    try:
        state = WorkerState(Home(Path(root)), rule_paths=[Path(p) for p in rule_paths], batch_size=batch_size,
                            providers=providers)
    except Exception as exc:
        work.send(("failed", describe(exc)))
        return
    work.send(("ready", os.getpid()))
    threading.Thread(target=state.control_loop, args=(control,), name="threatmatch-ingest-control",
                     daemon=True).start()
    state.work_loop(work)
