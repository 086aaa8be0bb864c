"""``threatmatch destinations``: the webhooks a running service sends new alerts to (stored in the home directory)."""

from __future__ import annotations

import os
from dataclasses import asdict
from datetime import UTC, datetime
from typing import IO

import click
from rich.markup import escape
from rich.table import Table

from threatmatch.cli.context import echo_json, out, state
from threatmatch.errors import ConfigError
from threatmatch.storage.destinations_repo import SEVERITIES, DestinationRepo
from threatmatch.storage.secrets import SecretBox


def _repo() -> DestinationRepo:
    current = state()
    return DestinationRepo(current.db, SecretBox.for_key_file(current.home.secret_key))


def _header_value(value_file: IO[str] | None, value_env: str | None) -> str | None:
    if value_file is not None and value_env is not None:
        raise ConfigError("give the header value with one of --header-value-file or --header-value-env, not both")
    if value_file is not None:
        value = value_file.read().strip()
    elif value_env is not None:
        value = os.environ.get(value_env, "").strip()
        if not value:
            raise ConfigError(f"the environment variable {value_env} is not set or empty")
    else:
        return None
    if not value:
        raise ConfigError("the header value is empty")
    return value


@click.group("destinations")
def destinations() -> None:
    """Alert destinations: webhooks `threatmatch serve` sends new alerts to (JSON), as Panther's destinations."""


@destinations.command("add-webhook")
@click.argument("name")
@click.option("--url", required=True, help="http:// or https:// address the alerts are POSTed to.")
@click.option("--min-severity", type=click.Choice(SEVERITIES, case_sensitive=False), default="INFO",
              show_default=True, help="Lowest severity sent (a rule's OutputIds override it).")
@click.option("--header", "header_name", metavar="NAME", help="A header sent with every alert, e.g. Authorization.")
@click.option("--header-value-file", type=click.File("r"), metavar="F", help="File holding its value (- = stdin).")
@click.option("--header-value-env", metavar="VAR", help="Environment variable holding its value.")
def add_webhook(name: str, url: str, min_severity: str, header_name: str | None, header_value_file: IO[str] | None,
                header_value_env: str | None) -> None:
    """Add a webhook destination. The header value is stored encrypted, never shown, and never taken from the
    command line itself."""
    value = _header_value(header_value_file, header_value_env)
    if (header_name is None) != (value is None):
        raise ConfigError("give --header with --header-value-file or --header-value-env, or neither")
    added = _repo().add(name, url, min_severity=min_severity, header_name=header_name, header_value=value,
                        now=datetime.now(UTC))
    out.print(f"added destination [bold]{escape(added.name)}[/] ({escape(added.url)}, from {added.min_severity})")


@destinations.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per destination.")
def list_destinations(as_json: bool) -> None:
    """List the destinations (header values are never shown)."""
    found = _repo().list()
    if as_json:
        for destination in found:
            echo_json(asdict(destination))  # a Destination never holds the header's value
        return
    table = Table(title="Alert destinations")
    for column in ("name", "url", "min severity", "header"):
        table.add_column(column)
    for destination in found:
        table.add_row(escape(destination.name), escape(destination.url), destination.min_severity,
                      escape(destination.header_name or ""))
    out.print(table)


@destinations.command("remove")
@click.argument("name")
def remove_destination(name: str) -> None:
    """Remove a destination."""
    _repo().remove(name)
    out.print(f"removed destination [bold]{escape(name)}[/]")


COMMANDS: list[click.Command] = [destinations]
