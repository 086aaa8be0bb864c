"""The SQL views a search sees, built from what is on disk.

* one view per log type with data, named by ``naming.log_type_view`` (``AWS.CloudTrail`` -> ``aws_cloudtrail``);
* ``all_events``: the standard ``p_*`` columns, ``p_enrichment``, ``p_enrichment_matches`` and ``event`` of every
  log type;
* ``alerts``: the latest state of each alert (an alert is rewritten as it absorbs events);
* ``rejects``: the lines ingest rejected (log type, received at, line number, reason, raw text);
* one view per lookup table (``anomali_<provider>``), over a Parquet export of the table's active generation,
  written once per generation under ``lookups/<view>/`` and reused by every later search.

Every events/alerts view reads its files with ``union_by_name`` (files written with different columns combine)
and exposes the hive partition columns ``dt`` (DATE) and ``hour`` (INTEGER); filtering on them skips whole
partitions.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from threatmatch.errors import StorageError
from threatmatch.lake.listing import visible_files
from threatmatch.lake.lookup_export import lookup_table_of_json
from threatmatch.lake.naming import (
    ALERTS,
    ALL_EVENTS_VIEW,
    LOOKUPS,
    REJECTS,
    log_type_view,
    lookup_view,
    quote_ident,
    quote_literal,
)
from threatmatch.lake.retention import partitions
from threatmatch.lake.schema import ALERT_FIXED, EVENT_DERIVED, EVENT_FIXED, REJECT_FIXED
from threatmatch.lake.writer import write_parquet_atomic

EXPORT_CHUNK_ROWS = 50_000
STALE_EXPORT_AGE_S = 60.0  # older generations are deleted once this old (a running search may still read them)
_HIVE = "union_by_name=true, hive_partitioning=true, hive_types={'dt': DATE, 'hour': INTEGER}"
_DUCK_TYPES = {"str": "VARCHAR", "int": "BIGINT", "ts": "TIMESTAMP", "json": "JSON", "strlist": "VARCHAR[]"}
# An alert is rewritten each time it absorbs more events: the view keeps its latest state.
_LATEST_ALERT = ("QUALIFY alert_id IS NULL OR row_number() OVER (PARTITION BY alert_id "
                 "ORDER BY updated_at DESC NULLS LAST, event_count DESC NULLS LAST) = 1")
_MATCHES_TYPE = 'STRUCT(provider VARCHAR, selector VARCHAR, "match" VARCHAR, "row" JSON)[]'


class TableInfoLike(Protocol):
    """What the views need to know about a lookup table (``LookupStore.tables()`` items)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def generation(self) -> int | None: ...


class LookupSource(Protocol):
    """Read side of the lookup store: its tables and the rows (JSON text) of each table's active generation."""

    def tables(self) -> Sequence[Any]: ...
    def iter_row_json(self, table: str) -> Iterator[bytes]: ...


@dataclass
class ViewPlan:
    """Every view to create: name -> SQL body (``SELECT ...``)."""

    bodies: dict[str, str] = field(default_factory=dict)


def dataset_files(lake: Path) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Files to read: per log type (only those with files), of alerts, and of rejected lines."""
    events: dict[str, list[str]] = {}
    alerts: list[str] = []
    rejects: list[str] = []
    for part in partitions(lake):
        files = [f.as_posix() for f in visible_files(part.path)]
        if not files:
            continue
        if part.kind == ALERTS:
            alerts.extend(files)
        elif part.kind == REJECTS:
            rejects.extend(files)
        else:
            events.setdefault(part.dataset, []).extend(files)
    return events, alerts, rejects


def _read(files: list[str]) -> str:
    return f"read_parquet([{', '.join(quote_literal(f) for f in files)}], {_HIVE})"


def _empty(columns: Sequence[tuple[str, str]]) -> str:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {quote_ident(n)}" for n, t in columns)
    return f"SELECT {cols} LIMIT 0"


_PARTITION_COLUMNS = (("dt", "DATE"), ("hour", "INTEGER"))


def _typed(fixed: Sequence[tuple[str, str]], *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """A dataset's fixed columns with their DuckDB types, then ``extra`` ones and the hive partition columns."""
    return [*((name, _DUCK_TYPES[kind]) for name, kind in fixed), *extra, *_PARTITION_COLUMNS]


def _event_columns() -> list[tuple[str, str]]:
    return _typed(EVENT_FIXED, (EVENT_DERIVED[0], _MATCHES_TYPE), (EVENT_DERIVED[1], "JSON"))


def plan_views(lake: Path, lookups: Mapping[str, Path] | None = None) -> ViewPlan:
    """The views over what ``lake`` holds now, plus the given lookup exports (view name -> export directory)."""
    plan = ViewPlan()
    events, alerts, rejects = dataset_files(lake)
    by_view: dict[str, list[str]] = {}
    for log_type, files in events.items():
        by_view.setdefault(log_type_view(log_type), []).extend(files)
    for view, files in sorted(by_view.items()):
        plan.bodies[view] = f"SELECT * EXCLUDE (log_type) FROM {_read(files)}"
    columns = _event_columns()
    if events:
        names = ", ".join(quote_ident(n) for n, _ in columns)
        every = [f for files in events.values() for f in files]
        plan.bodies[ALL_EVENTS_VIEW] = f"SELECT {names} FROM {_read(every)}"
    else:
        plan.bodies[ALL_EVENTS_VIEW] = _empty(columns)
    alert_cols = _typed(ALERT_FIXED)
    if alerts:  # files written before a fixed column existed lack it: the empty typed row set supplies it
        unioned = f"SELECT * FROM {_read(alerts)} UNION ALL BY NAME ({_empty(alert_cols)})"
        plan.bodies[ALERTS] = f"SELECT * FROM ({unioned}) {_LATEST_ALERT}"
    else:
        plan.bodies[ALERTS] = _empty(alert_cols)
    plan.bodies[REJECTS] = f"SELECT * FROM {_read(rejects)}" if rejects else _empty(_typed(REJECT_FIXED))
    for view, directory in (lookups or {}).items():
        pattern = quote_literal(directory.as_posix() + "/*.parquet")
        plan.bodies.setdefault(view, f"SELECT * FROM read_parquet({pattern}, union_by_name=true)")
    return plan


def _generation_dir_name(info: Any) -> str:
    stamp = hashlib.sha256(str(getattr(info, "updated_at", "")).encode()).hexdigest()[:10]
    generation = getattr(info, "generation", None)
    return f"gen-{'none' if generation is None else int(generation)}-{stamp}"


def export_lookups(lake: Path, source: LookupSource) -> dict[str, Path]:
    """Export each lookup table's active generation to Parquet (once per generation); view name -> directory."""
    exports: dict[str, Path] = {}
    for info in source.tables():
        view = lookup_view(info.name, getattr(info, "kind", "threatstream"))
        if view in exports:
            continue
        base = lake / LOOKUPS / view
        target = base / _generation_dir_name(info)
        if not target.is_dir():
            _export_generation(source, info.name, target)
        _drop_stale_generations(base, keep=target.name)
        exports[view] = target
    return exports


def _export_generation(source: LookupSource, table: str, target: Path) -> None:
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        chunk: list[bytes] = []
        wrote = False
        for row in source.iter_row_json(table):
            chunk.append(row)
            if len(chunk) >= EXPORT_CHUNK_ROWS:
                write_parquet_atomic(staging, lookup_table_of_json(chunk, staging))
                chunk, wrote = [], True
        if chunk or not wrote:
            write_parquet_atomic(staging, lookup_table_of_json(chunk, staging))
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another exporter: a real failure
                raise
    except OSError as exc:
        raise StorageError(f"cannot export lookup table {table!r} to {target}: {exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _drop_stale_generations(base: Path, *, keep: str) -> None:
    cutoff = time.time() - STALE_EXPORT_AGE_S
    for entry in base.iterdir():
        if entry.name != keep and entry.is_dir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except FileNotFoundError:
                continue
