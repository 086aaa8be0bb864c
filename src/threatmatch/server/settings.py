"""Service settings: limits and switches with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


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
    #: Events per lake write / detection batch inside one ingest request.
    batch_size: int = 5000
