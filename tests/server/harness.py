"""A real threatmatch server on a free 127.0.0.1 port, run by uvicorn in a background thread."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

from threatmatch.home import Home
from threatmatch.server.app import create_app
from threatmatch.server.service import Service
from threatmatch.server.settings import ServerSettings
from threatmatch.server.tokens import TokenStore
from threatmatch.storage.db import connect


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """Handle on a running server: its URL, an admin token and an authenticated HTTP client."""

    base_url: str
    token: str
    home: Home
    service: Service
    client: httpx.Client

    def anonymous(self) -> httpx.Client:
        """A client without credentials (for auth-failure tests)."""
        return httpx.Client(base_url=self.base_url, timeout=30)

    def console(self) -> httpx.Client:
        """A client signed in to the console (through the login form, with its CSRF token)."""
        client = self.anonymous()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert csrf, "the login page carries a CSRF field"
        signed_in = client.post("/login", data={"csrf_token": csrf.group(1), "token": self.token, "next": "/"})
        assert signed_in.status_code in (302, 303), signed_in.text
        return client


def create_token(home: Home, name: str) -> str:
    conn = connect(home.ensure().database)
    try:
        return TokenStore(conn).create(name)[1]
    finally:
        conn.close()


@contextmanager
def run_server(root: Path, settings: ServerSettings | None = None) -> Iterator[LiveServer]:
    """Start the app for the home at ``root`` and stop it on exit."""
    home = Home(root).ensure()
    token = create_token(home, "admin")
    service = Service(home, settings or ServerSettings(run_scheduler=False))
    port = free_port()
    config = uvicorn.Config(create_app(home, service=service), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="threatmatch-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    try:
        yield LiveServer(base_url, token, home, service, client)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=20)


class Receiver:
    """A webhook on 127.0.0.1: records every POST; paths under /fail answer 500."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append((self.path, dict(self.headers), orjson.loads(body)))
                self.send_response(500 if self.path.startswith("/fail") else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts(self, path: str, count: int, timeout: float = 15.0) -> list[tuple[dict[str, str], dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [(headers, body) for p, headers, body in self.received if p == path]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return [(headers, body) for p, headers, body in self.received if p == path]
