"""``p_row_id`` generation: 32 hex characters, unique per generator and across processes.

Layout (after Panther V1's node + start time + counter idea): 6 random bytes chosen at start,
6 bytes of microseconds since 2020-01-01 at start, and a 4-byte counter. When the counter wraps, the
time part is refreshed, so ids stay unique within a process; the random node part separates processes.
"""

from __future__ import annotations

import itertools
import os
import threading
import time

_EPOCH_2020_US = 1_577_836_800_000_000


class RowIdGenerator:
    """Callable returning a new unique 32-hex id per call (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._node = os.urandom(6).hex()
        self._last_start = -1
        self._reset()

    def _reset(self) -> None:
        start = max(time.time_ns() // 1000 - _EPOCH_2020_US, self._last_start + 1) & 0xFFFFFFFFFFFF
        self._last_start = start
        self._state = (f"{self._node}{start:012x}", itertools.count())

    def __call__(self) -> str:
        while True:
            prefix, counter = self._state
            number = next(counter)
            if number <= 0xFFFFFFFF:
                return f"{prefix}{number:08x}"
            with self._lock:
                if self._state[1] is counter:
                    self._reset()
