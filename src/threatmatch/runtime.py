"""Process-wide settings: how often the cyclic garbage collector runs in bulk work, and the environment of
the helper processes this package starts.

Enrichment keeps a batch of events alive at a time (thousands of dicts and lists decoded from JSON), and a
service or an ``enrich`` run also holds its lookup tables. With CPython's default thresholds (700, 10, 10)
the collector runs after every 700 new containers, rescans each batch as it is promoted from one generation
to the next, and now and then walks every object of the process. On CloudTrail events that was about 40 %
of the CPU of normalising and enriching decoded events (46 µs per event against 29 µs with the thresholds
below, same process, same batch). Decoded events hold no reference cycles, so reference counting frees
each batch as soon as it is done; collecting less often only delays freeing the rare cyclic garbage of
the rest of the program.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

#: (generation 0 allocations, generation 1 and generation 2 multipliers) for processes doing bulk work.
BULK_GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_bulk_work() -> None:
    """Use ``BULK_GC_THRESHOLDS`` in this process (the ``serve`` and ``enrich`` commands, the lake writer and
    sync processes call it at start)."""
    gc.set_threshold(*BULK_GC_THRESHOLDS)


def child_env() -> dict[str, str]:
    """The environment for a child process running ``python -m threatmatch...``: this one's, with the package's
    source root first on ``PYTHONPATH`` so the child imports the same code even when it is not installed."""
    package_root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
