"""The emulator's request handling, independent of the socket layer: route, authenticate, page, render.

``Emulator.handle`` turns (method, path, query, headers, body) into a ``Reply``; ``server.py`` moves
bytes. The API part follows the "Emulator spec" of the ThreatStream API spec; everything under
``/_admin/`` is test-only (see ``admin.py``).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from threatmatch.emulator.dataset import Dataset, Page
from threatmatch.emulator.faults import Fault, FaultQueue
from threatmatch.emulator.filters import BadParameter, Listing, parse_listing
from threatmatch.emulator.render import iso
from threatmatch.providers.threatstream.query import Comparison

API_PATH = "/api/v2/intelligence/"
NEXT_STYLES = ("update_id", "offset", "search_after")
_JSON = [("Content-Type", "application/json")]


@dataclass
class EmulatorConfig:
    """Behaviour switches; all can be changed at run time through ``POST /_admin/config``."""

    username: str = "analyst@example.com"
    api_key: str = "test-api-key"
    next_style: str = "update_id"
    param_auth: bool = True  # accept ?username=&api_key= (the legacy form)
    visibility_delay_s: float = 0.0  # hide rows modified in the last N seconds from modified_ts__lt queries
    max_result_window: int | None = None  # e.g. 10000: offset + limit beyond it -> 400

    def public(self) -> dict[str, Any]:
        """The settings without the API key."""
        return {k: v for k, v in asdict(self).items() if k != "api_key"}


@dataclass
class Reply:
    """What to send back, plus socket-level fault behaviour for ``server.py``."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=lambda: list(_JSON))
    fault: Fault | None = None


def error(status: int, message: str) -> Reply:
    return Reply(status, orjson.dumps({"error": message}))


class Emulator:
    """A ThreatStream intelligence API over one ``Dataset``."""

    def __init__(self, dataset: Dataset, config: EmulatorConfig | None = None) -> None:
        self.dataset = dataset
        self.config = config or EmulatorConfig()
        self.faults = FaultQueue()
        self.log: deque[dict[str, Any]] = deque(maxlen=2000)
        self._log_lock = threading.Lock()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one HTTP request (``target`` is the path plus query string)."""
        path, _, query = target.partition("?")
        if path.startswith("/_admin/"):
            from threatmatch.emulator.admin import handle_admin

            return handle_admin(self, method, path, query, body)
        params = parse_qsl(query, keep_blank_values=True)
        reply = self._api(method, path, params, headers)
        self._record(method, path, params, reply)
        return reply

    def _api(self, method: str, path: str, params: list[tuple[str, str]], headers: Mapping[str, str]) -> Reply:
        if not (path == API_PATH or path == API_PATH[:-1] or path.startswith(API_PATH)):
            return error(404, f"no such resource: {path}; the intelligence API is {API_PATH}")
        if method != "GET":
            return Reply(405, orjson.dumps({"error": "only GET is allowed"}), [*_JSON, ("Allow", "GET")])
        fault = self.faults.take()
        if fault is not None:
            status = fault.status_response()
            if status is not None:
                return Reply(status[0], status[2], status[1], fault)
        if not self._authorised(params, headers):
            reply = Reply(401, b"", [("Content-Type", "text/plain")])
        elif path in (API_PATH, API_PATH[:-1]):
            reply = self._listing(params)
        else:
            reply = self._detail(path[len(API_PATH):].strip("/"))
        reply.fault = fault
        return reply

    def _authorised(self, params: list[tuple[str, str]], headers: Mapping[str, str]) -> bool:
        expected = f"{self.config.username}:{self.config.api_key}"
        header = headers.get("authorization", "")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "apikey" and credentials:
            return hmac.compare_digest(credentials.strip().encode(), expected.encode())
        if self.config.param_auth:
            given = dict(params)
            if "username" in given and "api_key" in given:
                return hmac.compare_digest(f"{given['username']}:{given['api_key']}".encode(), expected.encode())
        return False

    def _detail(self, ident_text: str) -> Reply:
        if not ident_text.isdigit():
            return error(404, f"no indicator {ident_text!r}; use /api/v2/intelligence/<numeric id>/")
        with self.dataset.lock:
            row = self.dataset.find(int(ident_text))
            if row is None:
                return error(404, f"no indicator with id {ident_text}")
            text = self.dataset.texts((row,))[0]
        return Reply(200, (text + "}").encode())

    def _listing(self, params: list[tuple[str, str]]) -> Reply:
        started = time.perf_counter()
        try:
            listing = parse_listing(params)
        except BadParameter as exc:
            return error(400, str(exc))
        request = listing.request
        window = self.config.max_result_window
        if window is not None and request.offset + request.limit > window:
            return error(400, f"Result window is too large: offset + limit = {request.offset + request.limit} "
                              f"exceeds the max result window of {window}; page with order_by=update_id and "
                              "update_id__gt instead of offset")
        if self.config.visibility_delay_s > 0 and listing.has_modified_lt:
            cutoff = int(time.time() * 1000 - self.config.visibility_delay_s * 1000)
            hidden = Comparison("modified_ts", "<=", iso(cutoff))
            request = type(request)(**{**request.__dict__, "conditions": (*request.conditions, hidden)})
        with self.dataset.lock:
            page = self.dataset.page(request)
            texts = self.dataset.texts(page.rows)
            sorts = self._sorts(page, request.order_field)
        objects = ",".join(f'{text},"sort":{sort}}}' for text, sort in zip(texts, sorts, strict=True))
        meta = {
            "limit": request.limit,
            "offset": request.offset,
            "total_count": page.total_count,
            "next": self._next(listing, page, sorts),
            "previous": self._previous(listing),
            "took": int((time.perf_counter() - started) * 1000),  # ms, as ThreatStream reports it
        }
        return Reply(200, f'{{"objects":[{objects}],"meta":{orjson.dumps(meta).decode()}}}'.encode())

    def _sorts(self, page: Page, field: str) -> list[str]:
        """Each row's ``sort`` array: ``[update_id]`` for the update_id order, else ``[key, "id"]``."""
        numbers = self.dataset.columns.numbers
        if field == "update_id":
            uids = numbers["update_id"]
            return [f"[{uids[row]}]" for row in page.rows]
        ids = numbers["id"]
        if field in numbers:
            keys = numbers[field]
            return [f'[{keys[row]},"{ids[row]}"]' for row in page.rows]
        read = self.dataset.columns.reader(field)
        return [f'[{orjson.dumps(read(row)).decode()},"{ids[row]}"]' for row in page.rows]

    def _next(self, listing: Listing, page: Page, sorts: list[str]) -> str | None:
        if not page.has_more or not page.rows:
            return None
        request = listing.request
        style = self.config.next_style
        params = [(k, v) for k, v in listing.params if k not in ("offset", "search_after")]
        if style == "update_id" and request.order_field == "update_id" and not request.descending:
            last = self.dataset.columns.numbers["update_id"][page.rows[-1]]
            params = [(k, v) for k, v in params if k != "update_id__gt"] + [("update_id__gt", str(last))]
        elif style == "search_after" and request.order_field in self.dataset.columns.numbers:
            values = orjson.loads(sorts[-1])
            params.append(("search_after", ",".join(str(v) for v in values)))
        else:
            params.append(("offset", str(request.offset + request.limit)))
        return f"{API_PATH}?{urlencode(params)}"

    def _previous(self, listing: Listing) -> str | None:
        request = listing.request
        if request.offset <= 0:
            return None
        params = [(k, v) for k, v in listing.params if k != "offset"]
        params.append(("offset", str(max(0, request.offset - request.limit))))
        return f"{API_PATH}?{urlencode(params)}"

    def _record(self, method: str, path: str, params: list[tuple[str, str]], reply: Reply) -> None:
        safe = {k: ("***" if k == "api_key" else v) for k, v in params}
        entry = {"method": method, "path": path, "params": safe, "status": reply.status,
                 "fault": reply.fault.kind if reply.fault else None, "at": time.time()}
        with self._log_lock:
            self.log.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self.log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self.log.clear()
