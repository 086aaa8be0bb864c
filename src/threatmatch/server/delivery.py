"""Sending new alerts to webhook destinations, off the ingest path.

``notify(alerts)`` (the engine calls it with the alerts each request or check changed) queues every alert that has
just opened (``created_at == updated_at``, each alert once); a thread POSTs it as JSON to every destination whose
``min_severity`` it reaches, or only to those its rule names (``OutputIds`` or ``destinations()``, by destination
name), as Panther routes alerts. A
send is tried ``ATTEMPTS`` times with a pause between; the outcome counts in ``threatmatch_alert_deliveries_total``
and a final failure is logged (never the header's value). The queue is bounded: when it is full, alerts are dropped
with a log line rather than slowing ingestion.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from threatmatch.detect.rule import Severity
from threatmatch.server.metrics import Metrics
from threatmatch.storage.destinations_repo import Destination

log = logging.getLogger("threatmatch.server")

ATTEMPTS = 3
PAUSES_S = (0.5, 2.0)
TIMEOUT_S = 10.0
QUEUE_SIZE = 10_000
_REMEMBERED = 100_000  # alert ids already sent (a bounded memory)
PAYLOAD_KEYS = ("alert_id", "alert_type", "title", "severity", "rule_id", "log_types", "event_count", "dedup",
                "created_at", "first_event_time", "last_event_time", "error", "description", "runbook", "reference",
                "tags", "alert_context")

Lookup = Callable[[], list[tuple[Destination, "tuple[str, str] | None"]]]


def payload(alert: dict[str, Any], console_url: str | None) -> dict[str, Any]:
    """The JSON sent for an alert: its summary fields and a link to it (sample events stay in the service)."""
    body = {key: alert.get(key) for key in PAYLOAD_KEYS}
    body["link"] = f"{console_url.rstrip('/')}/alerts/{alert.get('alert_id')}" if console_url else None
    return body


def routed(alert: dict[str, Any], destinations: list[Destination]) -> list[Destination]:
    """The destinations an alert goes to: those named by its rule, else those whose minimum severity it reaches."""
    named = alert.get("destinations")
    if isinstance(named, list) and named:
        return [destination for destination in destinations if destination.name in named]
    rank = max(Severity.rank(str(alert.get("severity") or "INFO")), 0)
    return [destination for destination in destinations if Severity.rank(destination.min_severity) <= rank]


class AlertDelivery:
    """The queue and thread sending new alerts to the destinations ``lookup()`` returns (with their headers)."""

    def __init__(self, lookup: Lookup, metrics: Metrics, *, console_url: str | None = None,
                 client: httpx.Client | None = None) -> None:
        self._lookup = lookup
        self._metrics = metrics
        self._console_url = console_url
        self._client = client or httpx.Client(timeout=TIMEOUT_S)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="threatmatch-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self, alerts: list[dict[str, Any]]) -> None:
        """Queue the alerts that just opened (never blocks)."""
        for alert in alerts:
            alert_id = alert.get("alert_id")
            if not isinstance(alert_id, str) or alert.get("created_at") != alert.get("updated_at"):
                continue
            with self._lock:
                if alert_id in self._sent:
                    continue
                self._sent[alert_id] = None
                if len(self._sent) > _REMEMBERED:
                    self._sent.popitem(last=False)
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                log.warning("alert delivery queue full: alert %s not sent", alert_id)

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            try:
                pairs = self._lookup()
                headers = {destination.name: header for destination, header in pairs}
                for destination in routed(alert, [destination for destination, _ in pairs]):
                    self.send(destination, headers[destination.name], alert)
            except Exception:
                log.exception("sending alert %s failed", alert.get("alert_id"))

    def send(self, destination: Destination, header: tuple[str, str] | None, alert: dict[str, Any],
             *, attempts: int = ATTEMPTS) -> tuple[bool, str]:
        """POST one alert to one destination; (sent, what happened)."""
        headers = {"Content-Type": "application/json", "User-Agent": "threatmatch"}
        if header is not None:
            headers[header[0]] = header[1]
        outcome = ""
        for attempt in range(attempts):
            try:
                answer = self._client.post(destination.url, json=payload(alert, self._console_url), headers=headers)
                if answer.is_success:
                    self._metrics.alert_deliveries.labels(destination.name, "sent").inc()
                    return True, f"HTTP {answer.status_code}"
                outcome = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < attempts:
                time.sleep(PAUSES_S[min(attempt, len(PAUSES_S) - 1)])
        self._metrics.alert_deliveries.labels(destination.name, "failed").inc()
        log.warning("alert %s not delivered to destination %s after %d attempt(s): %s", alert.get("alert_id"),
                    destination.name, attempts, outcome)
        return False, outcome

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=1.0)
            except queue.Full:  # alerts still waiting are dropped with the daemon thread
                pass
            self._thread.join(timeout=15.0)
        self._client.close()
