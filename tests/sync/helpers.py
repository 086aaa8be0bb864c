"""Shared set-up for sync tests: a home with a ThreatStream provider pointing at a running emulator."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from threatmatch.home import Home
from threatmatch.providers.threatstream.client import RetryPolicy
from threatmatch.providers.threatstream.config import make_config
from threatmatch.storage.db import connect
from threatmatch.storage.providers_repo import ProviderRepo
from threatmatch.storage.secrets import SecretBox

ALL_STATUSES = 'status="active" or status="inactive" or status="falsepos"'
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.02, max_delay=0.1, max_retry_after=5.0, sleep=time.sleep)


def add_provider(home: Path, emulator: Any, *, name: str = "anomali", query: str = ALL_STATUSES,
                 token: str | None = None, username: str | None = None) -> Home:
    """Store a provider for ``emulator`` in ``home`` (the wrong credentials when token/username are given)."""
    tm_home = Home(home).ensure()
    repo = ProviderRepo(connect(tm_home.database), SecretBox.for_key_file(tm_home.secret_key))
    repo.add(make_config(name=name, username=username or emulator.username, token=token or emulator.api_key,
                         query=query, base_url=emulator.base_url), replace=True)
    return tm_home
