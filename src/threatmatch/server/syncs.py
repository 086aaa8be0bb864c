"""Provider syncs of the running service: one run at a time per provider, in a child process, then the swap.

The refresh runs in a child process at lower CPU priority (``sync.child``), so ingest and the API keep the
service's interpreter to themselves; the service's ``swap`` loads the new generation into the matcher (here and in
each ingest worker) as soon as the child reports it stored. Manual ("Sync now", the API) and scheduled runs of one
provider never overlap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from threatmatch.errors import SyncError, ThreatmatchError
from threatmatch.home import Home
from threatmatch.server.errors import ApiError
from threatmatch.server.metrics import Metrics
from threatmatch.server.settings import ServerSettings
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.sync.child import ChildSync
from threatmatch.sync.scheduler import Scheduler

log = logging.getLogger("threatmatch.server")


@dataclass(frozen=True)
class SyncOutcome:
    """What the console says after "Sync now"."""

    ok: bool
    message: str


class ProviderSyncs:
    """Runs provider syncs for the service; ``swap(name)`` loads a new generation once it is stored."""

    def __init__(self, home: Home, settings: ServerSettings, metrics: Metrics, *,
                 swap: Callable[[str], None]) -> None:
        self.home = home
        self.settings = settings
        self.metrics = metrics
        self._swap = swap
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._children: dict[str, ChildSync] = {}  # syncs running now, by provider
        self._children_lock = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    def running(self, name: str) -> bool:
        return self._lock(name).locked()

    def sync(self, name: str, *, wait: bool = False) -> Any:
        """Refresh ``name`` now (one run at a time per provider), then swap its live table (each ingest worker
        swaps it in while its requests go on with the previous one); returns once the child has also exported it
        for searches. A run already in progress answers 409 unless ``wait``, which waits for it and runs again.
        """
        lock = self._lock(name)
        if not lock.acquire(blocking=wait):
            raise ApiError(409, "sync_running", f"a sync of provider {name!r} is already running; "
                           "its result will show in the provider status")
        started = time.perf_counter()
        try:
            child = ChildSync(self.home, name, niceness=self.settings.sync_niceness)
            with self._children_lock:
                self._children[name] = child
            try:
                try:
                    result = child.report()
                except SyncError:
                    self.metrics.sync_failures.labels(name).inc()
                    raise
                finally:
                    self.metrics.sync_duration.labels(name).observe(time.perf_counter() - started)
                if not result.unchanged:  # an unchanged source keeps the table in use: nothing to load
                    self._swap(name)  # while the child exports the new generation for searches
            finally:
                child.wait()
                with self._children_lock:
                    self._children.pop(name, None)
            return result
        finally:
            lock.release()

    def in_background(self, name: str, *, wait_s: float) -> SyncOutcome:
        """Start a sync and wait up to ``wait_s`` for it; a longer sync keeps running in the background."""
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["result"] = self.sync(name)
            except (ThreatmatchError, ApiError) as exc:
                box["error"] = exc
            except Exception as exc:  # reported to the user, logged with its traceback
                log.exception("sync of %s failed", name)
                box["error"] = exc

        worker = threading.Thread(target=run, name=f"threatmatch-sync-{name}", daemon=True)
        worker.start()
        worker.join(wait_s)
        if worker.is_alive():
            return SyncOutcome(True, f"Sync of {name!r} started and is still running; refresh to see the result.")
        error = box.get("error")
        if isinstance(error, ApiError):
            return SyncOutcome(False, error.message)
        if error is not None:
            return SyncOutcome(False, f"Sync failed: {error}")
        result = box["result"]
        if result.unchanged:
            return SyncOutcome(True, f"{name!r} is unchanged since its last sync: its {result.rows} indicators stay "
                                     "in use.")
        return SyncOutcome(True, f"Synced {name!r}: {result.rows} indicators stored (fetched {result.fetched}, "
                                 f"rejected {result.rejected}, duplicates {result.duplicates}) in "
                                 f"{result.duration_s:.1f} s.")

    def scheduled(self, name: str) -> None:
        """A scheduled refresh; skipped when a manual one is running (it serves as this period's run)."""
        try:
            self.sync(name)
        except ApiError as exc:
            log.info("scheduled sync of %s skipped: %s", name, exc.message)

    @staticmethod
    def last_attempt(repo: ProviderRepo, name: str) -> float | None:
        attempt = repo.status(name).last_attempt
        return datetime.fromisoformat(attempt).timestamp() if attempt else None

    @staticmethod
    def next_run(scheduler: Scheduler | None, name: str) -> str | None:
        """When ``scheduler`` will refresh ``name`` next (None without a scheduler)."""
        if scheduler is None:
            return None
        due = scheduler.next_run(name)
        if due is None:
            return None
        return datetime.fromtimestamp(due, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

    def cancel_all(self) -> None:
        """Stop every running child sync (each records its sync as interrupted)."""
        with self._children_lock:
            children = list(self._children.values())
        for child in children:
            child.cancel()
