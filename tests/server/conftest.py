"""Fixtures: one real server per test module (uvicorn on 127.0.0.1, real SQLite home)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.server.harness import LiveServer, run_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A running server with an admin token; its client sends the token."""
    with run_server(tmp_path_factory.mktemp("home")) as server:
        yield server
