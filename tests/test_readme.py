"""The README's examples are true: its Python blocks run, and the commands it shows exist."""

from __future__ import annotations

import re

from click.testing import CliRunner
from tests.conftest import REPO

from threatmatch.cli.main import cli

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_shows_the_two_commands_first() -> None:
    """`make run` and `make test` are the first code block of the README."""
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_readme_python_blocks_run() -> None:
    """Every ```python block of the README executes (its asserts are the documented results)."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own documentation


def test_readme_commands_exist() -> None:
    """Each `$ threatmatch ...` command line in the README names a real command (its --help works)."""
    commands = re.findall(r"^\$ threatmatch ([a-z-]+(?: [a-z-]+)?)", README, flags=re.M)
    assert commands
    for words in commands:
        parts = words.split()
        result = CliRunner().invoke(cli, [*parts, "--help"])
        if result.exit_code != 0:  # second word was an argument, not a subcommand
            result = CliRunner().invoke(cli, [parts[0], "--help"])
        assert result.exit_code == 0, f"README shows `threatmatch {words}`: {result.output}"


def test_readme_sql_examples_are_tested_ones() -> None:
    """Each SQL example in the README is one of docs/search.md's, which the lake tests execute."""
    guide = (REPO / "docs" / "search.md").read_text(encoding="utf-8")
    examples = re.findall(r"```sql\n(.*?)```", README, flags=re.S)
    assert len(examples) >= 3
    for example in examples:
        assert f"```sql\n{example}```" in guide, f"README query not in docs/search.md:\n{example}"
