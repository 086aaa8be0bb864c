"""``threatmatch search`` (DuckDB SQL over the data lake) and ``threatmatch store`` (retention, sizes)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from rich.table import Table
from rich.text import Text

from threatmatch.cli.context import echo_json, err, out, state
from threatmatch.errors import ConfigError
from threatmatch.lake import DatasetStats, Lake, SearchResult, parse_duration
from threatmatch.lake.indicator_search import indicator_sql, indicator_values

_CELL_CHARS = 200


def _cell(value: Any) -> Text:
    """A table cell as plain Text: data is never read as Rich markup."""
    if value is None:
        return Text("NULL", style="dim")
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    if len(text) > _CELL_CHARS:
        text = text[: _CELL_CHARS - 1] + "…"
    return Text(text)


def render_table(result: SearchResult) -> Table:
    """The result as a Rich table (headers and values as Text)."""
    table = Table(show_lines=False, header_style="bold")
    for name in result.columns:
        table.add_column(Text(name), overflow="fold")
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def _views_table(views: dict[str, list[tuple[str, str]]]) -> Table:
    table = Table(header_style="bold")
    table.add_column("view")
    table.add_column("columns", overflow="fold")
    for view, columns in views.items():
        table.add_row(Text(view), Text(", ".join(f"{c} {t}" for c, t in columns)))
    return table


@click.command("search")
@click.argument("sql", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines (one object per row) instead of a table.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Return at most this many rows (the output says when more exist).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Stop the query after this many seconds.")
@click.option("--views", "list_views", is_flag=True, help="List the searchable views and their columns.")
@click.option("--indicator", "indicators", metavar="VALUES",
              help="Instead of SQL: the events holding any of these values (comma or space separated, at most 100) in "
                   "any p_any_* field, enriched or not (IPs in canonical form, the rest without case).")
@click.option("--since", metavar="DURATION", help="With --indicator: only events of the last DURATION (e.g. 7d, 12h).")
@click.option("--log-type", "log_type", metavar="NAME", help="With --indicator: only events of this log type.")
def search_command(sql: str | None, as_json: bool, limit: int, timeout: float, list_views: bool,
                   indicators: str | None, since: str | None, log_type: str | None) -> None:
    """Run one read-only DuckDB SQL query over the stored enriched events, or an indicator search (--indicator).

    Views: one per log type (AWS.CloudTrail -> aws_cloudtrail), all_events, alerts, and one per lookup table
    (anomali_<provider>). Pass "-" to read the query from stdin. Examples are in docs/search.md.
    """
    lake = Lake(state().home)
    if indicators is not None:
        if sql is not None:
            raise click.UsageError("give either SQL or --indicator, not both")
        values = indicator_values(indicators)
        if not values:
            raise click.BadParameter("no value to search for", param_hint="--indicator")
        start = datetime.now(UTC) - parse_duration(since) if since else None
        sql = indicator_sql(values, since=start, log_type=log_type)
    elif since is not None or log_type is not None:
        raise click.UsageError("--since and --log-type go with --indicator (in SQL, write them in the query)")
    if list_views:
        views = lake.describe()
        if as_json:
            for view, columns in views.items():
                echo_json({"view": view, "columns": [{"name": c, "type": t} for c, t in columns]})
        else:
            out.print(_views_table(views))
        return
    if sql is None:
        raise ConfigError('no query given: threatmatch search "SELECT ..." (or --views to list what to query)')
    if sql == "-":
        sql = sys.stdin.read()
    result = lake.search(sql, limit=limit, timeout_s=timeout)
    for warning in result.warnings:
        err.print(Text(f"warning: {warning}", style="yellow"))
    if as_json:
        for record in result.records():
            echo_json(record)
    else:
        out.print(render_table(result))
    more = f"; more rows exist (raise --limit {limit})" if result.truncated else ""
    err.print(Text(f"{len(result.rows)} row(s) in {result.elapsed_s:.3f} s{more}", style="dim"))


@click.group("store")
def store_group() -> None:
    """Manage the data lake of enriched events and alerts (retention, compaction, sizes)."""


@store_group.command("prune")
@click.option("--older-than", "older_than", required=True, metavar="DURATION",
              help="Delete hour partitions entirely older than this, e.g. 30d, 12h, 90m, 2w.")
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def prune_command(older_than: str, dry_run: bool, as_json: bool) -> None:
    """Delete stored events and alerts older than a duration (whole hour partitions)."""
    try:
        age = parse_duration(older_than)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from exc
    result = Lake(state().home).prune(age, now=datetime.now(UTC), dry_run=dry_run)
    if as_json:
        echo_json({"cutoff": result.cutoff, "dry_run": result.dry_run, "total": vars(result.total),
                   "datasets": {k: vars(v) for k, v in result.datasets.items()}})
        return
    verb = "would delete" if dry_run else "deleted"
    out.print(Text(f"{verb} {result.total.partitions} partition(s), {result.total.files} file(s), "
                   f"{result.total.rows} row(s), {_size(result.total.bytes)} older than {result.cutoff}"))
    if result.datasets:
        out.print(_stats_table(result.datasets))


@store_group.command("compact")
@click.option("--min-files", type=click.IntRange(min=2), default=4, show_default=True,
              help="Merge an hour partition only when it has at least this many small files (under 64 MiB).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compact_command(min_files: int, as_json: bool) -> None:
    """Merge the small files of closed hour partitions into one file each (faster searches)."""
    result = Lake(state().home).compact(now=datetime.now(UTC), min_files=min_files)
    if as_json:
        echo_json(vars(result))
        return
    out.print(Text(f"merged {result.partitions} partition(s): {result.files_before} file(s) into "
                   f"{result.files_after}" + (f"; {result.skipped_busy} busy, skipped" if result.skipped_busy else "")))


@store_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, one per dataset.")
def stats_command(as_json: bool) -> None:
    """Show partitions, files, rows and bytes per log type, alerts and lookup exports."""
    found = Lake(state().home).stats()
    if as_json:
        for name, numbers in found.items():
            echo_json({"dataset": name, **vars(numbers)})
        return
    if not found:
        out.print("the data lake is empty")
        return
    out.print(_stats_table(found))


def _stats_table(found: dict[str, DatasetStats]) -> Table:
    table = Table(header_style="bold")
    table.add_column("dataset", no_wrap=True, min_width=max(len(name) for name in found))
    for name in ("partitions", "files", "rows", "size", "oldest", "newest"):
        table.add_column(name, justify="left" if name in ("oldest", "newest") else "right")
    for name, s in sorted(found.items()):
        table.add_row(Text(name), str(s.partitions), str(s.files), str(s.rows), _size(s.bytes),
                      Text(s.oldest or "-"), Text(s.newest or "-"))
    return table


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


COMMANDS: list[click.Command] = [search_command, store_group]
