"""Ingest worker processes of a running service, so requests are parsed, enriched and detected on several cores.

One interpreter runs one thread of Python at a time: in a single process, parsing, enrichment, rules and
HTTP share one core however many requests arrive. ``IngestPool`` starts ``workers`` processes
(``ingest_worker``); each loads the live tables, log types, enrichment settings and rules itself and
processes whole requests. The service keeps what must exist once: alert de-duplication, the lake writer,
metrics (``Engine.commit``).

- ``process`` hands a request to an idle worker and waits for its ``Processed`` result. A worker that dies
  while idle is replaced and the request goes to another one; a worker that dies *during* a request is
  replaced and the request fails with 503 (nothing of it was stored: send it again).
- Changes (``settings_changed``, ``registry_changed``, ``table_changed``) are sent to every worker, which
  applies them in a separate thread (requests go on with the previous tables until the new ones are built)
  and confirms; the call returns when every worker uses the change. A worker that cannot apply it within
  the time limit is replaced by a fresh one (which loads the current state).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from threatmatch import errors
from threatmatch.errors import ThreatmatchError
from threatmatch.home import Home
from threatmatch.runtime import wide_pipe
from threatmatch.server.errors import ApiError
from threatmatch.server.ingest_core import Processed
from threatmatch.server.ingest_worker import worker_main

log = logging.getLogger("threatmatch.server")

START_TIMEOUT_S = 600.0  # loading several million indicators takes a while
CHANGE_TIMEOUT_S = 600.0
WAIT_FOR_WORKER_S = 120.0


def _send_request(conn: Connection, log_type: str, lines: list[bytes]) -> None:
    """One request to a worker: the lines joined by newlines and sent as raw bytes (one buffer to copy, not
    thousands of objects to pickle and rebuild), or pickled when a line holds a newline itself and joining
    would not round-trip."""
    body = b"\n".join(lines)
    if body.count(b"\n") == len(lines) - 1 or not lines:
        conn.send(("ingest", log_type, len(lines)))
        conn.send_bytes(body)
    else:
        conn.send(("ingest", log_type, lines))


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process (spawn context)
    work: Connection
    control: Connection

    @property
    def pid(self) -> int | None:
        pid: int | None = self.process.pid
        return pid

    def describe_exit(self) -> str:
        self.process.join(1.0)
        code = self.process.exitcode
        return "still running" if code is None else f"exit code {code}"

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)
        for conn in (self.work, self.control):
            conn.close()


class IngestPool:
    """``workers`` ingest processes; ``process`` runs a request in one of them (see the module docstring)."""

    def __init__(self, home: Home, workers: int, *, rule_paths: tuple[Path, ...] = (), batch_size: int = 5000,
                 providers: list[str] | None = None) -> None:
        if workers < 1:
            raise ValueError("an ingest pool needs at least one worker")
        self._home = home
        self._args = ([str(p) for p in rule_paths], batch_size)
        self._providers = list(providers or [])
        self._context = mp.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()  # the worker list, the version and change broadcasts
        self._version = 0
        self._closed = False
        self.size = workers
        starting = [self._spawn() for _ in range(workers)]
        try:
            for worker in starting:
                self._await_ready(worker)
        except BaseException:
            for worker in starting:
                worker.kill()
            raise
        for worker in starting:
            self._workers.append(worker)
            self._idle.put(worker)

    # -- processes -------------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        work, work_child = wide_pipe(self._context)  # requests and their lake tables: megabytes each
        control, control_child = self._context.Pipe()
        rule_paths, batch_size = self._args
        process = self._context.Process(
            target=worker_main, name="threatmatch-ingest-worker", daemon=True,
            args=(str(self._home.root), rule_paths, batch_size, list(self._providers), work_child, control_child))
        process.start()
        work_child.close()  # the worker holds the only other ends: its death is end-of-file here
        control_child.close()
        return _Worker(process, work, control)

    def _await_ready(self, worker: _Worker) -> None:
        if not worker.work.poll(START_TIMEOUT_S):
            worker.kill()
            raise ThreatmatchError(f"an ingest worker did not start within {START_TIMEOUT_S:g} s: check free "
                                   "memory and the size of the lookup tables")
        try:
            message = worker.work.recv()
        except (EOFError, OSError):
            raise ThreatmatchError(f"an ingest worker stopped while starting ({worker.describe_exit()}): check "
                                   "free memory and the service log") from None
        if message[0] != "ready":
            worker.kill()
            raise ThreatmatchError(f"an ingest worker could not start: {message[1]}")

    def _replace(self, worker: _Worker, why: str) -> None:
        """Drop ``worker`` and start a replacement in the background."""
        log.error("ingest worker %s replaced: %s", worker.pid, why)
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        worker.kill()
        if not self._closed:
            threading.Thread(target=self._respawn, name="threatmatch-ingest-respawn", daemon=True).start()

    def _respawn(self) -> None:
        while not self._closed:
            with self._lock:
                version = self._version
            try:
                worker = self._spawn()
                self._await_ready(worker)
            except ThreatmatchError as exc:
                log.error("%s; retrying in 10 s", exc)
                time.sleep(10.0)
                continue
            with self._lock:
                if self._closed:
                    worker.kill()
                    return
                if version != self._version:  # changes sent while it was loading: reload everything
                    problem = self._send_change(worker, ("all", self._version, list(self._providers)))
                    if problem is not None:
                        worker.kill()
                        continue
                self._workers.append(worker)
            self._idle.put(worker)
            return

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in list(self._workers) if w.pid is not None]

    def alive(self) -> int:
        """Workers running now (fewer than ``size`` while a replacement starts). Never waits for the lock a
        change holds while workers apply it (health checks answer during a table reload)."""
        return sum(1 for w in list(self._workers) if w.process.is_alive())

    # -- requests --------------------------------------------------------------------------------
    def _take(self) -> _Worker:
        try:
            return self._idle.get(timeout=WAIT_FOR_WORKER_S)
        except queue.Empty:
            raise ApiError(503, "ingest_busy", f"no ingest worker was free within {WAIT_FOR_WORKER_S:g} s "
                           f"({self.alive()} of {self.size} running); nothing was stored: send the request "
                           "again later", headers={"Retry-After": "10"}) from None

    def process(self, log_type: str, lines: list[bytes]) -> Processed:
        """Run one request in a worker (see the module docstring for failures)."""
        if self._closed:
            raise ApiError(503, "stopping", "the service is stopping; nothing was stored")
        for _ in range(self.size + 1):
            worker = self._take()
            try:
                _send_request(worker.work, log_type, lines)
            except OSError:  # died while idle: nothing was sent, try another worker
                self._replace(worker, f"found dead ({worker.describe_exit()})")
                continue
            try:
                reply = worker.work.recv()
                if reply[0] == "ok":
                    reply[1].payloads = [worker.work.recv_bytes() for _ in range(reply[2])]
            except (EOFError, OSError):
                exit_text = worker.describe_exit()
                self._replace(worker, f"died during a request ({exit_text})")
                raise ApiError(503, "ingest_worker_died", f"the ingest worker processing this request stopped "
                               f"({exit_text}); nothing of the request was stored: send it again (a replacement "
                               "worker is starting)", headers={"Retry-After": "10"}) from None
            self._idle.put(worker)
            return self._answer(reply)
        raise ApiError(503, "ingest_unavailable", "every ingest worker stopped; nothing was stored: send the "
                       "request again in a moment (replacements are starting)", headers={"Retry-After": "10"})

    @staticmethod
    def _answer(reply: tuple[Any, ...]) -> Processed:
        kind = reply[0]
        if kind == "ok":
            done: Processed = reply[1]
            return done
        if kind == "error":
            raise errors.rebuild(reply[1], reply[2], ThreatmatchError)
        log.error("an ingest worker failed on a request:\n%s", reply[1])
        raise ApiError(500, "error", "processing the request failed inside the service (logged); nothing of it "
                       "was stored")

    # -- changes ---------------------------------------------------------------------------------
    def settings_changed(self, providers: list[str]) -> None:
        """Providers or enrichment settings changed: every worker reconciles its tables and rebuilds."""
        self._providers = list(providers)
        self._broadcast("settings", list(providers))

    def registry_changed(self) -> None:
        """A log type was added: every worker reloads the registry."""
        self._broadcast("registry")

    def table_changed(self, name: str) -> None:
        """``name`` has a new generation: every worker builds its index and swaps it in."""
        self._broadcast("table", name)

    def _broadcast(self, kind: str, *args: Any) -> None:
        with self._lock:
            self._version += 1
            message = (kind, self._version, *args)
            workers = list(self._workers)
            sent = []
            for worker in workers:
                try:
                    worker.control.send(message)
                    sent.append(worker)
                except OSError:
                    pass  # dead: replaced on its next request
            deadline = time.monotonic() + CHANGE_TIMEOUT_S
            failed = [(w, p) for w in sent if (p := self._confirm(w, message[1], deadline)) is not None]
        for worker, problem in failed:
            self._replace(worker, f"could not apply {kind!r}: {problem}")

    def _send_change(self, worker: _Worker, message: tuple[Any, ...]) -> str | None:
        try:
            worker.control.send(message)
        except OSError:
            return "its pipe is closed"
        return self._confirm(worker, message[1], time.monotonic() + CHANGE_TIMEOUT_S)

    @staticmethod
    def _confirm(worker: _Worker, seq: int, deadline: float) -> str | None:
        """None once ``worker`` confirms change ``seq``; else what went wrong."""
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or not worker.control.poll(remaining):
                    return f"no answer within {CHANGE_TIMEOUT_S:g} s"
                _, number, problem = worker.control.recv()
            except (EOFError, OSError):
                return f"it stopped ({worker.describe_exit()})"
            if number == seq:
                return None if problem is None else str(problem)

    # -- shutdown --------------------------------------------------------------------------------
    def close(self, timeout_s: float = 10.0) -> None:
        """Stop every worker (requests in progress finish first, up to ``timeout_s``)."""
        self._closed = True
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
        for worker in workers:
            try:
                worker.control.close()  # ends its control thread
            except OSError:
                pass
        deadline = time.monotonic() + timeout_s
        for worker in workers:
            try:
                worker.work.send(("stop",))
            except OSError:
                pass
        for worker in workers:
            worker.process.join(max(0.1, deadline - time.monotonic()))
            worker.kill()
