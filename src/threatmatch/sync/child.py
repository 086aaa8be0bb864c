"""A provider sync in a process of its own, at lower CPU priority: how the service refreshes tables.

A full refresh of a large table is CPU work (decode, normalise, store, index) for tens of seconds. Run in the
service's own process it would compete with ingest and the API for the interpreter lock, and ingest would
stall for the whole refresh. ``sync_in_child(home, name)`` runs ``sync_provider`` in a child process
(``python -m threatmatch.sync.child``) that lowers its own CPU priority first (``nice``), and returns the
child's ``SyncResult`` or raises its error (same class and message as in process). The child also exports
the new generation for lake searches; only the swap of the live table (loading the new generation into the
matcher) is left to the service.

The child reports one JSON line on stdout as soon as the new generation is stored (``ChildSync.report``), then
exports it for searches and exits (``ChildSync.wait``), so the service can swap the new table in while the
export runs (on a large table under load the export takes longer than the sync). Its log lines go to the
service's stderr. It watches its stdin: when the service closes it (``ChildSync.cancel``) or dies, even by
``kill -9``, the child interrupts the sync (recorded on the provider as interrupted; the table in use is
untouched) or its export, and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from threatmatch import errors
from threatmatch.errors import SyncError, ThreatmatchError
from threatmatch.home import Home
from threatmatch.runtime import child_env

log = logging.getLogger(__name__)

DEFAULT_NICENESS = 10  # CFS weight ~1/10 of the service's threads when they compete for a core
EXIT_GRACE_S = 30.0  # after stdin closes, how long the child may take to record the interruption


def _error(type_name: str, message: str) -> ThreatmatchError:
    """The exception the child raised, rebuilt from its class name (anything unknown becomes a ``SyncError``)."""
    return errors.rebuild(type_name, message, SyncError)


class ChildSync:
    """One running child sync; ``result()`` waits for it, ``cancel()`` stops it."""

    def __init__(self, home: Home, name: str, *, niceness: int = DEFAULT_NICENESS) -> None:
        self.name = name
        command = [sys.executable, "-m", __name__, "--home", str(home.root), "--niceness", str(niceness), name]
        try:
            self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env())
        except OSError as exc:  # no process could be started (out of memory or process slots, ...)
            message = (f"cannot start a process for the sync of provider {name!r} ({exc}); the table in use is "
                       "unchanged. Check the machine's free memory and process limits, then sync again.")
            raise SyncError(message) from exc

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it ended (0 after a successful sync), else None."""
        return self._proc.poll()

    def report(self) -> Any:
        """The child's ``SyncResult`` as soon as it reports it: the new generation is stored and can be swapped in,
        while the child goes on exporting it for searches (``wait()`` for that). Raises the error the child
        reported, or ``SyncError`` when it ended without a report (in both cases the child has exited)."""
        from threatmatch.sync.job import SyncResult

        assert self._proc.stdout is not None
        report: Any = None
        for line in self._proc.stdout:  # one JSON line; anything else a library printed is skipped
            try:
                report = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(report, dict) and "ok" in report:
                break
            report = None
        if not isinstance(report, dict):
            code = self.wait()
            raise SyncError(f"the sync of provider {self.name!r} ended without a result (its process exited with "
                            f"code {code}; its error, if any, is in the service log); run the sync again.")
        if not report.get("ok"):
            self.wait()
            raise _error(str(report.get("type")), str(report.get("error")))
        known = {f.name for f in fields(SyncResult)}
        return SyncResult(**{key: value for key, value in report["result"].items() if key in known})

    def wait(self) -> int:
        """Wait for the child to exit (after its search export, once it reported); its exit status."""
        stdout = self._proc.stdout
        if stdout is not None and not stdout.closed:
            for _ in stdout:  # drained: anything printed after the report must not fill the pipe and block it
                pass
            stdout.close()
        code = self._proc.wait()
        self._close_stdin()
        return code

    def result(self) -> Any:
        """``report()``, then ``wait()``: the child's ``SyncResult`` once it has exited."""
        try:
            return self.report()
        finally:
            self.wait()

    def cancel(self) -> None:
        """Ask the child to stop (it records the interruption); killed if it is still running after the grace."""
        self._close_stdin()
        try:
            self._proc.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def _close_stdin(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:  # the child is gone already
                pass


def sync_in_child(home: Home, name: str, *, niceness: int = DEFAULT_NICENESS) -> Any:
    """Run ``sync_provider(home, name)`` in a child process and return its ``SyncResult`` (see the module)."""
    return ChildSync(home, name, niceness=niceness).result()


def _watch(fd: int) -> None:
    """Interrupt the sync when the parent closes our stdin or dies; exit if that takes longer than the grace.

    Reads the raw descriptor: a daemon thread blocked inside ``sys.stdin``'s buffered reader would hold its
    lock at interpreter shutdown, which aborts the process."""
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass
    threading.Timer(EXIT_GRACE_S, os._exit, args=(3,)).start()
    # SIGINT to the main thread interrupts even a blocking read: KeyboardInterrupt in the sync, which records
    # the interruption and discards the generation being built.
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def _export_for_search(home: Home, conn: sqlite3.Connection, name: str) -> None:
    """Export the new generation for lake searches now, at this process's priority (otherwise the first search
    after the sync does it inside the service, holding its interpreter for seconds on a large table). A failure
    only means that first search exports it instead."""
    from threatmatch.lake.views import export_lookups
    from threatmatch.storage.lookup_store import LookupStore

    try:
        export_lookups(home.lake, LookupStore(conn))
    except KeyboardInterrupt:  # asked to stop: the sync itself succeeded and its result is still reported
        pass
    except (ThreatmatchError, sqlite3.Error, OSError) as exc:
        log.warning("the new table of %s was not exported for search yet (the first search will do it): %s",
                    name, exc)


def _report(payload: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(payload) + b"\n")
    sys.stdout.buffer.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--niceness", type=int, default=DEFAULT_NICENESS)
    parser.add_argument("name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the service ignores SIGINT
    if args.niceness > 0 and hasattr(os, "nice"):
        try:
            os.nice(args.niceness)
        except OSError:  # not allowed here: run at the service's priority
            pass
    threading.Thread(target=_watch, args=(sys.stdin.fileno(),), name="sync-parent-watch", daemon=True).start()

    from threatmatch.runtime import name_process, tune_for_bulk_work
    from threatmatch.storage.db import connect
    from threatmatch.sync.job import sync_provider

    name_process("tm-sync")
    tune_for_bulk_work()

    home = Home(Path(args.home))
    try:
        conn = connect(home.database)
        try:
            result = sync_provider(conn, home, args.name)
            # reported first: the service swaps the new table in while this process exports it for searches
            _report({"ok": True, "result": result.to_dict()})
            if not result.unchanged:  # the table kept is exported already
                _export_for_search(home, conn, args.name)
        finally:
            conn.close()
    except ThreatmatchError as exc:
        _report({"ok": False, "type": type(exc).__name__, "error": str(exc)})
        return 1
    except KeyboardInterrupt:
        _report({"ok": False, "type": "SyncError",
                 "error": f"the sync of provider {args.name!r} was stopped before it finished (the service is "
                          "shutting down); the table in use is unchanged"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
