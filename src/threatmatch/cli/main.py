"""``threatmatch`` top-level command.

Each part of the product contributes a module under ``threatmatch.cli`` exposing ``COMMANDS``
(a list of click commands or groups); they are attached here in a fixed order.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from threatmatch import __version__
from threatmatch.cli.context import State, err
from threatmatch.errors import ThreatmatchError
from threatmatch.home import Home

# Modules that contribute commands, in help order.
COMMAND_MODULES = (
    "threatmatch.cli.demo",
    "threatmatch.cli.providers",
    "threatmatch.cli.sync",
    "threatmatch.cli.table",
    "threatmatch.cli.emulator",
    "threatmatch.cli.logtypes",
    "threatmatch.cli.enrichments",
    "threatmatch.cli.enrich",
    "threatmatch.cli.rules",
    "threatmatch.cli.search",
    "threatmatch.cli.serve",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="threatmatch")
@click.option("--home", "home", metavar="DIR", envvar="THREATMATCH_HOME", default=None,
              help="State directory (database, lake, snapshots). Env THREATMATCH_HOME; default ./.threatmatch.")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """threatmatch: threat-intel enrichment for every log event, before detection.

    Pull indicators from Anomali ThreatStream, match every event of every log type against them,
    and attach the matching rows under p_enrichment, as Panther does.
    """
    ctx.obj = State(Home.resolve(home))


def _attach_commands() -> None:
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:  # part not built yet
            continue
        module = importlib.import_module(name)
        for command in module.COMMANDS:
            cli.add_command(command)


_attach_commands()


def main() -> None:
    """Entry point: run the CLI, turning threatmatch errors into one clear line and exit code 1."""
    try:
        cli.main(prog_name="threatmatch", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ThreatmatchError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(0)
