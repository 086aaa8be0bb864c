"""The CPU side of one ingest request: parse → normalise → enrich → detect → encode for the lake.

``IngestCore.process`` does everything that needs no shared state and returns it as a ``Processed``:
the answer's counts and rejects, the events encoded for the lake (one JSON array per batch) and the
rule matches. The service then *commits* it (alert de-duplication, lake writes, metrics). The same core
runs inside the service process or in ingest worker processes (``ingest_worker``), so requests can be
processed on several cores while alert state and the lake stay in one place.

Nothing here touches the lake or the alert state, and nothing is committed before a whole request is
processed: a request that fails half-way stores nothing of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threatmatch.detect import RuleSet, builtin_rules_dir, load_rules
from threatmatch.detect.alerts import collapse_errors
from threatmatch.detect.runner import RuleResult, run_rules
from threatmatch.enrich.config import EnrichmentConfig
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.live import LiveTable
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.home import Home
from threatmatch.logtypes import LogTypeRegistry
from threatmatch.server.lakesink import encode_events, encode_table
from threatmatch.timefmt import panther_ts

MAX_REJECT_DETAILS = 1000


@dataclass
class IngestReport:
    """The answer to one ingest request. ``lines == accepted + rejected + blank``."""

    log_type: str
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    matched: int = 0
    alerts: int = 0
    rule_errors: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"log_type": self.log_type, "lines": self.lines, "read": self.accepted + self.rejected,
                "accepted": self.accepted, "rejected": self.rejected, "blank": self.blank, "matched": self.matched,
                "alerts": self.alerts, "rule_errors": self.rule_errors, "rejects": self.rejects,
                "rejects_truncated": self.rejected > len(self.rejects), "seconds": round(self.seconds, 4)}


@dataclass
class Processed:
    """One request processed but not yet committed."""

    report: IngestReport
    #: The accepted events for the lake, one payload per batch, in input order: a JSON array
    #: (``encode_events``), or with ``tables`` their Arrow table in IPC form (``encode_table``).
    payloads: list[bytes] = field(default_factory=list)
    tables: bool = False
    #: Rule matches and rule errors (each holds its enriched event), for alert de-duplication; the events of at
    #: most ``DEFAULT_MAX_SAMPLES`` errors per rule and exception type are kept (``collapse_errors``).
    matches: list[RuleResult] = field(default_factory=list)
    #: Every rejected line for the lake's ``rejects`` view: log type, received at, line (as sent), reason, raw.
    rejected_lines: list[dict[str, Any]] = field(default_factory=list)
    #: Seconds each batch spent in parse + normalise + enrich (the enrichment latency metric).
    latencies: list[float] = field(default_factory=list)


class IngestCore:
    """Log types, the enricher over live tables and the rule set: everything ``process`` reads."""

    def __init__(self, home: Home, tables: Callable[[], Mapping[str, LiveTable]], *,
                 rule_paths: Iterable[Path] = (), batch_size: int = 5000, lake_tables: bool = False) -> None:
        """``lake_tables``: build each batch's lake table here (ingest workers, one per core) instead of
        leaving that to the lake writer (a process of its own, fine when requests are processed in the service)."""
        self.home = home
        self.lake_tables = lake_tables
        self._tables = tables
        self.batch_size = batch_size
        self.registry = LogTypeRegistry.load(home)
        self.ruleset: RuleSet = load_rules([builtin_rules_dir(), *rule_paths], strict=False)
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    # -- configuration changes ------------------------------------------------------------------
    def rebuild(self, config: EnrichmentConfig) -> None:
        """New enricher over the current tables and settings; requests in flight keep the old one."""
        enricher = Enricher(dict(self._tables()), config.settings(), self.registry)
        with self._lock:
            self._pipeline = Pipeline(self.registry, enricher)

    def reload_registry(self, config: EnrichmentConfig) -> None:
        """Pick up added log types."""
        self.registry = LogTypeRegistry.load(self.home)
        self.rebuild(config)

    @property
    def pipeline(self) -> Pipeline:
        pipeline = self._pipeline
        if pipeline is None:
            raise RuntimeError("IngestCore.rebuild() must run before the first ingest")
        return pipeline

    # -- the hot path ---------------------------------------------------------------------------
    def lookup(self, table: str, key: str) -> Any:
        """``event.lookup(table, key)`` for detections: the row ``key`` matches in a live table."""
        live = self._tables().get(table)
        return None if live is None else live.current.match(key, datetime.now(UTC))

    def process(self, log_type: str, lines: list[bytes]) -> Processed:
        """Run ``lines`` through parse → enrich → detect; rejects keep their line numbers (1-based, as sent)."""
        started = time.perf_counter()
        pipeline = self.pipeline
        pipeline.log_type(log_type)  # NotFoundError (with did-you-mean) before counting anything
        report = IngestReport(log_type, lines=len(lines))
        done = Processed(report, tables=self.lake_tables)
        received = panther_ts(datetime.now(UTC))
        numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
        report.blank = len(lines) - len(numbered)
        originals = [number for number, _ in numbered]
        detect = len(self.ruleset) > 0
        batch_started = time.perf_counter()
        # with lake tables built here, each event's JSON text comes from its line where it can (no re-encoding)
        stream = pipeline.stream_texts if self.lake_tables else pipeline.stream
        for batch in stream(log_type, (line for _, line in numbered), batch_size=self.batch_size):
            # parse + normalise + enrich of this batch happened inside the generator step just taken
            done.latencies.append(time.perf_counter() - batch_started)
            if batch.events:
                if detect:
                    # collapsed per batch too: a rule failing on every event keeps few events alive, not all
                    done.matches.extend(collapse_errors(run_rules(self.ruleset, batch.events, lookup=self.lookup)))
                if self.lake_tables:
                    done.payloads.append(encode_table(log_type, batch.events, getattr(batch, "texts", None)))
                else:
                    done.payloads.append(encode_events(log_type, batch.events))
            report.accepted += batch.enriched
            report.rejected += batch.rejected
            report.matched += batch.matched
            for reject in batch.rejects:
                line = originals[reject.line - 1] if 0 < reject.line <= len(originals) else reject.line
                if len(report.rejects) < MAX_REJECT_DETAILS:
                    report.rejects.append({"line": line, "reason": reject.reason})
                done.rejected_lines.append({"log_type": log_type, "received_at": received, "line": line,
                                            "reason": reject.reason, "raw": reject.raw})
            batch_started = time.perf_counter()
        if detect:
            done.matches = collapse_errors(done.matches)
            report.rule_errors = sum(result.count for result in done.matches if result.error is not None)
        report.seconds = time.perf_counter() - started
        return done
