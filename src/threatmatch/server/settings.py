"""Service settings: limits and switches with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
MAX_AUTO_WORKERS = 8


@dataclass(frozen=True)
class ServerSettings:
    """Everything the service needs beyond the home directory."""

    #: Largest accepted ingest body, compressed or not (and the cap on the decompressed size).
    max_body_bytes: int = 16 * MIB
    #: Largest accepted ingest body after gzip decompression (guards against zip bombs).
    max_decompressed_bytes: int = 128 * MIB
    #: Most rows a search returns; a larger ``limit`` is refused with 422.
    search_row_limit: int = 10_000
    #: Longest a search may run before it is interrupted.
    search_timeout_s: float = 10.0
    #: How long a console login lasts.
    session_ttl_s: int = 12 * 3600
    #: Mark cookies ``Secure`` (set when served behind HTTPS).
    secure_cookies: bool = False
    #: Run the refresh scheduler (tests switch it off to drive syncs by hand).
    run_scheduler: bool = True
    #: Extra detection-rule folders loaded besides the built-in pack.
    rule_paths: tuple[Path, ...] = field(default_factory=tuple)
    #: CPU priority of provider refreshes, run in a child process: ``nice`` increment (0 = the service's own).
    sync_niceness: int = 10
    #: New alerts one rule may open within an hour before the alert limiter stops it (Panther: 1,000).
    alert_limit_per_hour: int = 1000
    #: Events per lake write / detection batch inside one ingest request.
    batch_size: int = 5000
    #: Processes that parse, enrich and run the rules on ingest requests (each holds its own copy of the
    #: tables); 0 = inside the service process; None = one per core when there are several cores, else 0.
    ingest_workers: int | None = None
    #: The console's address, for the link in each alert sent to a destination (None: no link).
    console_url: str | None = None

    def resolved_ingest_workers(self) -> int:
        """``ingest_workers`` with ``None`` resolved for this machine."""
        if self.ingest_workers is not None:
            return max(0, self.ingest_workers)
        from threatmatch.enrich.workers import cpu_count

        cores = cpu_count()
        return min(cores, MAX_AUTO_WORKERS) if cores > 1 else 0
