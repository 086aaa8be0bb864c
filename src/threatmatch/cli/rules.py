"""``threatmatch rules test|list`` and ``threatmatch detect``: Panther-compatible detections from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.markup import escape
from rich.table import Table

from threatmatch.cli.context import err, out, state
from threatmatch.detect import AlertManager, RuleSet, builtin_rules_dir, load_rules, run_detections, run_tests
from threatmatch.detect.event import LookupFn
from threatmatch.errors import RuleError

BUILTIN = "builtin"
BATCH = 2000


def rule_paths(values: tuple[str, ...]) -> list[Path]:
    """Rule directories from the command line; ``builtin`` names the shipped pack; none means the pack."""
    chosen = values or (BUILTIN,)
    return [builtin_rules_dir() if v == BUILTIN else Path(v) for v in chosen]


def _show_issues(ruleset: RuleSet) -> None:
    for issue in ruleset.issues:
        colour = "red" if issue.fatal else "yellow"
        label = "error" if issue.fatal else "warning"
        err.print(f"[{colour}]{label}:[/] {escape(str(issue))}")


@click.group("rules")
def rules_group() -> None:
    """Work with detection rules (panther-analysis YAML + .py, or pypanther-style Rule classes)."""


@rules_group.command("test")
@click.argument("dirs", nargs=-1, metavar="[DIR|builtin]...")
@click.option("--rule", "rule_ids", multiple=True, metavar="ID", help="Only test this rule id (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per test instead of the table.")
@click.option("--show-passed/--hide-passed", default=True, help="List passing tests too (default: yes).")
def rules_test(dirs: tuple[str, ...], rule_ids: tuple[str, ...], as_json: bool, show_passed: bool) -> None:
    """Run every rule's own tests, like `panther_analysis_tool test`, and report pass/fail per test.

    DIR defaults to the built-in pack. Exits 1 when a test fails or a rule file does not load.
    """
    ruleset = load_rules(rule_paths(dirs), strict=False)
    _show_issues(ruleset)
    outcomes = run_tests(ruleset, rule_ids or None)
    if as_json:
        for outcome in outcomes:
            click.echo(orjson.dumps(outcome.to_dict()).decode())
    else:
        for outcome in outcomes:
            if outcome.passed and not show_passed:
                continue
            mark = "[green]PASS[/]" if outcome.passed else "[red]FAIL[/]"
            reason = f" - {escape(outcome.reason)}" if outcome.reason else ""
            out.print(f"{mark} {escape(outcome.rule_id)} :: {escape(outcome.test_name)}{reason}")
    failed = sum(1 for o in outcomes if not o.passed)
    tested = len({o.rule_id for o in outcomes})
    fatal = len(ruleset.fatal_issues)
    err.print(
        f"{len(outcomes) - failed}/{len(outcomes)} tests passed across {tested} rules"
        f" ({len(ruleset)} loaded, {fatal} file(s) failed to load)"
    )
    if failed or fatal:
        sys.exit(1)


@rules_group.command("list")
@click.argument("dirs", nargs=-1, metavar="[DIR|builtin]...")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per rule instead of the table.")
def rules_list(dirs: tuple[str, ...], as_json: bool) -> None:
    """List the rules found in DIR (default: the built-in pack) with their log types and severity."""
    ruleset = load_rules(rule_paths(dirs), strict=False)
    _show_issues(ruleset)
    if as_json:
        for rule in ruleset:
            click.echo(orjson.dumps(rule.summary()).decode())
        return
    table = Table("rule id", "enabled", "severity", "log types", "dedup (min)", "threshold", "tests")
    for rule in ruleset:
        table.add_row(
            escape(rule.id), "yes" if rule.enabled else "no", rule.severity, escape(", ".join(rule.log_types)),
            str(rule.dedup_period_minutes), str(rule.threshold), str(len(rule.tests)),
        )
    out.print(table)


def _read_events(inputs: tuple[str, ...], rejects: list[str]) -> Iterator[dict[str, Any]]:
    """Enriched events from JSON-lines files (``-`` = stdin); bad lines go to ``rejects`` with their place."""
    for name in inputs or ("-",):
        stream: IO[bytes] = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
        try:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    rejects.append(f"{name}:{number}: not valid JSON ({exc})")
                    continue
                if not isinstance(event, dict):
                    rejects.append(f"{name}:{number}: expected a JSON object, got {type(event).__name__}")
                    continue
                yield event
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()


def store_lookup() -> LookupFn:
    """``event.lookup(table, key)`` answered from the local lookup store (opened on first use)."""
    store: Any = None

    def lookup(table: str, key: str) -> Any:
        nonlocal store
        if store is None:
            from threatmatch.storage.lookup_store import LookupStore

            store = LookupStore(state().db)
        rows = store.query(table, match=key, limit=1)
        return rows[0] if rows else None

    return lookup


@click.command("detect")
@click.argument("inputs", nargs=-1, metavar="[INPUT.jsonl|-]...")
@click.option("--rules", "rule_dirs", multiple=True, metavar="DIR",
              help="Rules directory (repeatable); `builtin` is the shipped Anomali pack (the default).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write alerts here as JSON lines (default: stdout).")
@click.option("--results", "results_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write every rule match and rule error as JSON lines.")
def detect(inputs: tuple[str, ...], rule_dirs: tuple[str, ...], output: str | None, results_path: str | None) -> None:
    """Run detection rules over enriched events (JSON lines, e.g. piped from `threatmatch enrich`) and emit alerts.

    Alerts are deduplicated by rule and dedup string within each rule's DedupPeriodMinutes and honour
    its Threshold; one JSON line per alert is written when the input ends.
    """
    ruleset = load_rules(rule_paths(rule_dirs), strict=True)
    _show_issues(ruleset)
    manager = AlertManager(ruleset)
    lookup = store_lookup()
    rejects: list[str] = []
    alerts: dict[str, dict[str, Any]] = {}
    counts = {"events": 0, "matches": 0, "errors": 0}
    results_file = open(results_path, "wb") if results_path else None  # noqa: SIM115
    try:
        batch: list[dict[str, Any]] = []
        for event in _read_events(inputs, rejects):
            batch.append(event)
            if len(batch) >= BATCH:
                _run_batch(batch, ruleset, manager, lookup, alerts, counts, results_file)
                batch = []
        _run_batch(batch, ruleset, manager, lookup, alerts, counts, results_file)
    except OSError as exc:
        raise RuleError(f"cannot read input: {exc}") from exc
    finally:
        if results_file is not None:
            results_file.close()
    _write_alerts(alerts.values(), output)
    for reject in rejects:
        err.print(f"[yellow]rejected:[/] {escape(reject)}")
    err.print(
        f"{counts['events']} events, {len(rejects)} rejected lines, {counts['matches']} matches, "
        f"{counts['errors']} rule errors, {len(alerts)} alerts ({len(ruleset)} rules)"
    )


def _run_batch(
    batch: list[dict[str, Any]], ruleset: RuleSet, manager: AlertManager, lookup: LookupFn,
    alerts: dict[str, dict[str, Any]], counts: dict[str, int], results_file: IO[bytes] | None,
) -> None:
    if not batch:
        return
    results, changed = run_detections(batch, ruleset, manager, datetime.now(UTC), lookup=lookup)
    counts["events"] += len(batch)
    for result in results:
        counts["matches" if result.error is None else "errors"] += 1
        if results_file is not None:
            results_file.write(orjson.dumps(result.to_dict()) + b"\n")
    for alert in changed:
        alerts[alert["alert_id"]] = alert


def _write_alerts(alerts: Any, output: str | None) -> None:
    lines = b"".join(orjson.dumps(alert, default=str) + b"\n" for alert in alerts)
    if output is None:
        sys.stdout.buffer.write(lines)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(lines)


COMMANDS: list[click.Command] = [rules_group, detect]
