"""Process-wide settings: how often the cyclic garbage collector runs in bulk work, the environment of the
helper processes this package starts, and the pipes that carry bulk data between them.

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
import socket
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

#: (generation 0 allocations, generation 1 and generation 2 multipliers) for processes doing bulk work.
BULK_GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_bulk_work() -> None:
    """Use ``BULK_GC_THRESHOLDS`` in this process (through ``tune_for_bulk_work``)."""
    gc.set_threshold(*BULK_GC_THRESHOLDS)


def name_process(name: str) -> None:
    """Set the calling process's name as the system shows it (Linux ``prctl(PR_SET_NAME)``, at most 15 bytes), so
    ``top``, ``ps -o comm`` and ``/proc/<pid>/comm`` tell the helper processes apart (each is otherwise just
    ``python``); elsewhere, or when refused, nothing changes. The command line (``ps -f``) is not touched."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # 15 = PR_SET_NAME
    except (OSError, AttributeError):
        pass


#: glibc heap settings for processes doing bulk work (``tune_malloc_for_bulk_work``): freed memory below this
#: much at the top of the heap stays with the process, and each growth of the heap asks for this much more.
MALLOC_TRIM_THRESHOLD = 256 << 20
MALLOC_TOP_PAD = 64 << 20
_M_TRIM_THRESHOLD, _M_TOP_PAD = -1, -2  # mallopt() parameter numbers (malloc.h)


def tune_malloc_for_bulk_work() -> bool:
    """Keep freed heap memory in the process instead of handing it back to the system at once: glibc's
    ``M_TRIM_THRESHOLD`` set to ``MALLOC_TRIM_THRESHOLD`` and ``M_TOP_PAD`` to ``MALLOC_TOP_PAD`` through
    ``mallopt``. True when applied (glibc), False elsewhere (other C libraries keep their own policy).

    Bulk work allocates and frees many buffers of a few hundred bytes to a few megabytes per batch (each event's
    JSON text, a batch's output, a lake table): with glibc's defaults the heap top is trimmed back to the system
    as soon as 128 KiB are free there and grown again by the next batch, every page it grows by faulted in and
    zeroed anew (2,000 ``orjson.dumps`` results kept in a list cost 4.5 us each, 0.3 us once the heap is kept).
    Measured, runs interleaved on one machine: ``threatmatch enrich`` of 200,000 CloudTrail lines 28.6k / 32.5k /
    33.3k events/s with glibc's defaults against 33.6k / 36.4k / 36.6k with these settings; an ingest worker's
    per-request work was the same either way (36.7 / 39.2 / 43.5 against 36.1 / 38.8 / 43.9 us per event). The
    price: a process keeps up to its peak heap (plus ``MALLOC_TOP_PAD``) instead of shrinking between batches;
    ``THREATMATCH_MALLOC_TUNING=off`` in the environment keeps glibc's defaults."""
    if not sys.platform.startswith("linux") or os.environ.get("THREATMATCH_MALLOC_TUNING", "").lower() == "off":
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD)) and bool(mallopt(_M_TOP_PAD, MALLOC_TOP_PAD))


def tune_for_bulk_work() -> None:
    """``tune_gc_for_bulk_work`` and ``tune_malloc_for_bulk_work``: what every bulk process (``serve``,
    ``enrich``, the ingest workers, the lake writer, sync processes and their helpers) calls at start."""
    tune_gc_for_bulk_work()
    tune_malloc_for_bulk_work()


def child_env() -> dict[str, str]:
    """The environment for a child process running ``python -m threatmatch...``: this one's, with the package's
    source root first on ``PYTHONPATH`` so the child imports the same code even when it is not installed."""
    package_root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}


#: Socket buffer asked for each end of a ``wide_pipe`` (the kernel caps it at ``net.core.wmem_max`` /
#: ``rmem_max``; 4 MiB is their value on common Linux hosts tuned for throughput, 208 KiB by default).
PIPE_BUFFER_BYTES = 4 * 1024 * 1024


def wide_pipe(context: Any) -> tuple[Connection, Connection]:
    """A duplex ``multiprocessing`` pipe for messages of megabytes (an ingest request's lines, its lake table).

    On Linux a duplex pipe is a Unix socket pair with buffers of about 200 KiB, so a 3 MB message crosses in
    dozens of reads, each waking the other process: about 3.5 µs of CPU per event of a 2,000-event batch
    (both sides), against about 1 µs when the whole message fits in the buffers. Asking for more is best
    effort: where the platform refuses, the pipe keeps its default buffers.
    """
    ends: tuple[Connection, Connection] = context.Pipe()
    for end in ends:
        try:
            with socket.socket(fileno=os.dup(end.fileno())) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BUFFER_BYTES)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIPE_BUFFER_BYTES)
        except OSError:
            pass  # not a socket here (Windows pipes) or refused: default buffers
    return ends


def lower_thread_priority(niceness: int = 10) -> None:
    """Run the calling thread (and the threads it starts) ``niceness`` steps nicer, where the platform has
    per-thread priorities (Linux); elsewhere, or when refused, nothing changes."""
    if not sys.platform.startswith("linux"):  # elsewhere the id of a thread is not what setpriority takes
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + niceness))
    except OSError:
        pass
