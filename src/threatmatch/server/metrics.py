"""Prometheus metrics of one service instance (a registry per app, so tests can run several)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SYNC_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class _TableSizes(Collector):
    """Reads lookup-table sizes at scrape time from the service."""

    def __init__(self, sizes: Callable[[], Mapping[str, int]]) -> None:
        self._sizes = sizes

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("threatmatch_lookup_table_rows", "Rows in the live lookup table of each provider",
                                   labels=["provider"])
        for provider, rows in sorted(self._sizes().items()):
            family.add_metric([provider], float(rows))
        yield family


class Metrics:
    """Counters and histograms the service updates; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series (noise)
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_in = Counter("threatmatch_events_received", "Lines received for ingest", ["log_type"], registry=r)
        self.events_enriched = Counter("threatmatch_events_enriched", "Events parsed, normalised and run through "
                                       "enrichment", ["log_type"], registry=r)
        self.events_matched = Counter("threatmatch_events_matched", "Events with at least one enrichment match",
                                      ["log_type"], registry=r)
        self.events_rejected = Counter("threatmatch_events_rejected", "Lines rejected (malformed or invalid)",
                                       ["log_type"], registry=r)
        self.alerts = Counter("threatmatch_alerts", "Alerts raised by detections", ["rule_id"], registry=r)
        self.rule_errors = Counter("threatmatch_rule_errors", "Events on which a rule raised an error (each also "
                                   "counts in a RULE_ERROR alert)", ["rule_id"], registry=r)
        self.alert_deliveries = Counter("threatmatch_alert_deliveries", "New alerts sent to destinations, by outcome "
                                        "(sent, failed after retries)", ["destination", "outcome"], registry=r)
        self.sync_duration = Histogram("threatmatch_sync_duration_seconds", "Duration of provider refreshes",
                                       ["provider"], buckets=SYNC_BUCKETS, registry=r)
        self.sync_failures = Counter("threatmatch_sync_failures", "Failed provider refreshes", ["provider"],
                                     registry=r)
        self.enrich_latency = Histogram("threatmatch_enrichment_latency_seconds",
                                        "Time to parse, normalise and enrich one ingest batch", ["log_type"],
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.ingest_latency = Histogram("threatmatch_ingest_request_seconds",
                                        "Time to answer one ingest request end to end", buckets=LATENCY_BUCKETS,
                                        registry=r)

    def watch_tables(self, sizes: Callable[[], Mapping[str, int]]) -> None:
        """Report ``sizes()`` (provider -> rows) as ``threatmatch_lookup_table_rows`` at every scrape."""
        self.registry.register(_TableSizes(sizes))

    def render(self) -> bytes:
        return generate_latest(self.registry)
