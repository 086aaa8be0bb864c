"""Every command is documented: it has help text, `--help` works, and docs/cli.md names it."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from tests.conftest import REPO

from threatmatch.cli.main import COMMAND_MODULES, cli


def _walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        assert command is not None, name
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(_walk(command, full + " "))
    return found


COMMANDS = _walk(cli)


def test_every_command_module_exists() -> None:
    """Each module listed in COMMAND_MODULES is importable (no part is silently missing)."""
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name)


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help(name: str, command: click.Command) -> None:
    """Each command carries a help text and answers `--help` with exit code 0."""
    assert (command.help or "").strip(), f"`threatmatch {name}` is missing its help"
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_is_in_cli_reference(name: str, command: click.Command) -> None:
    """docs/cli.md mentions every command, so the reference cannot silently rot."""
    reference = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert f"threatmatch {name}" in reference, f"docs/cli.md does not document `threatmatch {name}`"


def test_cli_reference_is_current() -> None:
    """docs/cli.md equals what scripts/gen_cli_docs.py renders from the live --help texts."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == module.render(), "docs/cli.md is stale: run `.venv/bin/python scripts/gen_cli_docs.py`"
