"""The ingest path of a running service: parse → normalise → enrich → detect → store.

A request is *processed* (``IngestCore``: parse, normalise, enrich, run the rules, encode for the lake) either
in this process or, with ``workers``, in one of the ingest worker processes (``IngestPool``), so several
requests use several cores. It is then *committed* here, where the shared state lives: rule matches fold into
alerts (de-duplication needs one place), events and alerts go to the lake writer, metrics count.

The enricher is rebuilt copy-on-write when providers or enrichment settings change (tables themselves swap
inside their ``LiveTable``); workers are told the same changes and answer once they apply them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threatmatch.detect import AlertManager, RuleSet
from threatmatch.detect.alerts import DEFAULT_ALERT_LIMIT, RULE_ERROR, SYSTEM_ERROR
from threatmatch.detect.classification import ClassificationAlerts
from threatmatch.detect.dropoff import DropOffAlarms
from threatmatch.enrich.config import EnrichmentConfig
from threatmatch.enrich.live import LiveTable
from threatmatch.enrich.pipeline import Pipeline
from threatmatch.home import Home
from threatmatch.lake import Lake
from threatmatch.logtypes import LogTypeRegistry
from threatmatch.server.ingest_core import MAX_REJECT_DETAILS, IngestCore, IngestReport, Processed
from threatmatch.server.ingest_pool import IngestPool
from threatmatch.server.lakesink import LakeSink
from threatmatch.server.metrics import Metrics
from threatmatch.storage.alarms_repo import Alarm

log = logging.getLogger("threatmatch.server")

__all__ = ["MAX_REJECT_DETAILS", "Engine", "IngestReport"]


class Engine:
    """Everything an ingest request runs through."""

    def __init__(self, home: Home, metrics: Metrics, tables: Callable[[], Mapping[str, LiveTable]], *,
                 rule_paths: Iterable[Path] = (), batch_size: int = 5000, workers: int = 0,
                 alert_limit: int = DEFAULT_ALERT_LIMIT) -> None:
        self.home = home
        self.metrics = metrics
        self._tables = tables
        self._rule_paths = tuple(rule_paths)
        self.core = IngestCore(home, tables, rule_paths=self._rule_paths, batch_size=batch_size)
        self._alerts = AlertManager(self.core.ruleset, alert_limit=alert_limit)
        self._classification = ClassificationAlerts()
        self.dropoff = DropOffAlarms(datetime.now(UTC))
        #: Called with the alerts each request or alarm check created or updated (the service sends new ones on).
        self.on_alerts: Callable[[list[dict[str, Any]]], None] | None = None
        self._alerts_lock = threading.Lock()
        self.sink = LakeSink(home)  # writes happen in a writer process
        self.lake = Lake(home)  # this process only searches (after sink.flush())
        self.pool: IngestPool | None = None
        if workers > 0:
            try:
                self.pool = IngestPool(home, workers, rule_paths=self._rule_paths, batch_size=batch_size,
                                       providers=list(tables()))
            except BaseException:
                self.sink.close()
                self.lake.close()
                raise

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        self.sink.close()
        self.lake.close()

    def search(self, sql: str, *, limit: int, timeout_s: float) -> Any:
        """Search the lake once every accepted event is written."""
        self.sink.flush()
        return self.lake.search(sql, limit=limit, timeout_s=timeout_s)

    # -- configuration changes ------------------------------------------------------------------
    @property
    def registry(self) -> LogTypeRegistry:
        return self.core.registry

    @property
    def ruleset(self) -> RuleSet:
        return self.core.ruleset

    @property
    def pipeline(self) -> Pipeline:
        return self.core.pipeline

    def rebuild(self, config: EnrichmentConfig) -> None:
        """New enricher over the current tables and settings; requests in flight keep the old one.
        Returns once every ingest worker uses the new settings too."""
        self.core.rebuild(config)
        if self.pool is not None:
            self.pool.settings_changed(list(self._tables()))

    def reload_registry(self, config: EnrichmentConfig) -> None:
        """Pick up added log types (here and in every worker)."""
        self.core.reload_registry(config)
        if self.pool is not None:
            self.pool.registry_changed()

    def table_swapped(self, name: str) -> None:
        """``name`` has a new generation in the lookup store (a sync): workers load and swap it too."""
        if self.pool is not None:
            self.pool.table_changed(name)

    # -- the hot path ---------------------------------------------------------------------------
    def lookup(self, table: str, key: str) -> Any:
        """``event.lookup(table, key)`` for detections: the row ``key`` matches in a live table."""
        return self.core.lookup(table, key)

    def _fold(self, matches: list[Any], now: datetime) -> list[dict[str, Any]]:
        """Alerts created or updated by ``matches`` (alert state is shared, hence the lock)."""
        if not matches:
            return []
        with self._alerts_lock:
            alerts = self._alerts.process(matches, now)
        for alert in alerts:
            self.metrics.alerts.labels(alert.get("rule_id", "")).inc()
            if alert.get("created_at") != alert.get("updated_at"):
                continue  # error alerts are logged once, when they open
            if alert.get("alert_type") == RULE_ERROR:
                log.warning("rule %s raised an error on events of %s: %r (GET /api/v1/alerts/%s)",
                            alert.get("rule_id"), ", ".join(alert.get("log_types") or []), alert.get("error"),
                            alert.get("alert_id"))
            elif alert.get("alert_type") == SYSTEM_ERROR:
                log.warning("alert limit: %s (GET /api/v1/alerts/%s)", alert.get("error"), alert.get("alert_id"))
        return alerts

    def _classified(self, log_type: str, rejected: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """The classification-failure alert of ``log_type`` counting ``rejected`` (logged when it opens); none when
        nothing was rejected."""
        if not rejected:
            return []
        with self._alerts_lock:
            alert = self._classification.process(log_type, rejected, now)
        if alert is None:
            return []
        if alert["created_at"] == alert["updated_at"] and alert["event_count"] == len(rejected):
            log.warning("lines of %s were rejected: %s line(s), first reason %r (GET /api/v1/alerts/%s)",
                        log_type, len(rejected), alert["alert_context"]["first_reason"], alert["alert_id"])
        return [alert]

    def check_alarms(self, alarms: Mapping[str, Alarm], now: datetime) -> list[dict[str, Any]]:
        """Open a drop-off alert for each log type silent for its alarm's minutes; stored and logged."""
        with self._alerts_lock:
            opened = self.dropoff.check({name: alarm.minutes for name, alarm in alarms.items()}, now,
                                        {name: alarm.set_at for name, alarm in alarms.items()})
        for alert in opened:
            log.warning("%s (GET /api/v1/alerts/%s)", alert["error"], alert["alert_id"])
        self._publish(opened)
        return opened

    def _publish(self, alerts: list[dict[str, Any]]) -> None:
        """Store alerts that were created or updated, and hand them on (to the destinations)."""
        if not alerts:
            return
        self.sink.write_alerts(alerts)
        if self.on_alerts is not None:
            self.on_alerts(alerts)

    def ingest(self, log_type: str, lines: list[bytes]) -> IngestReport:
        """Process ``lines`` (in a worker when there are workers) and commit the result."""
        if self.pool is not None:
            done = self.pool.process(log_type, lines)
        else:
            done = self.core.process(log_type, lines)
        return self.commit(done)

    def commit(self, done: Processed) -> IngestReport:
        """Store a processed request: alerts, lake writes, metrics. Returns its answer."""
        report = done.report
        latency = self.metrics.enrich_latency.labels(report.log_type)
        for seconds in done.latencies:
            latency.observe(seconds)
        now = datetime.now(UTC)
        alerts = self._fold(done.matches, now) + self._classified(report.log_type, done.rejected_lines, now)
        if report.accepted:
            with self._alerts_lock:
                resumed = self.dropoff.received(report.log_type, now)
            if resumed is not None:
                alerts.append(resumed)
        if report.rule_errors:
            for result in done.matches:
                if result.error is not None:
                    self.metrics.rule_errors.labels(result.rule_id).inc(result.count)
        write = self.sink.write_table if done.tables else self.sink.write_payload
        for payload in done.payloads:
            write(report.log_type, payload)
        self._publish(alerts)
        if done.rejected_lines:  # kept, not only listed in the answer: a sender may never read it
            self.sink.write_rejects(done.rejected_lines)
        report.alerts = len(alerts)
        self._count(report)
        return report

    def _count(self, report: IngestReport) -> None:
        m, lt = self.metrics, report.log_type
        m.events_in.labels(lt).inc(report.accepted + report.rejected)
        m.events_enriched.labels(lt).inc(report.accepted)
        m.events_matched.labels(lt).inc(report.matched)
        m.events_rejected.labels(lt).inc(report.rejected)
