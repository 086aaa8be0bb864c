"""A full ThreatStream snapshot as lookup rows: client pages -> ``rows.encode_objects`` -> packed rows.

Row building is pure CPU work per page: one call decodes the few fields needed of every object, a Python
loop derives ``match``/``p_any_*`` and splices them onto each object's bytes, and the page's rows are packed
(``lookup_rows.PackedRows``) for the store's multi-row inserts. For a large snapshot on a machine with an idle
core it runs in helper processes (``row_worker.RowBuilders``: pages in order, results in order, a few pages
in flight per helper), so several cores build rows while this process fetches the next pages and the store's
loader thread writes the built ones. Small snapshots, and any snapshot on a busy machine, are built in this
process (the loader thread still writes in parallel: it holds the GIL once per page).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from threatmatch.providers.base import Batch
from threatmatch.providers.threatstream.client import PAGE_SIZE, Page, RetryPolicy, ThreatStreamClient
from threatmatch.providers.threatstream.config import ProviderConfig
from threatmatch.providers.threatstream.row_worker import Built, PageRowIds, RowBuilders, build_page
from threatmatch.timefmt import panther_ts

PARALLEL_MIN_INDICATORS = 50_000  # below this, starting helper processes costs more than it saves
MAX_WORKERS = 4
IDLE_CORES_FOR_HELPERS = 0.5
IDLE_SAMPLE_SECONDS = 0.05  # how long a large sync samples the machine's idle CPU before choosing helpers


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_times() -> tuple[float, float] | None:
    """(idle, total) CPU time of the whole machine so far, in clock ticks (Linux ``/proc/stat``); None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [float(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user..steal


def idle_cores(seconds: float = IDLE_SAMPLE_SECONDS) -> float | None:
    """Cores other processes leave idle, measured over ``seconds`` while this process sleeps (None: unknown)."""
    before = cpu_times()
    time.sleep(seconds)
    after = cpu_times()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (os.cpu_count() or 1) * (after[0] - before[0]) / (after[1] - before[1])


def default_workers(idle: float | None = None) -> int:
    """Helper processes for a large sync: one per core (at most ``MAX_WORKERS``) when the machine has idle
    cores, else none (0: rows are built in the sync's own process).

    Helpers cost some CPU of their own (start-up, moving pages and rows between processes); on a machine whose
    cores are already busy they slow the sync down instead of speeding it up. ``idle`` (from ``idle_cores``)
    must leave this process a core plus ``IDLE_CORES_FOR_HELPERS``; when it is not measured, the 1-minute load
    average must leave ``IDLE_CORES_FOR_HELPERS`` cores.
    """
    cores = available_cores()
    if idle is not None:
        spare = idle - 1.0
    else:
        spare = cores - (os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)
    return min(cores, MAX_WORKERS) if cores > 1 and spare >= IDLE_CORES_FOR_HELPERS else 0


class ThreatStreamSource:
    """``IndicatorSource`` for one ThreatStream provider.

    ``workers`` helper processes build the rows when the snapshot has at least ``parallel_min`` indicators
    (``workers=0``: always in this process; None: ``default_workers`` decides from the machine's idle cores).
    """

    kind = "threatstream"

    def __init__(self, config: ProviderConfig, http: httpx.Client, *, retry: RetryPolicy | None = None,
                 page_size: int = PAGE_SIZE, timeout: float = 30.0,
                 row_ids: Callable[[int], list[str]] | None = None, workers: int | None = None,
                 parallel_min: int = PARALLEL_MIN_INDICATORS) -> None:
        self.config = config
        self.client = ThreatStreamClient(http, config, retry=retry, page_size=page_size, timeout=timeout)
        self._row_ids = row_ids or PageRowIds().take
        self._workers = workers
        self._parallel_min = parallel_min
        self.helpers = 0  # helper processes the last ``batches()`` used

    @property
    def wait_seconds(self) -> float:
        """Time spent waiting on the network and in retry back-off so far."""
        return self.client.wait_seconds

    @property
    def validators(self) -> dict[str, Any]:
        """Nothing identifies a ThreatStream snapshot for a conditional request: every sync reads it whole."""
        return {}

    def batches(self, *, now: datetime) -> Iterator[Batch]:
        """One batch per API page; totals follow ``meta.total_count`` (which shrinks as keyset paging advances)."""
        parse_time = panther_ts(now)
        lag = self.config.stability_lag_seconds
        cutoff = now - timedelta(seconds=lag) if lag else None
        pages = self.client.pages(modified_before=cutoff)
        first = next(pages, None)
        if first is None:
            return
        large = first.total_count is not None and first.total_count >= self._parallel_min
        workers = self._workers
        if workers is None:
            workers = default_workers(idle_cores()) if large else 0
        self.helpers = workers if large else 0
        if self.helpers > 0:
            built = self._built_by_helpers(first, pages, parse_time, workers)
        else:
            built = ((page, build_page(page.objects, parse_time=parse_time, number=page.number, cursor=page.cursor,
                                       row_ids=self._row_ids, body=page.body)) for page in _chain(first, pages))
        fetched = 0
        for page, (packed, rejects) in built:
            total = fetched + page.total_count if page.total_count is not None else None
            fetched += len(page.raws)
            yield Batch([], rejects, fetched, max(total, fetched) if total is not None else None, packed)

    def _built_by_helpers(self, first: Page, pages: Iterator[Page], parse_time: str,
                          workers: int) -> Iterator[tuple[Page, Built]]:
        builders = RowBuilders(workers)
        waiting: deque[Page] = deque()
        try:
            for page in _chain(first, pages):
                builders.submit(page.objects, parse_time=parse_time, number=page.number, cursor=page.cursor)
                waiting.append(page)
                if builders.pending > 2 * workers:
                    yield waiting.popleft(), builders.result()
            while waiting:
                yield waiting.popleft(), builders.result()
        finally:
            builders.close()


def _chain(first: Page, rest: Iterator[Page]) -> Iterator[Page]:
    yield first
    yield from rest
