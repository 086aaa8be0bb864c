"""A real HTTP server on 127.0.0.1 publishing feed files, with the failures real feed hosts have.

``FeedServer.publish(path, body)`` serves ``body`` at ``path``; ``fail(path, *statuses)`` answers the next
requests to it with those statuses first (``Retry-After: 0`` on 429); ``require_header(path, name, value)``
answers 401 without it; ``truncate(path)`` closes the connection half-way through the next answer;
``with_etag(path)`` sends an ``ETag`` (the body's hash) and answers 304 to a matching ``If-None-Match``. A file
published at ``path?query`` answers that exact request (TAXII pages). Every request's path (with its query) and
headers are recorded.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FeedServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.failures: dict[str, list[int]] = {}
        self.required: dict[str, tuple[str, str]] = {}
        self.truncated: set[str] = set()
        self.etagged: set[str] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
                server._answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="feed-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def publish(self, path: str, body: bytes) -> str:
        with self._lock:
            self.files[path] = body
        return self.url(path)

    def fail(self, path: str, *statuses: int) -> None:
        with self._lock:
            self.failures.setdefault(path, []).extend(statuses)

    def require_header(self, path: str, name: str, value: str) -> None:
        self.required[path] = (name, value)

    def truncate(self, path: str) -> None:
        self.truncated.add(path)

    def with_etag(self, path: str) -> None:
        self.etagged.add(path)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append((handler.path, dict(handler.headers.items())))
            failures = self.failures.get(path)
            status = failures.pop(0) if failures else 200
            body = self.files.get(handler.path, self.files.get(path))  # a path with its query first
            truncate = path in self.truncated
            self.truncated.discard(path)
        required = self.required.get(path)
        if status == 200 and required is not None and handler.headers.get(required[0]) != required[1]:
            status = 401
        if status == 200 and body is None:
            status = 404
        if status != 200:
            text = f"status {status}".encode()
            handler.send_response(status)
            if status == 429:
                handler.send_header("Retry-After", "0")
            handler.send_header("Content-Length", str(len(text)))
            handler.end_headers()
            handler.wfile.write(text)
            return
        assert body is not None
        etag = f'"{hashlib.sha1(body).hexdigest()}"' if path in self.etagged else None
        if etag is not None and handler.headers.get("If-None-Match") == etag:
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        if etag is not None:
            handler.send_header("ETag", etag)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if truncate:
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
