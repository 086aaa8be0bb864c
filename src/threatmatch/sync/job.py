"""One full refresh of a provider: fetch every page, build a new table generation, swap it in.

On any failure the new generation is discarded, the table in use stays untouched, and the failure is
recorded on the provider (``ProviderRepo.status``) before ``SyncError`` is raised.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from threatmatch.errors import SyncError, ThreatmatchError
from threatmatch.home import Home
from threatmatch.providers.base import SnapshotUnchanged
from threatmatch.providers.feed.config import FeedConfig
from threatmatch.providers.feed.source import FeedSource
from threatmatch.providers.kinds import AnyConfig
from threatmatch.providers.retry import RetryPolicy
from threatmatch.providers.threatstream.source import ThreatStreamSource
from threatmatch.storage.db import connect
from threatmatch.storage.lookup_store import LookupStore
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox

Progress = Callable[[int, "int | None"], None]
"""Called after each page with (objects fetched so far, estimated total)."""

MAX_REJECT_SAMPLES = 20


@dataclass(frozen=True)
class SyncResult:
    """What one successful sync stored. ``fetched == rows + duplicates + rejected``."""

    provider: str
    started_at: str
    rows: int
    fetched: int
    rejected: int
    duplicates: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    duration_s: float
    network_wait_s: float
    generation: int
    reject_samples: list[str] = field(default_factory=list)
    helpers: int = 0  # row-building helper processes used (0: rows built in the sync's own process)
    #: the source answered that its data is the one the table in use was built from (a feed's HTTP 304 or the
    #: same content): that table was kept, not rebuilt; the counts are those of the sync that built it
    unchanged: bool = False
    #: what identifies the source's data for the next sync's conditional request (feeds: etag, last_modified,
    #: sha256 of the content); empty for ThreatStream
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def client_seconds(self) -> float:
        """Time spent in threatmatch itself (decode, normalise, store, swap), network waits excluded."""
        return max(0.0, self.duration_s - self.network_wait_s)

    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = {"type": self.by_type, "status": self.by_status, "fetched": self.fetched,
                                  "rejected": self.rejected, "duplicates": self.duplicates}
        if self.reject_samples:
            counts["reject_samples"] = self.reject_samples
        if self.source:
            counts["source"] = self.source
        return counts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_provider(conn: sqlite3.Connection, home: Home, name: str, *, client: httpx.Client | None = None,
                  now: datetime | None = None, progress: Progress | None = None, retry: RetryPolicy | None = None,
                  secretbox: SecretBox | None = None, timeout: float = 30.0) -> SyncResult:
    """Refresh provider ``name`` completely; raises ``SyncError`` (table untouched, failure recorded) on failure."""
    repo = ProviderRepo(conn, secretbox or SecretBox.for_key_file(home.secret_key))
    config = repo.get(name)
    started = now or datetime.now(UTC)
    clock = time.monotonic()
    repo.record_start(name, started)
    http = client or httpx.Client()
    source = source_for(config, http, retry=retry, timeout=timeout, previous=_previous_source(repo, conn, name))
    fetched = rejected = 0
    samples: list[str] = []
    try:
        with LookupStore(conn).begin(name, config.kind) as writer:
            for batch in source.batches(now=started):
                if batch.rows:
                    writer.add_stored(batch.rows)
                if batch.packed is not None:
                    writer.add_packed(batch.packed)
                fetched = batch.fetched
                rejected += len(batch.rejects)
                samples.extend(batch.rejects[: MAX_REJECT_SAMPLES - len(samples)])
                if progress is not None:
                    progress(batch.fetched, batch.total)
            count = writer.commit()
    except SnapshotUnchanged:
        return _kept_unchanged(repo, conn, name, started, clock, config.refresh_minutes, source)
    except (ThreatmatchError, sqlite3.Error, OSError) as exc:
        _record_failure(repo, conn, name, started, clock, exc, config.refresh_minutes)
        raise SyncError(f"sync of provider {name!r} failed: {exc}. {_kept(conn, name)}") from exc
    except BaseException as exc:  # interrupted (Ctrl-C): still record, never leave it "running"
        _record_failure(repo, conn, name, started, clock, exc, config.refresh_minutes)
        raise
    finally:
        if client is None:
            http.close()
    result = SyncResult(
        provider=name, started_at=started.astimezone(UTC).isoformat(), rows=count, fetched=fetched,
        rejected=rejected, duplicates=writer.duplicates, by_type=writer.summary["type"],
        by_status=writer.summary["status"], duration_s=time.monotonic() - clock,
        network_wait_s=source.wait_seconds, generation=writer.generation, reject_samples=samples,
        helpers=source.helpers, source=source.validators)
    repo.record_success(name, started, duration_s=result.duration_s, row_count=count, counts=result.counts(),
                        refresh_minutes=config.refresh_minutes)
    return result


def source_for(config: AnyConfig, http: httpx.Client, *, retry: RetryPolicy | None = None,
               timeout: float = 30.0, previous: dict[str, Any] | None = None) -> ThreatStreamSource | FeedSource:
    """The snapshot source of a provider, by its kind (``previous``: see ``_previous_source``)."""
    if isinstance(config, FeedConfig):
        return FeedSource(config, http, retry=retry, timeout=timeout, previous=previous)
    return ThreatStreamSource(config, http, retry=retry, timeout=timeout)


def _previous_source(repo: ProviderRepo, conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """What identified the source's data when the table in use was built (None when that table is gone or was
    built by another sync than the last success, e.g. restored: then the sync rebuilds it whatever the source)."""
    status = repo.status(name)
    previous = status.counts.get("source") if status.counts else None
    if not isinstance(previous, dict) or not previous:
        return None
    try:
        info = LookupStore(conn).info(name)
    except ThreatmatchError:
        return None
    return previous if info.generation is not None and info.row_count == status.row_count else None


def _kept_unchanged(repo: ProviderRepo, conn: sqlite3.Connection, name: str, started: datetime, clock: float,
                    refresh_minutes: int, source: ThreatStreamSource | FeedSource) -> SyncResult:
    """A sync whose source is unchanged: the table in use stays; the success is recorded with its counts."""
    status = repo.status(name)
    counts = dict(status.counts or {})
    info = LookupStore(conn).info(name)
    result = SyncResult(
        provider=name, started_at=started.astimezone(UTC).isoformat(), rows=info.row_count,
        fetched=int(counts.get("fetched", info.row_count)), rejected=int(counts.get("rejected", 0)),
        duplicates=int(counts.get("duplicates", 0)), by_type=dict(counts.get("type", {})),
        by_status=dict(counts.get("status", {})), reject_samples=list(counts.get("reject_samples", [])),
        duration_s=time.monotonic() - clock,
        network_wait_s=source.wait_seconds, generation=info.generation or 0, unchanged=True,
        source=source.validators)
    repo.record_success(name, started, duration_s=result.duration_s, row_count=info.row_count,
                        counts=result.counts(), refresh_minutes=refresh_minutes)
    return result


def _kept(conn: sqlite3.Connection, name: str) -> str:
    try:
        info = LookupStore(conn).info(name)
    except ThreatmatchError:
        return "No table was stored."
    if info.generation is None:
        return "No table was stored."
    return f"The previous table ({info.row_count} rows, updated {info.updated_at} UTC) stays in use."


def _record_failure(repo: ProviderRepo, conn: sqlite3.Connection, name: str, started: datetime, clock: float,
                    exc: BaseException, refresh_minutes: int) -> None:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted before it finished"
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        repo.record_failure(name, started, duration_s=time.monotonic() - clock, error=message,
                            refresh_minutes=refresh_minutes)
    except sqlite3.Error:  # the database itself is failing; the original error is the one to report
        pass


def make_runner(home: Home, *, client_factory: Callable[[], httpx.Client] | None = None,
                retry: RetryPolicy | None = None) -> Callable[[str], SyncResult]:
    """A ``run(name)`` for the scheduler: each call uses its own database connection (thread-safe)."""

    def run(name: str) -> SyncResult:
        conn = connect(home.database)
        http = client_factory() if client_factory is not None else None
        try:
            return sync_provider(conn, home, name, client=http, retry=retry)
        finally:
            if http is not None:
                http.close()
            conn.close()

    return run
