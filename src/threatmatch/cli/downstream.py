"""What `threatmatch enrich` does after enriching, in the same pass: detections (``--rules``), alerts
(``--alerts``) and the data lake (``--store``) — the CLI twin of the service's ingest path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from threatmatch.home import Home


class Downstream:
    """Runs rules over each enriched batch, keeps the alerts, and writes events and alerts to the lake."""

    def __init__(self, home: Home, log_type: str, *, rule_dirs: tuple[str, ...], alerts_path: str | None,
                 store: bool) -> None:
        self.log_type = log_type
        self.alerts_path = alerts_path
        self.ruleset: Any = None
        self.manager: Any = None
        self.lookup: Any = None
        if rule_dirs or alerts_path:  # the detection modules load only when rules run
            from threatmatch.cli.rules import rule_paths, store_lookup
            from threatmatch.detect import AlertManager, load_rules

            self.ruleset = load_rules(rule_paths(rule_dirs), strict=True)
            self.manager = AlertManager(self.ruleset)
            self.lookup = store_lookup()
        self.alerts: dict[str, dict[str, Any]] = {}
        self.matches = self.errors = self.stored = 0
        if store:
            from threatmatch.lake import Lake

            self.lake: Any = Lake(home, buffer_rows=50_000)
        else:
            self.lake = None

    @property
    def active(self) -> bool:
        return self.ruleset is not None or self.lake is not None

    def events(self, events: list[dict[str, Any]]) -> None:
        """Detect on and store one batch of enriched events."""
        if not events:
            return
        if self.ruleset is not None and self.manager is not None:
            from threatmatch.detect import run_detections

            results, changed = run_detections(events, self.ruleset, self.manager, datetime.now(UTC),
                                              lookup=self.lookup)
            for result in results:
                if result.error is None:
                    self.matches += 1
                else:
                    self.errors += 1
            for alert in changed:
                self.alerts[alert["alert_id"]] = alert
        if self.lake is not None:
            self.stored += self.lake.write_events(self.log_type, events)

    def output(self, output: bytes) -> None:
        """Detect on and store a chunk already serialised by a worker process (JSON lines)."""
        self.events([orjson.loads(line) for line in output.splitlines() if line])

    def close(self) -> str:
        """Write the alerts and flush the lake; returns the summary line."""
        parts: list[str] = []
        if self.ruleset is not None:
            if self.alerts_path:
                Path(self.alerts_path).write_bytes(
                    b"".join(orjson.dumps(alert, default=str) + b"\n" for alert in self.alerts.values()))
            parts.append(f"{self.matches:,} rule matches, {self.errors:,} rule errors, {len(self.alerts):,} alerts "
                         f"({len(self.ruleset)} rules)")
        if self.lake is not None:
            if self.alerts:
                self.lake.write_alerts(list(self.alerts.values()))
            self.lake.flush()
            self.lake.close()
            parts.append(f"stored {self.stored:,} events and {len(self.alerts):,} alerts in the lake "
                         "(`threatmatch search`)")
        return "; ".join(parts)
