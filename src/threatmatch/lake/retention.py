"""Retention and size accounting of the lake: whole hour partitions are the unit.

``expired`` is the pure decision (a partition goes once its whole hour is older than the cutoff); ``prune`` and
``stats`` are the disk edge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from threatmatch.errors import ConfigError, StorageError
from threatmatch.lake.listing import LOCK_NAME, MANIFEST_GLOB, visible_files
from threatmatch.lake.naming import ALERTS, EVENTS, LOOKUPS, REJECTS, HourKey, parse_hour_dir

_DURATION = re.compile(r"^\s*(\d+)\s*([wdhm])\s*$", re.IGNORECASE)
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or ``2w`` as a timedelta; ConfigError otherwise."""
    found = _DURATION.match(text or "")
    if not found or int(found.group(1)) == 0:
        raise ConfigError(f"bad duration {text!r}: use a positive whole number followed by w (weeks), d (days), "
                          "h (hours) or m (minutes), e.g. 30d, 12h, 90m")
    return int(found.group(1)) * _UNITS[found.group(2).lower()]


@dataclass(frozen=True)
class Partition:
    """One hour partition of one dataset (a log type name, ``alerts`` or ``rejects``)."""

    dataset: str
    hour: HourKey
    path: Path
    kind: str = EVENTS  # EVENTS, ALERTS or REJECTS


def partitions(lake: Path) -> list[Partition]:
    """Every hour partition in the lake (events of each log type, alerts, rejected lines), sorted."""
    found: list[Partition] = []
    roots = []
    if (lake / EVENTS).is_dir():
        roots += [(d.name.removeprefix("log_type="), d, EVENTS) for d in (lake / EVENTS).iterdir()
                  if d.is_dir() and d.name.startswith("log_type=")]
    for single in (ALERTS, REJECTS):
        if (lake / single).is_dir():
            roots.append((single, lake / single, single))
    for dataset, root, kind in roots:
        for day in root.iterdir():
            if not day.is_dir():
                continue
            for hour_dir in day.iterdir():
                key = parse_hour_dir(day.name, hour_dir.name) if hour_dir.is_dir() else None
                if key is not None:
                    found.append(Partition(dataset, key, hour_dir, kind))
    return sorted(found, key=lambda p: (p.kind, p.dataset, p.hour))


def expired(parts: Iterable[Partition], cutoff: datetime) -> list[Partition]:
    """The partitions whose whole hour ends at or before ``cutoff`` (aware UTC)."""
    return [p for p in parts if p.hour.end <= cutoff]


@dataclass
class DatasetStats:
    """Size of one dataset (or of the pruned part of it)."""

    partitions: int = 0
    files: int = 0
    rows: int = 0
    bytes: int = 0
    oldest: str | None = None  # "YYYY-MM-DD HH:00"
    newest: str | None = None

    def add(self, partition: Partition, files: int, rows: int, size: int) -> None:
        """Account one partition."""
        label = f"{partition.hour.day} {partition.hour.hour:02d}:00"
        self.partitions += 1
        self.files += files
        self.rows += rows
        self.bytes += size
        self.oldest = label if self.oldest is None or label < self.oldest else self.oldest
        self.newest = label if self.newest is None or label > self.newest else self.newest


@dataclass
class PruneResult:
    """What ``prune`` deleted (or would delete with ``dry_run``), in total and per dataset."""

    cutoff: str
    dry_run: bool
    total: DatasetStats = field(default_factory=DatasetStats)
    datasets: dict[str, DatasetStats] = field(default_factory=dict)


def _files(directory: Path) -> list[Path]:
    return visible_files(directory)


def _measure(files: list[Path]) -> tuple[int, int]:
    rows = size = 0
    for path in files:
        try:
            size += path.stat().st_size
            rows += pq.read_metadata(path).num_rows
        except (OSError, ValueError):  # pruned meanwhile, or damaged (its bytes still count)
            continue
    return rows, size


def prune(lake: Path, older_than: timedelta, now: datetime, *, dry_run: bool = False) -> PruneResult:
    """Delete every hour partition older than ``now - older_than``; report what went (files, rows, bytes)."""
    if older_than <= timedelta(0):
        raise ConfigError(f"retention must be positive, got {older_than}")
    cutoff = now - older_than
    result = PruneResult(cutoff=cutoff.isoformat(), dry_run=dry_run)
    for part in expired(partitions(lake), cutoff):
        files = _files(part.path)
        rows, size = _measure(files)
        if not dry_run:
            _delete(part.path, [*part.path.glob("*.parquet"), *part.path.glob(MANIFEST_GLOB), part.path / LOCK_NAME])
        result.total.add(part, len(files), rows, size)
        result.datasets.setdefault(part.dataset, DatasetStats()).add(part, len(files), rows, size)
    return result


def _delete(directory: Path, files: list[Path]) -> None:
    try:
        for path in files:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot delete {directory}: {exc}; check permissions of the home directory") from exc
    for empty in (directory, directory.parent):  # a writer may be adding a file: non-empty dirs stay
        try:
            empty.rmdir()
        except OSError:
            break


def stats(lake: Path) -> dict[str, DatasetStats]:
    """Partitions, files, rows and bytes per dataset (log types, ``alerts``), plus ``lookups`` exports."""
    out: dict[str, DatasetStats] = {}
    for part in partitions(lake):
        files = _files(part.path)
        rows, size = _measure(files)
        out.setdefault(part.dataset, DatasetStats()).add(part, len(files), rows, size)
    lookups = lake / LOOKUPS
    if lookups.is_dir():
        files = sorted(lookups.glob("*/*/*.parquet"))
        rows, size = _measure(files)
        out[LOOKUPS] = DatasetStats(partitions=len({f.parent for f in files}), files=len(files), rows=rows,
                                    bytes=size)
    return out
