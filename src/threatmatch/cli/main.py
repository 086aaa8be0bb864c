"""``threatmatch`` top-level command.

Each part of the product contributes a module under ``threatmatch.cli`` exposing ``COMMANDS``
(a list of click commands or groups); they are attached here in a fixed order.
"""

from __future__ import annotations

import importlib
import sys

import click

from threatmatch import __version__
from threatmatch.cli.context import State, err
from threatmatch.errors import ThreatmatchError
from threatmatch.home import Home

# Which module contributes each command, in help order. Modules are imported only when their command
# runs (or when the full command list is shown), so `threatmatch sync` does not pay for pyarrow or FastAPI.
COMMANDS: dict[str, str] = {
    "providers": "threatmatch.cli.providers",
    "sync": "threatmatch.cli.sync",
    "table": "threatmatch.cli.table",
    "emulator": "threatmatch.cli.emulator",
    "log-types": "threatmatch.cli.logtypes",
    "enrichments": "threatmatch.cli.enrichments",
    "enrich": "threatmatch.cli.enrich",
    "rules": "threatmatch.cli.rules",
    "detect": "threatmatch.cli.rules",
    "search": "threatmatch.cli.search",
    "store": "threatmatch.cli.search",
    "serve": "threatmatch.cli.serve",
    "tokens": "threatmatch.cli.serve",
    "destinations": "threatmatch.cli.destinations",
    "ingest": "threatmatch.cli.serve",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


class LazyGroup(click.Group):
    """A group whose subcommands live in other modules, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(module_name)
        for command in module.COMMANDS:
            if command.name == cmd_name:
                return command  # type: ignore[no-any-return]
        raise RuntimeError(f"{module_name} does not define the `{cmd_name}` command")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
