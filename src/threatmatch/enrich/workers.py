"""Enrich with several processes that share one copy of the tables.

The parent loads the tables, then forks the workers (``fork`` start method): the matcher's dicts and
the memory-mapped rows are shared copy-on-write, never copied or pickled (``gc.freeze()`` first, so
the collector does not dirty the shared pages). The parent cuts the input into chunks at safe record
boundaries, workers parse -> normalise -> enrich -> serialise each chunk, and the parent writes
results strictly in input order.

Only JSON log types are cut into chunks: a chunk boundary is placed only between a line ending with
``}`` and a line starting with ``{`` (never inside a pretty-printed document). Other formats carry
state across lines (Zeek ``#fields`` headers, CSV headers) and are processed in one process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from threatmatch.enrich.pipeline import Pipeline, PipelineResult, Reject
from threatmatch.enrich.pipeline import serialize as serialize  # public here too
from threatmatch.errors import ThreatmatchError

DEFAULT_CHUNK_LINES = 2000


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back for one chunk."""

    seq: int
    output: bytes
    rejects: list[Reject]
    counts: tuple[int, int, int, int]  # read, enriched, matched, rejected


def run_chunk(pipeline: Pipeline, log_type: str, source: str, first_line: int, data: bytes,
              seq: int = 0) -> ChunkResult:
    """Parse, normalise, enrich and serialise one chunk of raw lines."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    total = PipelineResult()
    outputs = []
    for batch in pipeline.stream_lines(log_type, lines, source=source, first_line=first_line, batch_size=1 << 62):
        outputs.append(batch.output)
        total.rejects.extend(batch.rejects)
        total.add_counts(batch)
    counts = (total.read, total.enriched, total.matched, total.rejected)
    return ChunkResult(seq, b"".join(outputs), total.rejects, counts)


def chunk_lines(lines: Iterable[bytes], size: int = DEFAULT_CHUNK_LINES) -> Iterator[tuple[int, bytes]]:
    """``(first line number, bytes)`` chunks of about ``size`` lines, cut only between ``}`` and ``{`` lines."""
    chunk: list[bytes] = []
    first = 1
    previous = b""
    for number, line in enumerate(lines, 1):
        if len(chunk) >= size and line[:1] == b"{" and previous.rstrip()[-1:] == b"}":
            yield first, b"".join(chunk)
            chunk = []
            first = number
        if line[-1:] != b"\n":
            line += b"\n"
        chunk.append(line)
        previous = line
    if chunk:
        yield first, b"".join(chunk)


def _worker(make_pipeline: Callable[[], Pipeline], tasks: Any, results: Any) -> None:
    pipeline = make_pipeline()  # a fresh row-id generator per process
    while True:
        task = tasks.get()
        if task is None:
            return
        seq, log_type, source, first_line, data = task
        try:
            results.put(run_chunk(pipeline, log_type, source, first_line, data, seq))
        except BaseException as exc:  # report, never hang the parent
            results.put((seq, f"{type(exc).__name__}: {exc}"))
            return


class WorkerPool:
    """``workers`` forked processes running ``run_chunk``; results come back in input order.

    Create it after the tables are loaded and before any other thread starts (fork copies only the
    calling thread).
    """

    def __init__(self, make_pipeline: Callable[[], Pipeline], workers: int) -> None:
        if workers < 2:
            raise ValueError("WorkerPool needs at least 2 workers; run in-process otherwise")
        context = multiprocessing.get_context("fork")
        self._tasks = context.Queue(maxsize=workers * 2)
        self._results = context.Queue()
        gc.collect()
        gc.freeze()  # keep the collector off the shared, inherited pages
        self._procs = [context.Process(target=_worker, args=(make_pipeline, self._tasks, self._results), daemon=True)
                       for _ in range(workers)]
        for proc in self._procs:
            proc.start()
        gc.unfreeze()
        self.workers = workers
        self.pids = [proc.pid for proc in self._procs]

    def run(self, log_type: str, source: str, chunks: Iterable[tuple[int, bytes]],
            on_result: Callable[[ChunkResult], None]) -> None:
        """Feed ``chunks`` of one input; ``on_result`` sees each chunk's result in input order."""
        pending: dict[int, ChunkResult] = {}
        next_out = 0
        submitted = 0
        for first_line, data in chunks:
            while submitted - next_out >= self.workers * 2:
                next_out = self._drain(pending, next_out, on_result, block=True)
            self._tasks.put((submitted, log_type, source, first_line, data))
            submitted += 1
            next_out = self._drain(pending, next_out, on_result, block=False)
        while next_out < submitted:
            next_out = self._drain(pending, next_out, on_result, block=True)

    def _drain(self, pending: dict[int, ChunkResult], next_out: int, on_result: Callable[[ChunkResult], None],
               *, block: bool) -> int:
        """Collect results (one when blocking, all available otherwise) and pass on those now in order."""
        while True:
            try:
                item = self._results.get(timeout=1.0) if block else self._results.get_nowait()
            except queue.Empty:
                if not block:
                    return next_out
                self._check_alive()
                continue
            if isinstance(item, tuple):
                raise ThreatmatchError(f"an enrichment worker failed on chunk {item[0]}: {item[1]}")
            pending[item.seq] = item
            while next_out in pending:
                on_result(pending.pop(next_out))
                next_out += 1
            if block:
                return next_out

    def _check_alive(self) -> None:
        for proc in self._procs:
            if not proc.is_alive():
                raise ThreatmatchError(f"enrichment worker {proc.pid} died (exit code {proc.exitcode}); "
                                       "try fewer --workers or check free memory")

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        for _ in self._procs:
            try:
                self._tasks.put(None, timeout=1.0)
            except queue.Full:
                break
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def totals(results: Iterable[ChunkResult]) -> PipelineResult:
    """Sum of chunk counts (helper for tests and the CLI summary)."""
    total = PipelineResult()
    for item in results:
        read, enriched, matched, rejected = item.counts
        total.read += read
        total.enriched += enriched
        total.matched += matched
        total.rejected += rejected
    return total
