"""``threatmatch log-types``: list, show and add log types (schemas)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from threatmatch.cli.context import echo_json, err, out, state, warn
from threatmatch.logtypes import LogType, LogTypeRegistry
from threatmatch.logtypes.describe import field_rows
from threatmatch.logtypes.parsers.common import split_lines
from threatmatch.logtypes.schema import load_schema_file
from threatmatch.logtypes.trial import DEFAULT_KEEP, try_schema


def _registry() -> LogTypeRegistry:
    return LogTypeRegistry.load(state().home)


def _summary(log_type: LogType) -> dict[str, object]:
    return {
        "name": log_type.name,
        "builtin": log_type.builtin,
        "format": log_type.input_format,
        "description": log_type.description,
        "indicator_fields": list(log_type.indicator_fields),
    }


@click.group("log-types")
def log_types() -> None:
    """Log types: the schemas events are parsed and normalised with."""


@log_types.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per log type.")
def list_types(as_json: bool) -> None:
    """List built-in and user log types with their input format and indicator fields."""
    registry = _registry()
    if as_json:
        for log_type in registry:
            echo_json(_summary(log_type))
        return
    table = Table(title="Log types", show_lines=False)
    table.add_column("name", no_wrap=True)
    table.add_column("format")
    table.add_column("source")
    table.add_column("default selectors (p_any_* fields)")
    for log_type in registry:
        table.add_row(escape(log_type.name), log_type.input_format, "built-in" if log_type.builtin else "user",
                      ", ".join(log_type.indicator_fields))
    out.print(table)


@log_types.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and field paths as JSON.")
def show_type(name: str, as_json: bool) -> None:
    """Show one log type: fields, indicators, format and default selectors."""
    log_type = _registry().get(name)
    if as_json:
        echo_json({**_summary(log_type), "field_paths": list(log_type.field_paths),
                   "warnings": list(log_type.schema.warnings)})
        return
    schema = log_type.schema
    out.print(f"[bold]{escape(log_type.name)}[/]  ({'built-in' if log_type.builtin else 'user'}, "
              f"schema version {schema.version})")
    if log_type.description:
        out.print(escape(log_type.description))
    if schema.reference_url:
        out.print(f"reference: {escape(schema.reference_url)}")
    out.print(f"input format: {log_type.input_format}")
    out.print("default selectors: " + (", ".join(log_type.indicator_fields) or "(none: no indicator fields)"))
    table = Table(show_lines=False)
    table.add_column("field", no_wrap=True)
    table.add_column("type")
    table.add_column("indicators")
    table.add_column("notes")
    for row in field_rows(schema.fields):
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    _warn(log_type)


def _warn(log_type: LogType) -> None:
    """The schema's Panther keys that are accepted but not applied (stderr)."""
    for warning in log_type.schema.warnings:
        warn(warning)


@log_types.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def add_type(file: Path) -> None:
    """Validate a custom schema YAML and save it as a user log type (kept in the home directory)."""
    registry = _registry()
    log_type = registry.add(file)
    out.print(f"added log type [bold]{escape(log_type.name)}[/] ({log_type.input_format}); "
              f"default selectors: {', '.join(log_type.indicator_fields) or '(none)'}")
    _warn(log_type)


@log_types.command("test")
@click.argument("schema_file", metavar="SCHEMA", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("sample", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON summary object instead of events and messages.")
@click.option("--show", default=DEFAULT_KEEP, show_default=True, metavar="N",
              type=click.IntRange(min=0), help="Print at most N parsed events.")
def test_type(schema_file: Path, sample: Path, as_json: bool, show: int) -> None:
    """Try a custom schema on sample log lines without saving it: print the events it makes (with their p_* and
    p_any_* fields) and every line it rejects with the reason. Exits 1 when a line is rejected."""
    schema = load_schema_file(schema_file)
    with click.open_file(str(sample), "rb") as handle:
        lines = split_lines(handle.read())  # as ingestion splits a body
    trial = try_schema(schema, lines, now=datetime.now(UTC), keep=show)
    if as_json:
        echo_json({"log_type": trial.log_type, "lines": trial.lines, "parsed": trial.parsed,
                   "rejected": trial.rejected, "events": trial.events,
                   "rejects": [{"line": n, "reason": r, "raw": raw} for n, r, raw in trial.rejects],
                   "warnings": list(schema.warnings)})
    else:
        for event in trial.events:
            echo_json(event)
        for number, reason, _ in trial.rejects:
            err.print(f"[red]rejected:[/] line {number}: {escape(reason)}")
        shown = f" ({len(trial.events)} shown)" if len(trial.events) < trial.parsed else ""
        click.echo(f"{trial.log_type}: {trial.lines:,} lines, {trial.parsed:,} events{shown}, "
                   f"{trial.rejected:,} rejected", err=True)
        for warning in schema.warnings:
            warn(warning)
    if trial.rejected:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [log_types]
