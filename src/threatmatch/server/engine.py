"""The ingest path of a running service: parse → normalise → enrich → detect → store.

Holds the log-type registry, the enricher (rebuilt copy-on-write when providers or enrichment settings
change; tables themselves swap inside their ``LiveTable``), the rule set with its alert state, and the lake.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threatmatch.detect import AlertManager, RuleSet, builtin_rules_dir, load_rules, run_detections
from threatmatch.enrich.config import EnrichmentConfig
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.live import LiveTable
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.home import Home
from threatmatch.lake import Lake
from threatmatch.logtypes import LogTypeRegistry
from threatmatch.server.lakesink import LakeSink
from threatmatch.server.metrics import Metrics

log = logging.getLogger("threatmatch.server")

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
    rejects: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"log_type": self.log_type, "lines": self.lines, "read": self.accepted + self.rejected,
                "accepted": self.accepted, "rejected": self.rejected, "blank": self.blank, "matched": self.matched,
                "alerts": self.alerts, "rejects": self.rejects,
                "rejects_truncated": self.rejected > len(self.rejects), "seconds": round(self.seconds, 4)}


class Engine:
    """Everything an ingest request runs through."""

    def __init__(self, home: Home, metrics: Metrics, tables: Callable[[], Mapping[str, LiveTable]], *,
                 rule_paths: Iterable[Path] = (), batch_size: int = 5000) -> None:
        self.home = home
        self.metrics = metrics
        self._tables = tables
        self._rule_paths = [builtin_rules_dir(), *rule_paths]
        self.batch_size = batch_size
        self.registry = LogTypeRegistry.load(home)
        self.ruleset: RuleSet = load_rules(self._rule_paths, strict=False)
        self._alerts = AlertManager(self.ruleset)
        self._alerts_lock = threading.Lock()
        self.sink = LakeSink(home)  # writes happen in a writer process
        self.lake = Lake(home)  # this process only searches (after sink.flush())
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.sink.close()
        self.lake.close()

    def search(self, sql: str, *, limit: int, timeout_s: float) -> Any:
        """Search the lake once every accepted event is written."""
        self.sink.flush()
        return self.lake.search(sql, limit=limit, timeout_s=timeout_s)

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
            raise RuntimeError("Engine.rebuild() must run before the first ingest")
        return pipeline

    # -- the hot path ---------------------------------------------------------------------------
    def lookup(self, table: str, key: str) -> Any:
        """``event.lookup(table, key)`` for detections: the row ``key`` matches in a live table."""
        live = self._tables().get(table)
        return None if live is None else live.current.match(key, datetime.now(UTC))

    def detect(self, events: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Run the rules; returns the alerts created or updated (alert state is shared, hence the lock)."""
        if not len(self.ruleset):
            return []
        with self._alerts_lock:
            _, alerts = run_detections(events, self.ruleset, self._alerts, now, lookup=self.lookup)
        for alert in alerts:
            self.metrics.alerts.labels(alert.get("rule_id", "")).inc()
        return alerts

    def ingest(self, log_type: str, lines: list[bytes]) -> IngestReport:
        """Run ``lines`` through the whole path; rejects keep their line numbers (1-based, as sent)."""
        started = time.perf_counter()
        pipeline = self.pipeline
        pipeline.log_type(log_type)  # NotFoundError (with did-you-mean) before counting anything
        report = IngestReport(log_type, lines=len(lines))
        numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
        report.blank = len(lines) - len(numbered)
        originals = [number for number, _ in numbered]
        batch_started = time.perf_counter()
        for batch in pipeline.stream(log_type, (line for _, line in numbered), batch_size=self.batch_size):
            # parse + normalise + enrich of this batch happened inside the generator step just taken
            self.metrics.enrich_latency.labels(log_type).observe(time.perf_counter() - batch_started)
            now = datetime.now(UTC)
            alerts = self.detect(batch.events, now) if batch.events else []
            if batch.events:
                self.sink.write_events(log_type, batch.events)
            if alerts:
                self.sink.write_alerts(alerts)
            report.accepted += batch.enriched
            report.rejected += batch.rejected
            report.matched += batch.matched
            report.alerts += len(alerts)
            for reject in batch.rejects:
                if len(report.rejects) < MAX_REJECT_DETAILS:
                    line = originals[reject.line - 1] if 0 < reject.line <= len(originals) else reject.line
                    report.rejects.append({"line": line, "reason": reject.reason})
            batch_started = time.perf_counter()
        self._count(report)
        report.seconds = time.perf_counter() - started
        return report

    def _count(self, report: IngestReport) -> None:
        m, lt = self.metrics, report.log_type
        m.events_in.labels(lt).inc(report.accepted + report.rejected)
        m.events_enriched.labels(lt).inc(report.accepted)
        m.events_matched.labels(lt).inc(report.matched)
        m.events_rejected.labels(lt).inc(report.rejected)
