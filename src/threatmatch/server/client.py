"""HTTP client for ``threatmatch ingest``: sends files in gzip-compressed batches and adds up the answers."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from threatmatch.enrich.batches import Reject, raw_text
from threatmatch.errors import ConfigError, ProviderNetworkError

GZIP_MAGIC = b"\x1f\x8b"
# At most this many lines per request: the service lists the first 1,000 rejects of a request with their line
# numbers (``ingest_core.MAX_REJECT_DETAILS``), so every reject of a batch comes back and reaches --rejects.
MAX_BATCH_LINES = 1000


@dataclass
class IngestSummary:
    """Totals over every batch of every file; reject line numbers are counted within each file."""

    read: int = 0
    accepted: int = 0
    rejected: int = 0
    matched: int = 0
    alerts: int = 0
    rule_errors: int = 0
    #: Lines of requests that failed (network, or refused as a whole): not ingested; with --rejects they are
    #: written there too, each with the reason.
    not_sent: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "accepted": self.accepted, "rejected": self.rejected, "matched": self.matched,
                "alerts": self.alerts, "rule_errors": self.rule_errors, "not_sent": self.not_sent,
                "rejects": self.rejects, "failed_requests": self.failed_requests}

    def print(self, console: Console) -> None:
        console.print(f"read {self.read}  accepted {self.accepted}  rejected {self.rejected}  "
                      f"matched {self.matched}  alerts {self.alerts}"
                      + (f"  rule errors {self.rule_errors} (see the alerts)" if self.rule_errors else ""))
        for reject in self.rejects[:50]:
            console.print(f"  rejected {reject['file']}:{reject['line']}: {reject['reason']}", markup=False)
        if len(self.rejects) > 50:
            console.print(f"  ... and {len(self.rejects) - 50} more rejects (use --json for all)")
        for failure in self.failed_requests:
            console.print(f"  request failed: {failure}", markup=False)
        if self.not_sent:
            console.print(f"  {self.not_sent} line(s) not ingested (their requests failed): send them again")


def _lines(raw: IO[bytes]) -> Iterator[bytes]:
    """Lines of a plain or gzip-compressed file (detected by its magic bytes)."""
    magic = raw.read(2)
    raw.seek(0)
    if magic == GZIP_MAGIC:
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield from unzipped
    else:
        yield from raw


def _batches(handle: Iterable[bytes], batch_bytes: int,
             max_lines: int = MAX_BATCH_LINES) -> Iterator[tuple[int, list[bytes]]]:
    """(first line number, lines) chunks of about ``batch_bytes``, at most ``max_lines`` lines each."""
    lines: list[bytes] = []
    size = 0
    first = 1
    number = 0
    for number, line in enumerate(handle, start=1):
        lines.append(line if line.endswith(b"\n") else line + b"\n")
        size += len(line)
        if size >= batch_bytes or len(lines) >= max_lines:
            yield first, lines
            lines, size, first = [], 0, number + 1
    if lines:
        yield first, lines


class IngestClient:
    """Posts log lines to ``POST /api/v1/ingest/{log_type}``."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 120.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--url {base_url!r} must start with http:// or https://")
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport,
                                    headers={"Authorization": f"Bearer {token}"})

    def post_lines(self, log_type: str, lines: list[bytes]) -> dict[str, Any]:
        """Send one batch; returns the server's counts. Raises on transport failure."""
        body = gzip.compress(b"".join(lines), compresslevel=5)
        try:
            response = self._client.post(f"/api/v1/ingest/{quote(log_type, safe='')}", content=body,
                                         headers={"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"})
        except httpx.HTTPError as exc:
            raise ProviderNetworkError(f"cannot reach the service at {self._client.base_url}: {exc}") from exc
        data: dict[str, Any] = response.json() if response.content else {}
        if response.status_code >= 400:
            error = data.get("error", {}) if isinstance(data, dict) else {}
            raise ConfigError(f"the service refused the batch ({response.status_code}): "
                              f"{error.get('message', response.text[:300])}")
        return data

    def send_files(self, log_type: str, files: tuple[Path, ...], *, batch_bytes: int,
                   rejects: IO[bytes] | None = None) -> IngestSummary:
        """Send every file in batches with a progress bar on stderr. ``rejects``: where each line that was not
        ingested goes as a JSON line (``file``, ``line``, ``reason``, ``raw``, as ``enrich --rejects`` writes
        them): the lines the service rejected, and every line of a request that failed."""
        summary = IngestSummary()
        total = sum(p.stat().st_size for p in files)
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            task = progress.add_task("ingest", total=total)
            done_before = 0
            for path in files:
                progress.update(task, description=path.name)
                size = path.stat().st_size
                with path.open("rb") as raw:
                    for first, lines in _batches(_lines(raw), batch_bytes):
                        self._send_batch(summary, log_type, path, first, lines, rejects)
                        progress.update(task, completed=done_before + min(raw.tell(), size))
                done_before += size
                progress.update(task, completed=done_before)
        return summary

    def _send_batch(self, summary: IngestSummary, log_type: str, path: Path, first: int, lines: list[bytes],
                    rejects: IO[bytes] | None = None) -> None:
        try:
            answer = self.post_lines(log_type, lines)
        except (ConfigError, ProviderNetworkError) as exc:
            summary.failed_requests.append(f"{path}:{first}-{first + len(lines) - 1}: {exc}")
            summary.not_sent += len(lines)
            if rejects is not None:
                for offset, line in enumerate(lines):
                    rejects.write(Reject(first + offset, f"not ingested: {exc}", raw_text(line), str(path)).json_line())
            return
        for key in ("read", "accepted", "rejected", "matched", "alerts", "rule_errors"):
            setattr(summary, key, getattr(summary, key) + int(answer.get(key, 0)))
        for reject in answer.get("rejects", []):
            number = int(reject["line"])
            summary.rejects.append({"file": str(path), "line": first - 1 + number, "reason": reject["reason"]})
            if rejects is not None:
                raw = lines[number - 1] if 0 < number <= len(lines) else None
                rejects.write(Reject(first - 1 + number, reject["reason"], raw_text(raw), str(path)).json_line())
