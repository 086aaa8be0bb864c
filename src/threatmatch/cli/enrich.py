"""``threatmatch enrich``: raw logs in, normalised enriched events out (JSON lines)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from threatmatch.cli.context import err, state
from threatmatch.enrich.config import EnrichmentConfig
from threatmatch.enrich.engine import Enricher
from threatmatch.enrich.index import TableIndex
from threatmatch.enrich.pipeline import Pipeline, PipelineResult, Reject
from threatmatch.enrich.tables import load_store_tables, load_table_file, open_maybe_gzip, parse_table_option
from threatmatch.enrich.workers import ChunkResult, WorkerPool, chunk_lines
from threatmatch.errors import ConfigError, NotFoundError
from threatmatch.runtime import tune_for_bulk_work

MAX_SHOWN_REJECTS = 20


def _load_tables(custom: tuple[str, ...], key: str, stored: bool) -> dict[str, TableIndex]:
    st = state()
    spool = st.home.snapshots
    tables = load_store_tables(st.db, spool_dir=spool) if stored else {}
    for option in custom:
        try:
            name, path = parse_table_option(option)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--table") from exc
        if name in tables:
            raise click.BadParameter(f"{name!r} is already a stored lookup table; pick another name",
                                     param_hint="--table")
        try:
            tables[name] = load_table_file(path, name=name, key=key, spool_dir=spool)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--table") from exc
    return tables


class _Input:
    """One input (file or stdin) read as raw byte lines, reporting progress in bytes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.size = 0 if name == "-" else Path(name).stat().st_size

    def lines(self, advance: Callable[[int], None]) -> Iterator[bytes]:
        with ExitStack() as stack:
            if self.name == "-":
                raw: Any = sys.stdin.buffer
                stream: IO[bytes] = open_maybe_gzip_stream(raw)
            else:
                stream = stack.enter_context(open_maybe_gzip(Path(self.name)))
                raw = getattr(stream, "fileobj", None) or stream
            seen = 0
            for count, line in enumerate(stream, 1):
                yield line
                if count % 4096 == 0 and self.size:
                    position = raw.tell()
                    advance(position - seen)
                    seen = position
            if self.size:
                advance(self.size - seen)


def open_maybe_gzip_stream(raw: Any) -> IO[bytes]:
    """stdin, decompressed when it starts with the gzip magic bytes."""
    import gzip
    import io

    if not hasattr(raw, "peek"):
        raw = io.BufferedReader(raw)
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw  # type: ignore[no-any-return]


@click.command("enrich")
@click.option("--log-type", "-t", "log_type", required=True, metavar="TYPE",
              help="Log type of the input (see `threatmatch log-types list`).")
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option("-o", "--output", default="-", metavar="FILE", help="Where enriched events go (default: stdout).")
@click.option("--rejects", "rejects_path", metavar="FILE",
              help="JSON lines of malformed records: file, line number, reason, raw line.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Parallel processes sharing one copy of the tables (JSON log types).")
@click.option("--table", "tables", multiple=True, metavar="NAME=FILE",
              help="Also enrich with a custom table file (.jsonl/.csv/.txt, .gz ok); repeatable.")
@click.option("--key", default="match", show_default=True, metavar="COLUMN",
              help="Column of --table JSON/CSV files holding the value to match.")
@click.option("--no-stored-tables", is_flag=True, help="Ignore the lookup tables stored in the home.")
@click.option("--rules", "rule_dirs", multiple=True, metavar="DIR|builtin",
              help="Run detection rules on the enriched events in the same pass (repeatable; `builtin` = the "
                   "shipped Anomali pack).")
@click.option("--alerts", "alerts_path", metavar="FILE",
              help="Write the alerts as JSON lines (without --rules: the built-in pack).")
@click.option("--store", is_flag=True,
              help="Also keep the enriched events (and alerts) in the home's data lake for `threatmatch search`.")
def enrich(log_type: str, inputs: tuple[str, ...], output: str, rejects_path: str | None, workers: int,
           tables: tuple[str, ...], key: str, no_stored_tables: bool, rule_dirs: tuple[str, ...],
           alerts_path: str | None, store: bool) -> None:
    """Enrich raw logs of one log type (files or - for stdin, .gz detected) into JSON lines.

    Every event is normalised (p_any_* fields, p_row_id, p_event_time...) and matched against every
    enabled lookup table; matches are attached under p_enrichment. Malformed lines go to --rejects;
    a summary (read, enriched, matched, rejected) ends the run on stderr. With --rules, --alerts or
    --store the same pass runs detections and keeps events and alerts in the data lake.
    """
    from threatmatch.cli.downstream import Downstream
    from threatmatch.logtypes import LogTypeRegistry

    tune_for_bulk_work()
    st = state()
    registry = LogTypeRegistry.load(st.home)
    try:
        kind = registry.get(log_type)
    except NotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-type") from exc
    sources = [_Input(name) for name in _check_inputs(inputs)]
    loaded = _load_tables(tables, key, not no_stored_tables)
    for name, index in loaded.items():
        err.print(Text(f"table {name}: {index.stats.rows:,} rows, {index.stats.keys:,} values, "
                        f"{index.stats.cidr_blocks:,} CIDR blocks"))
    if not loaded:
        err.print("no lookup tables: events are normalised but nothing can match "
                  "(sync a provider, or pass --table NAME=FILE)")
    enricher = Enricher(loaded, EnrichmentConfig(st.db), registry)
    downstream = Downstream(st.home, kind.name, rule_dirs=rule_dirs, alerts_path=alerts_path, store=store)

    def make_pipeline() -> Pipeline:
        return Pipeline(registry, enricher)

    parallel = workers > 1 and kind.input_format == "json"
    if workers > 1 and not parallel:
        err.print(f"{kind.name} is not JSON: its lines carry state, so it is processed in one process")
    started = time.perf_counter()
    total = PipelineResult()
    with ExitStack() as stack:
        pool = stack.enter_context(WorkerPool(make_pipeline, workers)) if parallel else None
        sink = sys.stdout.buffer if output == "-" else stack.enter_context(open(output, "wb"))
        reject_sink = stack.enter_context(open(rejects_path, "wb")) if rejects_path else None
        progress = _progress(stack, sum(s.size for s in sources))

        shown = [0]

        def write_rejects(rejects: list[Reject]) -> None:
            for reject in rejects:
                if reject_sink is not None:
                    reject_sink.write(reject.json_line())
                elif shown[0] < MAX_SHOWN_REJECTS:
                    shown[0] += 1
                    err.print(Text(f"rejected {reject.source}:{reject.line}: {reject.reason}"))

        def on_chunk(result: ChunkResult) -> None:
            sink.write(result.output)
            if downstream.active:
                downstream.output(result.output)
            write_rejects(result.rejects)
            read, enriched, matched, rejected = result.counts
            total.add_counts(PipelineResult(read=read, enriched=enriched, matched=matched, rejected=rejected))

        pipeline = make_pipeline()
        for source in sources:
            lines = source.lines(progress)
            if pool is not None:
                pool.run(kind.name, source.name, chunk_lines(lines), on_chunk)
                continue
            for batch in pipeline.stream_lines(kind.name, lines, source=source.name):
                sink.write(batch.output)
                if downstream.active:
                    downstream.output(batch.output)
                write_rejects(batch.rejects)
                total.add_counts(batch)
        sink.flush()
    _summary(total, time.perf_counter() - started, rejects_path)
    if downstream.active:
        err.print(Text(downstream.close()))


def _check_inputs(inputs: tuple[str, ...]) -> list[str]:
    names = list(inputs) or ["-"]
    for name in names:
        if name != "-" and not Path(name).is_file():
            raise click.BadParameter(f"no such file: {name}", param_hint="INPUT")
    if names.count("-") > 1:
        raise click.BadParameter("stdin (-) can be read only once", param_hint="INPUT")
    return names


def _progress(stack: ExitStack, total_bytes: int) -> Callable[[int], None]:
    if not err.is_terminal:
        return lambda _advance: None
    columns = (TextColumn("enriching"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
    progress = stack.enter_context(Progress(*columns, console=err, transient=True))
    task = progress.add_task("enrich", total=total_bytes or None)
    return lambda advance: progress.advance(task, advance)


def _summary(total: PipelineResult, seconds: float, rejects_path: str | None) -> None:
    rate = total.read / seconds if seconds > 0 else 0.0
    err.print(Text(f"read {total.read:,}, enriched {total.enriched:,}, matched {total.matched:,}, "
                    f"rejected {total.rejected:,} in {seconds:.2f}s ({rate:,.0f} events/s)"))
    if total.rejected and not rejects_path:
        err.print(Text(f"{total.rejected:,} rejected line(s) listed above (first {MAX_SHOWN_REJECTS}); "
                       "pass --rejects FILE to keep them all with their raw text"))


COMMANDS: list[click.Command] = [enrich]
