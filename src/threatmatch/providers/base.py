"""What an intel provider is to the rest of threatmatch: a named source of lookup rows.

ThreatStream is the first; any other source (MISP, STIX/TAXII, a CSV feed) fits by offering the same
two small shapes, and the sync job, scheduler and lookup store stay unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple, Protocol

from threatmatch.storage.lookup_store import PackedRows, StoredRow


class Batch(NamedTuple):
    """Rows made from one fetched unit (a page), the objects rejected with their reasons, and progress."""

    rows: list[StoredRow]
    rejects: list[str]
    fetched: int  # objects received so far in this sync, rejects included
    total: int | None  # best estimate of how many objects this sync will receive
    packed: PackedRows | None = None  # more rows, packed for the store (after ``rows``)


class SnapshotUnchanged(Exception):  # noqa: N818 - a signal, not an error
    """Raised by ``IndicatorSource.batches`` when the source answers that its data is the one the table in use was
    built from (a feed's HTTP 304, or the same content): the sync keeps that table instead of rebuilding it."""


class ProviderSettings(Protocol):
    """The stored settings every provider has."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def refresh_minutes(self) -> int: ...


class IndicatorSource(Protocol):
    """Produces a full snapshot of a provider's indicators as lookup rows, batch by batch."""

    def batches(self, *, now: datetime) -> Iterator[Batch]:
        """Every row of one full refresh; ``now`` is the sync's start (parse time, stability cut-off)."""
        ...
