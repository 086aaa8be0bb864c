"""The refresh scheduler: pure due rules, per-provider periods, no overlapping runs, isolated failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import NamedTuple

from threatmatch.sync.scheduler import Scheduler, due, next_due


class P(NamedTuple):
    name: str
    kind: str = "threatstream"
    refresh_minutes: int = 60


def inline(job: Callable[[], None]) -> None:
    job()


class TestDueRules:
    def test_never_run_is_due_now(self) -> None:
        """A provider that never ran is due immediately."""
        assert next_due(3600, None, now=50.0) == 50.0

    def test_due_one_period_after_last_start(self) -> None:
        """A provider is due one period after its last start, not before."""
        periods = {"a": 3600.0, "b": 7200.0}
        starts: dict[str, float | None] = {"a": 0.0, "b": 0.0}
        assert due(3599.0, periods, starts, set()) == ([], [])
        assert due(3600.0, periods, starts, set()) == (["a"], [])
        assert due(7200.0, periods, starts, {"a"}) == (["b"], ["a"])


class TestScheduler:
    def test_each_provider_runs_on_its_own_period(self) -> None:
        """Over five hours an hourly provider runs 5 times and a two-hourly one 3 times."""
        runs: list[tuple[float, str]] = []
        now = [0.0]
        scheduler = Scheduler(lambda: [P("hourly"), P("slow", refresh_minutes=120)],
                              lambda name: runs.append((now[0], name)), clock=lambda: now[0], executor=inline)
        for minute in range(0, 5 * 60, 5):
            now[0] = minute * 60.0
            scheduler.run_pending()
        assert [t for t, n in runs if n == "hourly"] == [0.0, 3600.0, 7200.0, 10800.0, 14400.0]
        assert [t for t, n in runs if n == "slow"] == [0.0, 7200.0, 14400.0]
        assert scheduler.next_run("slow") == 14400.0 + 7200.0

    def test_run_still_going_is_not_started_twice(self) -> None:
        """When a provider is due while its previous run is still going, no second run starts."""
        release = threading.Event()
        started = threading.Semaphore(0)
        active = 0
        overlap = False
        lock = threading.Lock()

        def run(name: str) -> None:
            nonlocal active, overlap
            with lock:
                active += 1
                overlap = overlap or active > 1
            started.release()
            release.wait(10)
            with lock:
                active -= 1

        scheduler = Scheduler(lambda: [P("a")], run, clock=lambda: 0.0)
        assert scheduler.run_pending(now=0.0) == ["a"]
        assert started.acquire(timeout=5)
        for later in (3600.0, 7200.0, 10800.0):
            assert scheduler.run_pending(now=later) == []
        assert scheduler.states()["a"].skipped == 3
        release.set()
        assert scheduler.wait_idle(timeout=5)
        assert scheduler.run_pending(now=10801.0) == ["a"]  # deferred run happens once the first has ended
        assert scheduler.wait_idle(timeout=5)
        assert not overlap

    def test_failure_is_recorded_and_does_not_stop_others(self) -> None:
        """A provider whose run raises is marked failed; the other provider still runs."""
        done: list[str] = []

        def run(name: str) -> None:
            if name == "broken":
                raise RuntimeError("HTTP 401")
            done.append(name)

        scheduler = Scheduler(lambda: [P("broken"), P("fine")], run, clock=lambda: 0.0, executor=inline)
        assert scheduler.run_pending(now=0.0) == ["broken", "fine"]
        states = scheduler.states()
        assert (states["broken"].failures, states["broken"].last_error) == (1, "HTTP 401")
        assert done == ["fine"] and states["fine"].failures == 0

    def test_restart_waits_for_the_period_since_the_recorded_attempt(self) -> None:
        """With a recorded last attempt, a restarted scheduler does not run a fresh provider again at once."""
        ran: list[str] = []
        scheduler = Scheduler(lambda: [P("a")], ran.append, clock=lambda: 1000.0, last_run=lambda _: 900.0,
                              executor=inline)
        assert scheduler.run_pending() == [] and scheduler.next_run("a") == 900.0 + 3600.0

    def test_provider_changes_are_picked_up(self) -> None:
        """Added providers start, removed ones disappear, new periods apply."""
        current = [P("a")]
        scheduler = Scheduler(lambda: current, lambda _: None, clock=lambda: 0.0, executor=inline)
        scheduler.run_pending(now=0.0)
        current = [P("a", refresh_minutes=180), P("b")]
        assert scheduler.run_pending(now=60.0) == ["b"]
        assert scheduler.next_run("a") == 3 * 3600.0
        current = [P("b")]
        scheduler.run_pending(now=120.0)
        assert scheduler.next_run("a") is None

    def test_listing_failure_keeps_schedule(self) -> None:
        """If listing providers fails, the known schedule keeps running."""
        calls = [0]

        def providers() -> list[P]:
            calls[0] += 1
            if calls[0] > 1:
                raise RuntimeError("database is locked")
            return [P("a")]

        ran: list[str] = []
        scheduler = Scheduler(providers, ran.append, clock=lambda: 0.0, executor=inline)
        scheduler.run_pending(now=0.0)
        scheduler.run_pending(now=3600.0)
        assert ran == ["a", "a"]

    def test_background_thread_and_asyncio_loops_run_due_work(self) -> None:
        """start()/stop() and run_async() both drive run_pending."""
        ran = threading.Event()
        scheduler = Scheduler(lambda: [P("a")], lambda _: ran.set())
        scheduler.start(poll_s=0.01)
        assert ran.wait(5)
        scheduler.stop(timeout=5)

        async_ran: list[str] = []
        other = Scheduler(lambda: [P("b")], async_ran.append, executor=inline)

        async def drive() -> None:
            task = asyncio.create_task(other.run_async(poll_s=0.01))
            for _ in range(500):
                if async_ran:
                    break
                await asyncio.sleep(0.01)
            task.cancel()

        # A thread of its own: the browser tests' Playwright keeps an event loop on the main thread.
        runner = threading.Thread(target=asyncio.run, args=(drive(),))
        runner.start()
        runner.join(10)
        assert async_ran == ["b"]
