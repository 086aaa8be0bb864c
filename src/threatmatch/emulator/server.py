"""The socket layer: a threaded HTTP/1.1 server (stdlib) in front of ``Emulator.handle``.

The standard library server gives byte-level control, which the faults need: a truncated body is a
``Content-Length`` larger than what is sent followed by a closed connection, and ``drop`` closes the
connection without any response.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from threatmatch.emulator.app import Emulator, Reply

_REASONS = {429: "Too Many Requests"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: Emulator
    log_requests: bool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.app.handle(self.command, self.path, headers, body)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        fault = reply.fault
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = reply.body
        declared = len(body)
        if fault is not None and fault.kind == "truncate":
            if fault.mode == "json":
                body = body[: len(body) // 2]
                declared = len(body)
            else:
                body = body[: len(body) // 2]
                self.close_connection = True
        self.send_response(reply.status, _REASONS.get(reply.status))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if fault is not None and fault.kind == "truncate" and fault.mode == "short":
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.log_requests:
            super().log_message(format, *args)


class EmulatorServer:
    """A real socket server; ``start()`` serves from a background thread, ``serve_forever()`` in the caller's."""

    def __init__(self, app: Emulator, host: str = "127.0.0.1", port: int = 0, log_requests: bool = False) -> None:
        self.app = app
        self._server = _Server((host, port), _Handler)
        self._server.app = app
        self._server.log_requests = log_requests
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = self.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="threatstream-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, close the listening socket and wait for the serving thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
