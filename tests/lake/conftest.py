"""Fixtures of the lake tests: a home whose SQLite lookup store holds a small ThreatStream table, and a Lake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.lake.builders import LOOKUP_ROWS, PROVIDER, store_table

from threatmatch.home import Home
from threatmatch.lake import Lake


@pytest.fixture
def home(home_dir: Path) -> Home:
    """A fresh threatmatch home whose lookup store has the ThreatStream table named like the provider."""
    home = Home(home_dir).ensure()
    store_table(home, PROVIDER, LOOKUP_ROWS)
    return home


@pytest.fixture
def lake(home: Home) -> Iterator[Lake]:
    """A write-through Lake on the fresh home (lookup tables read from the home's real store)."""
    with Lake(home) as handle:
        yield handle


@pytest.fixture
def now() -> datetime:
    """The real current time: DuckDB's now() is the wall clock, so 'last day' queries need it."""
    return datetime.now(UTC).replace(microsecond=0)
