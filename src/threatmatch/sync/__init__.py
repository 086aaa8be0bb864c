"""Keeping lookup tables fresh: one full refresh (``job.sync_provider``) and the periodic ``scheduler``."""

from __future__ import annotations

from datetime import datetime

from threatmatch.home import Home
from threatmatch.storage.db import connect
from threatmatch.storage.providers_repo import ProviderRepo, ProviderSchedule
from threatmatch.storage.secrets import SecretBox
from threatmatch.sync.job import SyncResult, make_runner, sync_provider
from threatmatch.sync.scheduler import Scheduler

__all__ = ["Scheduler", "SyncResult", "make_scheduler", "sync_provider"]


def make_scheduler(home: Home) -> Scheduler:
    """A scheduler over the providers stored in ``home``: periods from their settings, first run one period
    after their last recorded attempt (so a restart does not re-sync everything at once)."""
    conn = connect(home.database)
    box = SecretBox.for_key_file(home.secret_key)

    def providers() -> list[ProviderSchedule]:
        return ProviderRepo(conn, box).schedules()

    def last_run(name: str) -> float | None:
        attempt = ProviderRepo(conn, box).status(name).last_attempt
        return datetime.fromisoformat(attempt).timestamp() if attempt else None

    return Scheduler(providers, make_runner(home), last_run=last_run)
