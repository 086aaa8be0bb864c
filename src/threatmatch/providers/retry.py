"""Retrying requests to intel providers: one policy (attempts, capped exponential back-off with jitter,
``Retry-After``) for every provider kind, and the loop that applies it.

A provider's single attempt raises ``Retryable`` for what is worth another try (429, 5xx, time-outs, a
truncated body) carrying the error to raise once the attempts run out; anything else it raises directly.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from threatmatch.errors import ProviderError, ProviderNetworkError

log = logging.getLogger("threatmatch.providers")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before retrying 429, 5xx, time-outs and malformed answers.

    Delay before retry ``n`` (0-based): ``Retry-After`` when the server sends one (up to
    ``max_retry_after``), else ``min(max_delay, base_delay * 2**n)`` scaled by a random factor in [0.5, 1).
    """

    attempts: int = 5
    base_delay: float = 5.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, retry: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * float(2 ** retry))
        return ceiling * (0.5 + float(self.random()) / 2)


class Retryable(Exception):
    """A failure worth another attempt: ``reason`` is logged, ``error`` raised when attempts run out;
    ``delay`` is the server's ``Retry-After`` when it sent one."""

    def __init__(self, reason: str, error: ProviderError, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.delay = delay


def network_failure(exc: httpx.TransportError, timeout: float, *, silent: str, unreachable: str) -> Retryable:
    """The retryable failure of a request that got no answer: ``silent`` (the plain-words error once the attempts
    run out) for a time-out, ``unreachable`` for any other transport error (refused, reset, DNS, TLS...)."""
    if isinstance(exc, httpx.TimeoutException):
        return Retryable(f"no answer within {timeout:g} s", ProviderNetworkError(silent))
    return Retryable(f"connection failed ({type(exc).__name__})", ProviderNetworkError(unreachable))


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def with_retries(attempt: Callable[[], T], policy: RetryPolicy, *, what: str,
                 waited: Callable[[float], None] | None = None) -> T:
    """``attempt()`` until it succeeds, raises something other than ``Retryable``, or the attempts run out
    (then the ``Retryable``'s error is raised). ``what`` names the request in the log; ``waited(seconds)``
    is told each back-off's length."""
    for number in range(policy.attempts):
        try:
            return attempt()
        except Retryable as failure:
            if number + 1 >= policy.attempts:
                raise failure.error from None
            delay = failure.delay if failure.delay is not None else policy.backoff(number)
            log.warning("%s: %s; retry %d/%d in %.2f s", what, failure.reason, number + 1, policy.attempts - 1,
                        delay)
            started = time.perf_counter()
            policy.sleep(delay)
            if waited is not None:
                waited(time.perf_counter() - started)
    raise AssertionError("unreachable")  # pragma: no cover
