"""The enriched-event store: hour-partitioned Parquet under ``home.lake``, searched with DuckDB SQL.

See ``docs/search.md`` for the views and example queries.
"""

from __future__ import annotations

from threatmatch.lake.compaction import CompactionResult
from threatmatch.lake.naming import log_type_view, lookup_view, snake
from threatmatch.lake.retention import DatasetStats, PruneResult, parse_duration
from threatmatch.lake.search import SearchResult
from threatmatch.lake.store import Lake
from threatmatch.lake.views import LookupSource

__all__ = [
    "CompactionResult",
    "DatasetStats",
    "Lake",
    "LookupSource",
    "PruneResult",
    "SearchResult",
    "log_type_view",
    "lookup_view",
    "parse_duration",
    "snake",
]
