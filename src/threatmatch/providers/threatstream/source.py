"""A full ThreatStream snapshot as lookup rows: client pages -> ``rows.encode_raw`` per object.

Row building is pure CPU work per page. For a large snapshot on a machine with idle cores it runs in
helper processes (``row_worker.RowBuilders``: pages in order, results in order, a few pages in flight per
helper), so several cores build rows while this process fetches the next pages and stores the built
ones. Small snapshots, and any snapshot on a busy machine, are built in this process.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx

from threatmatch.logtypes.rowid import RowIdGenerator
from threatmatch.providers.base import Batch
from threatmatch.providers.threatstream.client import PAGE_SIZE, Page, RetryPolicy, ThreatStreamClient
from threatmatch.providers.threatstream.config import ProviderConfig
from threatmatch.providers.threatstream.row_worker import Built, RowBuilders, build_page
from threatmatch.timefmt import panther_ts

PARALLEL_MIN_INDICATORS = 50_000  # below this, starting helper processes costs more than it saves
MAX_WORKERS = 4
IDLE_CORES_FOR_HELPERS = 0.5


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    """Helper processes for a large sync: one per core (at most ``MAX_WORKERS``) when the machine has idle
    cores, else none (0: rows are built in the sync's own process).

    Helpers cost some CPU of their own (start-up, moving rows between processes); on a machine whose cores
    are already busy they slow the sync down instead of speeding it up, so the 1-minute load average
    decides: at least ``IDLE_CORES_FOR_HELPERS`` cores idle.
    """
    cores = available_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return min(cores, MAX_WORKERS) if cores > 1 and cores - load >= IDLE_CORES_FOR_HELPERS else 0


class ThreatStreamSource:
    """``IndicatorSource`` for one ThreatStream provider.

    ``workers`` helper processes build the rows when the snapshot has at least ``parallel_min`` indicators
    (``workers=0``: always in this process).
    """

    kind = "threatstream"

    def __init__(self, config: ProviderConfig, http: httpx.Client, *, retry: RetryPolicy | None = None,
                 page_size: int = PAGE_SIZE, timeout: float = 30.0,
                 row_ids: Callable[[], str] | None = None, workers: int | None = None,
                 parallel_min: int = PARALLEL_MIN_INDICATORS) -> None:
        self.config = config
        self.client = ThreatStreamClient(http, config, retry=retry, page_size=page_size, timeout=timeout)
        self._row_ids = row_ids or RowIdGenerator()
        self._workers = default_workers() if workers is None else workers
        self._parallel_min = parallel_min

    def batches(self, *, now: datetime) -> Iterator[Batch]:
        """One batch per API page; totals follow ``meta.total_count`` (which shrinks as keyset paging advances)."""
        parse_time = panther_ts(now)
        lag = self.config.stability_lag_seconds
        cutoff = now - timedelta(seconds=lag) if lag else None
        pages = self.client.pages(modified_before=cutoff)
        first = next(pages, None)
        if first is None:
            return
        if self._workers > 0 and first.total_count is not None and first.total_count >= self._parallel_min:
            built = self._built_by_helpers(first, pages, parse_time)
        else:
            built = ((page, build_page(page.objects, parse_time=parse_time, number=page.number, cursor=page.cursor,
                                       row_ids=self._row_ids, body=page.body)) for page in _chain(first, pages))
        fetched = 0
        for page, (packed, rejects) in built:
            total = fetched + page.total_count if page.total_count is not None else None
            fetched += len(page.raws)
            yield Batch([], rejects, fetched, max(total, fetched) if total is not None else None, packed)

    def _built_by_helpers(self, first: Page, pages: Iterator[Page], parse_time: str) -> Iterator[tuple[Page, Built]]:
        builders = RowBuilders(self._workers)
        waiting: deque[Page] = deque()
        try:
            for page in _chain(first, pages):
                builders.submit(page.body, parse_time=parse_time, number=page.number, cursor=page.cursor)
                waiting.append(page)
                if builders.pending > 2 * self._workers:
                    yield waiting.popleft(), builders.result()
            while waiting:
                yield waiting.popleft(), builders.result()
        finally:
            builders.close()


def _chain(first: Page, rest: Iterator[Page]) -> Iterator[Page]:
    yield first
    yield from rest
