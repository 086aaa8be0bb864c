"""Row building in helper processes: page objects in, packed rows out, over each helper's stdin/stdout.

A large snapshot's rows are built by a few helper processes (``python -m`` this module) so that several
cores build rows while the sync process fetches pages and stores the built rows. Pages go to the helpers
in turn; each helper's results are read as soon as it writes them and handed back in page order. A helper
exits when its stdin closes, so a sync that is killed (even ``kill -9``) leaves no helper behind.

Frames on both pipes are an 8-byte little-endian length followed by msgpack (or, for a result holding an
integer beyond 64 bits, a pickle marked by a leading ``P``; only ever read from our own helper).
"""

from __future__ import annotations

import fcntl
import gc
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO

import msgspec

from threatmatch.errors import SyncError
from threatmatch.providers.threatstream.rows import decode_views, encode_objects
from threatmatch.runtime import child_env, name_process, tune_malloc_for_bulk_work
from threatmatch.storage.lookup_rows import PackedRows, pack_rows

Built = tuple[PackedRows, list[str]]
_Request = tuple[list[bytes], str, int, str]
_LENGTH = struct.Struct("<Q")
_PICKLED = b"P"  # never the first byte of a msgpack 2-element array
_ENCODER = msgspec.msgpack.Encoder()
_RESULT = msgspec.msgpack.Decoder(tuple[PackedRows, list[str]])
_REQUEST = msgspec.msgpack.Decoder(_Request)


_EPOCH_2020_US = 1_577_836_800_000_000


class PageRowIds:
    """``p_row_id`` values a page at a time: ``take(n)`` returns ``n`` new 32-hex ids.

    Same layout as ``threatmatch.logtypes.rowid``: 6 random bytes chosen per instance (so ids of different
    processes never meet), 6 bytes of microseconds since 2020 at start, a 4-byte counter; the time part moves
    on when the counter would wrap. One instance per thread.
    """

    def __init__(self) -> None:
        self._node = os.urandom(6).hex()
        self._start = -1
        self._prefix = ""
        self._next = 1 << 32  # a time part is chosen on first use

    def take(self, count: int) -> list[str]:
        if self._next + count > 1 << 32:
            self._start = max(time.time_ns() // 1000 - _EPOCH_2020_US, self._start + 1) & 0xFFFFFFFFFFFF
            self._prefix = f"{self._node}{self._start:012x}"
            self._next = 0
        first = self._next
        self._next += count
        return list(map(self._prefix.__add__, map(_HEX8, range(first, first + count))))


_HEX8 = "{:08x}".format


def build_page(objects: list[bytes], *, parse_time: str, number: int, cursor: object,
               row_ids: Callable[[int], list[str]], body: bytes | None = None) -> Built:
    """Rows of one page's objects (packed for the store), and the rejected ones with page, position and reason.

    ``body`` (the page's JSON, when at hand) lets every object's fields be decoded in one call; ``row_ids(n)``
    gives ``n`` new row ids (``PageRowIds().take``).
    """
    views = decode_views(body) if body is not None else None
    rows, errors = encode_objects(objects, views, parse_time=parse_time, row_ids=row_ids(len(objects)))
    return pack_rows(rows), [f"page {number} (update_id > {cursor}), object {index}: {exc}" for index, exc in errors]


def _encode_result(built: Built) -> bytes:
    try:
        return _ENCODER.encode(built)
    except (msgspec.EncodeError, OverflowError):  # an integer beyond 64 bits, kept exactly in the row
        return _PICKLED + pickle.dumps(built, protocol=pickle.HIGHEST_PROTOCOL)


def _decode_result(data: bytes) -> Built:
    if data.startswith(_PICKLED):
        packed, rejects = pickle.loads(data[len(_PICKLED):])  # noqa: S301 - written by our own helper process
        return PackedRows(*packed), list(rejects)
    built: Built = _RESULT.decode(data)
    return built


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


def _write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


PIPE_BYTES = 1 << 20  # pipe capacity asked for (Linux): a page's request or result fits without a wait


def _widen_pipe(stream: IO[bytes] | None) -> None:
    """Ask for a larger pipe buffer (Linux ``F_SETPIPE_SZ``); elsewhere, or when refused, the default stays."""
    if stream is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    try:
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass


class RowBuilders:
    """A few helper processes building pages of rows; results come back in submission order.

    Each helper has a thread writing its requests and one reading its results as soon as they are written, so a
    helper never waits for the sync to want its result before it starts on its next page.
    """

    def __init__(self, workers: int) -> None:
        env = child_env()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._feeds: list[queue.Queue[bytes | None]] = []
        self._results: list[queue.Queue[bytes | None]] = []
        self._readers: list[threading.Thread] = []
        self._order: deque[int] = deque()
        self._next = 0
        for _ in range(workers):
            proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    env=env)
            _widen_pipe(proc.stdin)
            _widen_pipe(proc.stdout)
            feed: queue.Queue[bytes | None] = queue.Queue()
            results: queue.Queue[bytes | None] = queue.Queue()
            threading.Thread(target=self._feed, args=(proc, feed), name="row-builder-feed", daemon=True).start()
            reader = threading.Thread(target=self._drain, args=(proc, results), name="row-builder-read", daemon=True)
            reader.start()
            self._procs.append(proc)
            self._feeds.append(feed)
            self._results.append(results)
            self._readers.append(reader)

    @staticmethod
    def _feed(proc: subprocess.Popen[bytes], feed: queue.Queue[bytes | None]) -> None:
        """Write requests to one helper (a thread, so a helper busy writing results never blocks us)."""
        assert proc.stdin is not None
        try:
            while (data := feed.get()) is not None:
                _write_frame(proc.stdin, data)
            proc.stdin.close()
        except OSError:  # the helper died; reading its result reports it
            pass

    @staticmethod
    def _drain(proc: subprocess.Popen[bytes], results: queue.Queue[bytes | None]) -> None:
        """Read one helper's results as they come; None once it stops (its exit code is reported by ``result``)."""
        assert proc.stdout is not None
        try:
            while (data := _read_frame(proc.stdout)) is not None:
                results.put(data)
        except (OSError, ValueError):  # the pipe was closed under us by close()
            pass
        results.put(None)

    @property
    def pending(self) -> int:
        return len(self._order)

    def submit(self, objects: list[bytes], *, parse_time: str, number: int, cursor: object) -> None:
        """Queue one page's objects for the next helper in turn."""
        worker = self._next
        self._next = (self._next + 1) % len(self._procs)
        self._feeds[worker].put(_ENCODER.encode((objects, parse_time, number, f"{cursor}")))
        self._order.append(worker)

    def result(self) -> Built:
        """The rows of the oldest submitted page (waits for it)."""
        worker = self._order.popleft()
        data = self._results[worker].get()
        if data is None:
            self._results[worker].put(None)  # every later page of this helper fails the same way
            code = self._procs[worker].wait()
            raise SyncError(f"a row-building helper process exited unexpectedly (exit code {code}); "
                            "its error, if any, is shown above. Run the sync again.")
        return _decode_result(data)

    def close(self) -> None:
        """Stop every helper (work still queued is dropped)."""
        for feed in self._feeds:
            feed.put(None)
        for proc in self._procs:
            if self._order:
                proc.kill()  # abandoned mid-sync: no need to let it finish queued pages
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for proc, reader in zip(self._procs, self._readers, strict=True):
            reader.join(timeout=10)  # it sees the end of the pipe once the helper is gone
            if proc.stdout is not None and not reader.is_alive():
                proc.stdout.close()
        self._order.clear()


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """A helper's loop: build each requested page until stdin closes."""
    row_ids = PageRowIds().take  # its random node part differs per process: ids stay unique across helpers
    while (data := _read_frame(stdin)) is not None:
        objects, parse_time, number, cursor = _REQUEST.decode(data)
        body = b"".join((b'{"objects":[', b",".join(objects), b"]}"))  # decoded in one call (no second split)
        built = build_page(objects, parse_time=parse_time, number=number, cursor=cursor, row_ids=row_ids, body=body)
        _write_frame(stdout, _encode_result(built))


if __name__ == "__main__":
    name_process("tm-sync-rows")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sync's to handle; it closes our stdin
    gc.disable()  # building rows makes no reference cycles: the collector would only rescan live rows
    tune_malloc_for_bulk_work()
    serve(sys.stdin.buffer, sys.stdout.buffer)
