"""Injected faults (test-only): each fires for the next N API requests, in the order they were queued.

Kinds: ``429`` (optional ``retry_after`` seconds -> ``Retry-After`` header), ``500``, ``502``, ``503``
(optional ``retry_after``), ``403``, ``slow`` (sleep ``delay`` seconds, then answer normally),
``truncate`` (``mode="short"``: declare the full Content-Length, send half the body and close;
``mode="json"``: a complete response whose JSON body is cut in half) and ``drop`` (close the connection
without answering).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("429", "500", "502", "503", "403", "slow", "truncate", "drop")
_BODIES = {
    "429": b'{"error": "Too many requests: rate limit exceeded, retry later"}',
    "500": b'{"error": "Internal server error"}',
    "502": b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
    "503": b"<html><head><title>503 Service Unavailable</title></head><body>Service Unavailable</body></html>",
    "403": b'{"error": "Forbidden: this account may not access the intelligence API"}',
}


@dataclass
class Fault:
    """One queued fault and how many more requests it applies to."""

    kind: str
    count: int = 1
    retry_after: float | None = None
    delay: float = 2.0
    mode: str = "short"

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Validate an admin request body; ValueError explains what is wrong."""
        if not isinstance(data, dict):
            raise ValueError('a fault is a JSON object such as {"kind": "429", "count": 2, "retry_after": 1}')
        kind = str(data.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(KINDS)}")
        unknown = set(data) - {"kind", "count", "retry_after", "delay", "mode"}
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        count = data.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        retry_after = data.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int | float) or retry_after < 0):
            raise ValueError("retry_after must be a non-negative number of seconds or null")
        delay = data.get("delay", 2.0)
        if not isinstance(delay, int | float) or not 0 <= delay <= 600:
            raise ValueError("delay must be between 0 and 600 seconds")
        mode = data.get("mode", "short")
        if mode not in ("short", "json"):
            raise ValueError("truncate mode must be 'short' or 'json'")
        return cls(kind, count, retry_after, float(delay), mode)

    def status_response(self) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """(status, headers, body) for error-status kinds; None for the others."""
        if self.kind not in _BODIES:
            return None
        body = _BODIES[self.kind]
        kind = "application/json" if body.startswith(b"{") else "text/html"
        headers = [("Content-Type", kind)]
        if self.retry_after is not None and self.kind in ("429", "503"):
            seconds = self.retry_after
            headers.append(("Retry-After", str(int(seconds)) if float(seconds).is_integer() else str(seconds)))
        return int(self.kind), headers, body


class FaultQueue:
    """Thread-safe FIFO of faults; ``take`` consumes one use of the first pending fault."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self._faults.pop(0)
            return Fault(fault.kind, 1, fault.retry_after, fault.delay, fault.mode)

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]
