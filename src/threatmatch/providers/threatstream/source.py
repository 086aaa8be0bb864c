"""A full ThreatStream snapshot as lookup rows: client pages -> ``rows.encode_raw`` per object."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx

from threatmatch.errors import ParseError
from threatmatch.logtypes.rowid import RowIdGenerator
from threatmatch.providers.base import Batch
from threatmatch.providers.threatstream.client import PAGE_SIZE, RetryPolicy, ThreatStreamClient
from threatmatch.providers.threatstream.config import ProviderConfig
from threatmatch.providers.threatstream.rows import encode_raw
from threatmatch.storage.lookup_store import StoredRow
from threatmatch.timefmt import panther_ts


class ThreatStreamSource:
    """``IndicatorSource`` for one ThreatStream provider."""

    kind = "threatstream"

    def __init__(self, config: ProviderConfig, http: httpx.Client, *, retry: RetryPolicy | None = None,
                 page_size: int = PAGE_SIZE, timeout: float = 30.0,
                 row_ids: Callable[[], str] | None = None) -> None:
        self.config = config
        self.client = ThreatStreamClient(http, config, retry=retry, page_size=page_size, timeout=timeout)
        self._row_ids = row_ids or RowIdGenerator()

    def batches(self, *, now: datetime) -> Iterator[Batch]:
        """One batch per API page; totals follow ``meta.total_count`` (which shrinks as keyset paging advances)."""
        parse_time = panther_ts(now)
        lag = self.config.stability_lag_seconds
        cutoff = now - timedelta(seconds=lag) if lag else None
        fetched = 0
        next_id = self._row_ids
        for page in self.client.pages(modified_before=cutoff):
            rows: list[StoredRow] = []
            rejects: list[str] = []
            for index, raw in enumerate(page.objects):
                try:
                    rows.append(encode_raw(raw, parse_time=parse_time, row_id=next_id()))
                except ParseError as exc:
                    rejects.append(f"page {page.number} (update_id > {page.cursor}), object {index}: {exc}")
            total = fetched + page.total_count if page.total_count is not None else None
            fetched += len(page.objects)
            yield Batch(rows, rejects, fetched, max(total, fetched) if total is not None else None)
