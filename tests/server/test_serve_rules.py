"""`threatmatch serve --rules DIR` checks the rule folders before it starts: the service itself loads them leniently,
so without this a rule file that cannot be loaded would silently never run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.detect.rulefiles import write_rule
from tests.server.harness import free_port


def _serve(home: Path, rules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threatmatch", "--home", str(home), "serve", "--port",
                           str(free_port()), "--no-scheduler", "--ingest-workers", "0", "--rules", str(rules)],
                          capture_output=True, text=True, timeout=120)


def test_a_rule_file_that_cannot_be_loaded_stops_the_start(tmp_path: Path) -> None:
    """The start fails with exit 1 and names the file and the problem; nothing is served."""
    rules = tmp_path / "rules"
    write_rule(rules, "good", "def rule(e):\n    return True\n")
    write_rule(rules, "broken", "def rule(e):\n    return (\n")
    done = _serve(tmp_path / "home", rules)
    assert done.returncode == 1, done.stderr
    assert "--rules: 1 rule file(s) cannot be loaded" in done.stderr
    assert "broken.py" in done.stderr and "SyntaxError" in done.stderr
    assert "threatmatch serving" not in done.stderr
