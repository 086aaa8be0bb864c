"""``threatmatch emulator``: run the ThreatStream API emulator in the foreground."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click

from threatmatch.cli.context import err
from threatmatch.errors import ConfigError


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("emulator")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="TCP port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--username", default="analyst@example.com", show_default=True,
              help="User name the emulator accepts.")
@click.option("--api-key", default="test-api-key", show_default=True,
              help="API key the emulator accepts (its own fake key, not a secret).")
@click.option("--indicators", type=click.IntRange(0, 5_000_000), default=None,
              help="Generate this many realistic indicators [default: 1000].")
@click.option("--seed", type=int, default=None, help="Seed for generated indicators [default: 1].")
@click.option("--data", "data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='Serve the objects of this JSON file (a list, or a page {"objects": [...]}) instead.')
@click.option("--next-style", type=click.Choice(["update_id", "offset", "search_after"]), default="update_id",
              show_default=True, help="How meta.next continues a listing.")
@click.option("--no-param-auth", is_flag=True, help="Refuse the legacy ?username=&api_key= credentials.")
@click.option("--visibility-delay", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="Hide rows modified in the last SECONDS from modified_ts__lt queries.")
@click.option("--max-result-window", type=int, default=None, metavar="N",
              help="Refuse offset + limit above N with a 400 (Elasticsearch-style), e.g. 10000.")
@click.option("--log-requests", is_flag=True, help="Print one line per request on stderr.")
def emulator(port: int, host: str, username: str, api_key: str, indicators: int | None, seed: int | None,
             data: Path | None, next_style: str, no_param_auth: bool, visibility_delay: float,
             max_result_window: int | None, log_requests: bool) -> None:
    """Run a ThreatStream intelligence API emulator (test server) until Ctrl-C.

    Serves GET /api/v2/intelligence/ with apikey authentication, the q= query language, Django-style
    filters, keyset paging and realistic generated indicators, plus test-only /_admin/ endpoints to
    mutate indicators and inject faults (see docs/emulator.md). The credentials are the emulator's own
    fake ones, so they are printed.
    """
    from threatmatch.emulator.app import Emulator, EmulatorConfig
    from threatmatch.emulator.datafile import load_objects
    from threatmatch.emulator.dataset import Dataset
    from threatmatch.emulator.server import EmulatorServer

    if data is not None and (indicators is not None or seed is not None):
        raise click.UsageError("--data serves a file's objects; it cannot be combined with --indicators/--seed")
    started = time.perf_counter()
    if data is not None:
        dataset = Dataset.from_objects(load_objects(data))
    else:
        count = 1000 if indicators is None else indicators
        if count >= 100_000:
            err.print(f"generating {count:,} indicators...")
        dataset = Dataset.generate(count, 1 if seed is None else seed)
    config = EmulatorConfig(username=username, api_key=api_key, next_style=next_style,
                            param_auth=not no_param_auth, visibility_delay_s=visibility_delay,
                            max_result_window=max_result_window)
    try:
        server = EmulatorServer(Emulator(dataset, config), host, port, log_requests=log_requests)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port") from None
    click.echo(f"ThreatStream emulator serving {len(dataset):,} indicators at {server.base_url}/api/v2/intelligence/"
               f" (ready in {time.perf_counter() - started:.1f}s)")
    click.echo(f"credentials: Authorization: apikey {username}:{api_key}  (the emulator's own test key)")
    click.echo(f"test-only admin endpoints: {server.base_url}/_admin/state ; Ctrl-C stops")
    sys.stdout.flush()
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    err.print("emulator stopped")


COMMANDS: list[click.Command] = [emulator]
