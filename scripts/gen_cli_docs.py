"""Regenerate docs/cli.md from the CLI's own --help (run: .venv/bin/python scripts/gen_cli_docs.py).

tests/test_cli_help.py fails when docs/cli.md is stale, so the reference cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent


def render() -> str:
    from threatmatch.cli.main import cli

    lines = ["# CLI reference", "", "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.", ""]

    def walk(group: click.Group, path: list[str]) -> None:
        ctx = click.Context(group)
        for name in sorted(group.list_commands(ctx)):
            command = group.get_command(ctx, name)
            assert command is not None, name
            full = [*path, name]
            result = CliRunner().invoke(cli, [*full, "--help"], terminal_width=100, prog_name="threatmatch")
            lines.extend([f"## threatmatch {' '.join(full)}", "", "```", result.output.rstrip(), "```", ""])
            if isinstance(command, click.Group):
                walk(command, full)

    top = CliRunner().invoke(cli, ["--help"], terminal_width=100, prog_name="threatmatch")
    lines.extend(["## threatmatch", "", "```", top.output.rstrip(), "```", ""])
    walk(cli, [])
    return "\n".join(lines)


def main() -> int:
    target = REPO / "docs" / "cli.md"
    text = render()
    if "--check" in sys.argv:
        return 0 if target.exists() and target.read_text(encoding="utf-8") == text else 1
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
