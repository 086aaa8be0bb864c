"""``threatmatch serve``, ``threatmatch tokens`` and the ``threatmatch ingest`` HTTP client."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click
from rich.markup import escape

from threatmatch.cli.context import echo_json, err, out, state, warn
from threatmatch.errors import ConfigError
from threatmatch.runtime import tune_for_bulk_work
from threatmatch.server.settings import ServerSettings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--demo", is_flag=True, help="Also start the bundled ThreatStream emulator with a demo feed, point a "
              "demo provider at it when no other provider is configured, sync it, ingest the bundled sample logs "
              "and print a console token.")
@click.option("--no-scheduler", is_flag=True, help="Do not refresh providers on their schedule.")
@click.option("--ingest-workers", type=click.IntRange(0, 64), default=None,
              help="Processes that parse, enrich and run detections on ingest requests, each with its own copy of "
              "the lookup tables (0 = inside the service process). Default: one per core on a multi-core machine.")
@click.option("--sync-niceness", type=click.IntRange(0, 19), default=None,
              help="CPU priority of provider refreshes, which run in a child process: its `nice` increment (0 = the "
              "service's own priority, 19 = little more than what ingest leaves idle). "
              f"Default: {ServerSettings.sync_niceness}.")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Extra detection-rule folder (repeatable); the built-in pack is always loaded.")
@click.option("--alert-limit", type=click.IntRange(1), default=ServerSettings.alert_limit_per_hour, show_default=True,
              help="New alerts one rule may open within an hour; past it the rule opens no more until a restart "
              "and one SYSTEM_ERROR alert says so (Panther's alert limiter).")
def serve(host: str, port: int, demo: bool, no_scheduler: bool, ingest_workers: int | None,
          sync_niceness: int | None, rule_paths: tuple[Path, ...], alert_limit: int) -> None:
    """Run the service: REST API, web console, ingest, scheduler and metrics.

    Every endpoint except /healthz needs an API token: create one with `threatmatch tokens create NAME`.
    """
    import uvicorn

    from threatmatch.server.app import create_app
    from threatmatch.server.service import Service

    tune_for_bulk_work()
    home = state().home
    _check_rules(rule_paths)
    settings = ServerSettings(run_scheduler=not no_scheduler, rule_paths=rule_paths, ingest_workers=ingest_workers,
                              alert_limit_per_hour=alert_limit, console_url=f"http://{host}:{port}")
    if sync_niceness is not None:
        settings = replace(settings, sync_niceness=sync_niceness)
    service = Service(home, settings)
    if demo:
        from threatmatch.server.demo import DemoBootstrap

        service.on_start(DemoBootstrap(service, url=f"http://{host}:{port}").run)
    err.print(f"threatmatch serving http://{host}:{port}  (console /, API /api/v1, docs /docs; home {home.root})")
    uvicorn.run(create_app(home, service=service), host=host, port=port, log_level="warning", access_log=False)


def _check_rules(rule_paths: tuple[Path, ...]) -> None:
    """Load the rules once before starting: the service (and each ingest worker) loads them leniently, so a rule
    file that cannot be loaded would otherwise just not run. Warnings are printed; load errors stop the start."""
    from threatmatch.detect import builtin_rules_dir, load_rules

    ruleset = load_rules([builtin_rules_dir(), *rule_paths], strict=False)
    for issue in ruleset.issues:
        if not issue.fatal:
            warn(str(issue))
    if ruleset.fatal_issues:
        problems = "; ".join(str(issue) for issue in ruleset.fatal_issues)
        raise ConfigError(f"--rules: {len(ruleset.fatal_issues)} rule file(s) cannot be loaded: {problems}. Fix them "
                          "(`threatmatch rules test DIR` shows the same) or leave that folder out")


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens (stored hashed; a token is shown only once)."""


@tokens.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Create a token called NAME and print it once; keep it, it cannot be shown again."""
    from threatmatch.server.tokens import TokenStore

    _, token = TokenStore(state().db).create(name)
    err.print(f"created API token {name!r}; it is shown only this once:")
    click.echo(token)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per token.")
def tokens_list(as_json: bool) -> None:
    """List tokens (name, hint, created, last used, revoked); never the tokens themselves."""
    from rich.table import Table

    from threatmatch.server.tokens import TokenStore

    infos = TokenStore(state().db).list()
    if as_json:
        for info in infos:
            echo_json({"name": info.name, "hint": info.hint, "created_at": info.created_at,
                       "last_used_at": info.last_used_at, "revoked_at": info.revoked_at})
        return
    table = Table("name", "hint", "created", "last used", "status")
    for info in infos:
        table.add_row(info.name, info.hint, info.created_at, info.last_used_at or "-",
                      "active" if info.active else f"revoked {info.revoked_at}")
    out.print(table)


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke the token NAME: its API calls and console sessions stop working immediately."""
    from threatmatch.server.tokens import TokenStore

    TokenStore(state().db).revoke(name)
    err.print(f"revoked API token {name!r}")


@click.command()
@click.option("--url", required=True, help="Service base URL, e.g. http://127.0.0.1:8080.")
@click.option("--log-type", "log_type", required=True, help="Log type of every line, e.g. AWS.CloudTrail.")
@click.option("--token-env", default="THREATMATCH_TOKEN", show_default=True,
              help="Environment variable holding the API token.")
@click.option("--batch-bytes", default=4 * 1024 * 1024, show_default=True, type=click.IntRange(1024),
              help="Uncompressed bytes per request (the server refuses bodies over its limit).")
@click.option("--rejects", "rejects_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON lines of every line not ingested: file, line number, reason, raw line (lines the service "
                   "rejected, and the lines of any request that failed).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ingest(url: str, log_type: str, token_env: str, batch_bytes: int, rejects_path: Path | None, as_json: bool,
           files: tuple[Path, ...]) -> None:
    """Send log FILES (JSON lines or raw text, .gz allowed) to a running service, gzip-compressed, with progress.

    Prints how many lines were accepted and rejected (with line numbers and reasons); --rejects keeps every line
    that was not ingested. Exits 1 when a request failed (its lines were not ingested).
    """
    from threatmatch.server.client import IngestClient

    token = os.environ.get(token_env)
    if not token:
        raise ConfigError(f"${token_env} is not set: export the API token (`threatmatch tokens create NAME`) "
                          f"or name another variable with --token-env")
    client = IngestClient(url, token)
    if rejects_path is None:
        summary = client.send_files(log_type, files, batch_bytes=batch_bytes)
    else:
        try:
            sink = rejects_path.open("wb")
        except OSError as exc:
            raise ConfigError(f"--rejects {rejects_path}: cannot write it ({exc.strerror}); choose a writable "
                              "path") from None
        with sink:
            summary = client.send_files(log_type, files, batch_bytes=batch_bytes, rejects=sink)
    if as_json:
        echo_json(summary.as_dict())
    else:
        summary.print(out)
        if rejects_path is not None and (summary.rejected or summary.not_sent):
            out.print(f"lines not ingested, with their reasons: {escape(str(rejects_path))}")
    if summary.failed_requests:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [serve, tokens, ingest]
