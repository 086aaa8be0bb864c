"""Refresh every provider on its own period, never running two syncs of one provider at once.

``due`` / ``next_due`` are the pure "what is due at time t" rules; ``Scheduler`` keeps the state and
starts runs (each in its own thread by default). Drive it with ``run_pending(now)`` from any loop,
with ``start()`` (a background thread), or with ``await run_async()`` inside an asyncio server.
A run still going when its provider is due again is not started twice: it is deferred until the
running one ends (counted in ``skipped``). A failing run is recorded and does not affect other providers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from threatmatch.providers.base import ProviderSettings

log = logging.getLogger(__name__)

Executor = Callable[[Callable[[], None]], None]


def next_due(period_s: float, last_start: float | None, now: float) -> float:
    """When a provider is next due: immediately if it never ran, else one period after its last start."""
    return now if last_start is None else last_start + period_s


def due(now: float, periods: Mapping[str, float], last_start: Mapping[str, float | None],
        running: AbstractSet[str]) -> tuple[list[str], list[str]]:
    """(providers to start now, providers due but still running), both sorted by name."""
    start: list[str] = []
    busy: list[str] = []
    for name in sorted(periods):
        if next_due(periods[name], last_start.get(name), now) <= now:
            (busy if name in running else start).append(name)
    return start, busy


@dataclass
class RunState:
    """What the scheduler knows about one provider."""

    period_s: float
    last_start: float | None = None
    last_end: float | None = None
    running: bool = False
    runs: int = 0
    failures: int = 0
    skipped: int = 0
    last_error: str | None = None


def _thread_executor(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="threatmatch-sync", daemon=True).start()


class Scheduler:
    """Starts ``run(name)`` for each provider whose period has elapsed since its last start."""

    def __init__(self, providers: Callable[[], Sequence[ProviderSettings]], run: Callable[[str], Any], *,
                 clock: Callable[[], float] = time.time, last_run: Callable[[str], float | None] | None = None,
                 executor: Executor = _thread_executor) -> None:
        self._providers = providers
        self._run = run
        self._clock = clock
        self._last_run = last_run
        self._executor = executor
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._states: dict[str, RunState] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _refresh(self) -> None:
        """Pick up added, removed and re-timed providers (caller holds the lock)."""
        current = {p.name: p.refresh_minutes * 60.0 for p in self._providers()}
        for name in list(self._states):
            if name not in current and not self._states[name].running:
                del self._states[name]
        for name, period in current.items():
            state = self._states.get(name)
            if state is None:
                last = self._last_run(name) if self._last_run is not None else None
                self._states[name] = RunState(period, last_start=last)
            else:
                state.period_s = period

    def run_pending(self, now: float | None = None) -> list[str]:
        """Start every due provider that is not already running; returns the names started."""
        with self._lock:
            try:
                self._refresh()
            except Exception:  # the provider list failed (database busy...): keep the known schedule
                log.exception("cannot list providers; keeping the previous schedule")
            moment = self._clock() if now is None else now
            periods = {n: s.period_s for n, s in self._states.items()}
            starts = {n: s.last_start for n, s in self._states.items()}
            running = {n for n, s in self._states.items() if s.running}
            to_start, busy = due(moment, periods, starts, running)
            for name in busy:
                self._states[name].skipped += 1
            for name in to_start:
                state = self._states[name]
                state.running, state.last_start = True, moment
        for name in to_start:
            self._executor(functools.partial(self._execute, name))
        return to_start

    def _execute(self, name: str) -> None:
        error: str | None = None
        try:
            self._run(name)
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            log.warning("scheduled sync of %s failed: %s", name, error)
        with self._lock:
            state = self._states.get(name)
            if state is not None:
                state.running = False
                state.last_end = self._clock()
                state.runs += 1
                if error is not None:
                    state.failures += 1
                state.last_error = error
            self._idle.notify_all()

    # ---- visibility ------------------------------------------------------------------------------------
    def next_run(self, name: str) -> float | None:
        """Clock time when ``name`` is next due (None for an unknown provider)."""
        with self._lock:
            state = self._states.get(name)
            if state is None:
                return None
            return next_due(state.period_s, state.last_start, self._clock())

    def states(self) -> dict[str, RunState]:
        """A copy of every provider's state."""
        with self._lock:
            return {name: RunState(**vars(state)) for name, state in self._states.items()}

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no run is in progress; False on time-out."""
        with self._idle:
            return self._idle.wait_for(lambda: not any(s.running for s in self._states.values()), timeout)

    # ---- loops -----------------------------------------------------------------------------------------
    def start(self, poll_s: float = 5.0) -> None:
        """Run ``run_pending`` every ``poll_s`` seconds in a background thread until ``stop()``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                self.run_pending()
                self._stop.wait(poll_s)

        self._thread = threading.Thread(target=loop, name="threatmatch-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background loop (running syncs finish on their own)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    async def run_async(self, poll_s: float = 5.0) -> None:
        """The same loop for an asyncio server; cancel the task to stop it."""
        while True:
            await asyncio.to_thread(self.run_pending)
            await asyncio.sleep(poll_s)
