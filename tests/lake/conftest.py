"""Fixtures of the lake tests: a home directory, a Lake over it with a small ThreatStream table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.lake.builders import LOOKUP_ROWS, PROVIDER, InMemoryLookups

from threatmatch.home import Home
from threatmatch.lake import Lake


@pytest.fixture
def home(home_dir: Path) -> Home:
    """A fresh threatmatch home."""
    return Home(home_dir).ensure()


@pytest.fixture
def lookups() -> InMemoryLookups:
    """One ThreatStream table named like the provider."""
    return InMemoryLookups({PROVIDER: [dict(row) for row in LOOKUP_ROWS]})


@pytest.fixture
def lake(home: Home, lookups: InMemoryLookups) -> Iterator[Lake]:
    """A write-through Lake on the fresh home."""
    with Lake(home, lookups=lookups) as handle:
        yield handle


@pytest.fixture
def now() -> datetime:
    """The real current time: DuckDB's now() is the wall clock, so 'last day' queries need it."""
    return datetime.now(UTC).replace(microsecond=0)
