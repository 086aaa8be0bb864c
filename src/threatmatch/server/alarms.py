"""The thread that checks the drop-off alarms of a running service every ``INTERVAL_S`` seconds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("threatmatch.server")

INTERVAL_S = 30.0


class AlarmWatcher:
    """Calls ``check(now)`` every ``interval_s`` seconds until ``stop``; an error is logged, never fatal."""

    def __init__(self, check: Callable[[datetime], Any], interval_s: float = INTERVAL_S) -> None:
        self._check = check
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="threatmatch-alarms", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._check(datetime.now(UTC))
            except Exception:
                log.exception("checking the drop-off alarms failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
