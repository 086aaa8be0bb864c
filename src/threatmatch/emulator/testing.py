"""Start a real emulator inside tests: ``with run_emulator(indicators=5000) as ts: ...``.

The server listens on a free 127.0.0.1 port in a background thread of the calling process; every
handle method talks to it over HTTP (the test-only ``/_admin/`` endpoints), as another process would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from threatmatch.emulator.app import Emulator, EmulatorConfig
from threatmatch.emulator.datafile import load_objects
from threatmatch.emulator.dataset import Dataset
from threatmatch.emulator.server import EmulatorServer


class EmulatorHandle:
    """The address and credentials of a running emulator, and its test-only controls."""

    def __init__(self, base_url: str, username: str, api_key: str) -> None:
        self.base_url = base_url
        self.username = username
        self.api_key = api_key
        self._admin = httpx.Client(base_url=f"{base_url}/_admin", timeout=30)

    @property
    def auth_header(self) -> dict[str, str]:
        """The ``Authorization`` header a ThreatStream client sends."""
        return {"Authorization": f"apikey {self.username}:{self.api_key}"}

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._admin.request(method, path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"emulator admin {method} {path} failed: {response.status_code} {response.text}")
        return response.json()

    def add(self, **fields: Any) -> dict[str, Any]:
        """Add an indicator (realistic defaults; ``fields`` override them)."""
        result: dict[str, Any] = self._call("POST", "/indicators", fields)
        return result

    def get(self, ident: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/indicators/{ident}")
        return result

    def modify(self, ident: int, **fields: Any) -> dict[str, Any]:
        """Change fields of indicator ``ident`` (new update_id and modified_ts)."""
        result: dict[str, Any] = self._call("POST", f"/indicators/{ident}", fields)
        return result

    def deactivate(self, ident: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/indicators/{ident}/deactivate")
        return result

    def falsepos(self, ident: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/indicators/{ident}/falsepos")
        return result

    def expire(self, ident: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/indicators/{ident}/expire")
        return result

    def fault(self, kind: str, count: int = 1, **opts: Any) -> None:
        """Queue a fault for the next ``count`` API requests (kinds: 429 500 502 503 403 slow truncate drop)."""
        self._call("POST", "/faults", {"kind": str(kind), "count": count, **opts})

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change next_style, param_auth, visibility_delay_s or max_result_window."""
        result: dict[str, Any] = self._call("POST", "/config", settings)
        return result

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def requests(self) -> list[dict[str, Any]]:
        """Recent API requests: method, path, params (api_key masked), status, fault."""
        result: list[dict[str, Any]] = self._call("GET", "/requests")
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def close(self) -> None:
        self._admin.close()


@contextmanager
def run_emulator(
    *,
    indicators: int = 1000,
    seed: int = 1,
    username: str = "analyst@example.com",
    api_key: str = "test-api-key",
    data: Path | None = None,
    next_style: str = "update_id",
    **settings: Any,
) -> Iterator[EmulatorHandle]:
    """Serve generated (or ``data``-file) indicators on a free port for the duration of the block."""
    dataset = Dataset.from_objects(load_objects(data)) if data is not None else Dataset.generate(indicators, seed)
    config = EmulatorConfig(username=username, api_key=api_key, next_style=next_style, **settings)
    server = EmulatorServer(Emulator(dataset, config)).start()
    handle = EmulatorHandle(server.base_url, username, api_key)
    try:
        yield handle
    finally:
        handle.close()
        server.stop()
