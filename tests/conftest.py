"""Shared test fixtures.

``shared`` is the team's real-data folder that sits beside the clone (``../shared``); tests that need
it skip with a clear message when it is absent.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, skipping the calling test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-data folder {path} is absent (expected ../shared beside the clone)")
    return path


@pytest.fixture
def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty threatmatch home directory, also exported as $THREATMATCH_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("THREATMATCH_HOME", str(home))
    return home
