"""Shared CLI plumbing: the home directory on the click context, and clean error reporting."""

from __future__ import annotations

import sqlite3
from typing import Any

import click
from rich.console import Console

from threatmatch.home import Home
from threatmatch.storage.db import connect

# stdout for results, stderr for progress, warnings and errors.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    """What every command can reach: the home directory and a lazily opened database."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.home.ensure()
            self._db = connect(self.home.database)
        return self._db


def state(ctx: click.Context | None = None) -> State:
    """The ``State`` of the running command."""
    ctx = ctx or click.get_current_context()
    found = ctx.find_object(State)
    if found is None:  # a command invoked without the top-level group (tests)
        found = State(Home.resolve())
        ctx.obj = found
    return found


def warn(text: str) -> None:
    """One warning line on stderr (``text`` is shown as written: markup in it is escaped)."""
    from rich.markup import escape

    err.print(f"[yellow]warning:[/] {escape(text)}")


def echo_json(obj: Any) -> None:
    """Write one JSON document/line to stdout (orjson, UTF-8)."""
    import orjson

    click.echo(orjson.dumps(obj, default=str).decode())
