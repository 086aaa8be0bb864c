"""A feed provider's snapshot: download the feed (retries, size cap, gzip), read it, build its rows.

The HTTP client is injected (``httpx.Client``): tests serve real feed files from a server on loopback. A failed
download raises a ``ProviderError`` subclass in plain words, and the sync keeps the table in use.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, NamedTuple

import httpx
import orjson

from threatmatch import __version__
from threatmatch.errors import (
    AuthError,
    BadRequestError,
    ParseError,
    ProviderError,
    RateLimitedError,
    UpstreamError,
)
from threatmatch.providers.base import Batch, SnapshotUnchanged
from threatmatch.providers.feed.config import MAX_FEED_BYTES, FeedConfig
from threatmatch.providers.feed.parse import UNITS, Entry, Rejected, decompress, parse_feed
from threatmatch.providers.feed.rows import build_row, classify, refang
from threatmatch.providers.retry import Retryable, RetryPolicy, network_failure, retry_after, with_retries
from threatmatch.providers.threatstream.row_worker import PageRowIds
from threatmatch.storage.lookup_rows import LoadRow, dumps_row, pack_rows
from threatmatch.timefmt import panther_ts

BATCH_ROWS = 5000
MAX_TAXII_PAGES = 10_000
# what each format asks for: TAXII 2.1 servers answer only a request that accepts their media type
ACCEPT = {"stix": "application/taxii+json;version=2.1, application/stix+json;version=2.1, application/json;q=0.9, "
                  "*/*;q=0.8",
          "misp": "application/json, */*;q=0.8", "jsonl": "application/x-ndjson, application/json;q=0.9, */*;q=0.8"}
DEFAULT_TIMEOUT = 60.0


class FeedCheck(NamedTuple):
    """What one download of a feed held (``FeedSource.check``)."""

    url: str
    size: int
    by_type: dict[str, int]
    rejected: int
    unit: str = "line"  # what the feed's format counts (``parse.UNITS``)

    @property
    def message(self) -> str:
        found = ", ".join(f"{count:,} {kind}" for kind, count in self.by_type.items()) or "no indicators"
        lines = (f"1 {self.unit} is not an indicator" if self.rejected == 1 else
                 f"{self.rejected:,} {self.unit}s are not indicators")
        skipped = f"; {lines} (skipped and counted)" if self.rejected else ""
        return f"Downloaded {self.size:,} bytes from {self.url}: {found}{skipped}."


class FeedSource:
    """``IndicatorSource`` for one feed provider: one download per refresh, rows in batches of ``BATCH_ROWS``."""

    kind = "feed"
    helpers = 0  # rows are built in the sync's own process

    def __init__(self, config: FeedConfig, http: httpx.Client, *, retry: RetryPolicy | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = MAX_FEED_BYTES,
                 row_ids: Callable[[int], list[str]] | None = None, previous: dict[str, Any] | None = None) -> None:
        """``previous``: the ``validators`` of the download the table in use was built from; when given, the
        request is conditional (``If-None-Match`` / ``If-Modified-Since``) and ``batches`` raises
        ``SnapshotUnchanged`` on HTTP 304 or on the same content."""
        self.config = config
        self._http = http
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._row_ids = row_ids or PageRowIds().take
        self.wait_seconds = 0.0  # time spent waiting on the network and in retry back-off
        # the settings that shape the rows: a table built with others is rebuilt whatever the feed says
        shaping = {key: value for key, value in config.public().items() if key != "refresh_minutes"}
        self._settings = hashlib.sha256(repr(sorted(shaping.items())).encode()).hexdigest()[:16]
        self.previous = previous if previous and previous.get("settings") == self._settings else {}
        #: what identifies this download (``etag``, ``last_modified`` as the server sent them, ``sha256`` of the
        #: content, and the row-shaping settings), kept with the sync's counts for the next conditional request
        self.validators: dict[str, Any] = {}

    def _waited(self, seconds: float) -> None:
        self.wait_seconds += seconds

    def download(self, *, conditional: bool = False) -> bytes | None:
        """The feed's content (decompressed), retrying what is worth retrying; None when ``conditional`` and the
        server answers 304 Not Modified."""
        body = self._fetch(self.config.url, conditional)
        if body is None:
            self.validators = dict(self.previous)
            return None
        content = self._decompress(body)
        if self.config.format == "stix":
            content = self._rest_of_collection(content)
        self.validators["sha256"] = hashlib.sha256(content).hexdigest()
        self.validators["settings"] = self._settings
        return content

    def _fetch(self, url: str, conditional: bool) -> bytes | None:
        return with_retries(lambda: self._attempt(conditional, url), self._retry, what=f"feed {self.config.name}",
                            waited=self._waited)

    def _decompress(self, body: bytes) -> bytes:
        try:
            return decompress(body, limit=self._max_bytes)
        except ParseError as exc:
            raise UpstreamError(f"feed {self.config.url}: {exc}") from None

    def _rest_of_collection(self, content: bytes) -> bytes:
        """A TAXII 2.1 answer saying more objects follow (``"more": true``): the following pages, asked with its
        ``next`` token, joined with it into one envelope; any other content as it is."""
        try:
            page = orjson.loads(content)
        except orjson.JSONDecodeError:
            return content  # reading it says what is wrong
        if not isinstance(page, dict) or page.get("more") is not True:
            return content
        objects = list(page.get("objects") or [])
        pages, size = 1, len(content)
        for key in ("etag", "last_modified"):  # the first page's validators say nothing of the others
            self.validators.pop(key, None)
        while isinstance(page, dict) and page.get("more") is True:
            token = page.get("next")
            if not isinstance(token, str) or not token:
                raise UpstreamError(f"feed {self.config.url}: the TAXII server says more objects follow but gives "
                                    "no \"next\" token to ask for them")
            if pages >= MAX_TAXII_PAGES:
                raise UpstreamError(f"feed {self.config.url}: the TAXII collection goes on after {pages:,} pages; "
                                    "narrow the request (?added_after=..., ?match[type]=indicator)")
            body = self._fetch(str(httpx.URL(self.config.url).copy_merge_params({"next": token})), False)
            assert body is not None  # an unconditional request always has a body
            content = self._decompress(body)
            size += len(content)
            if size > self._max_bytes:
                raise BadRequestError(f"feed {self.config.url}: the TAXII collection is larger than "
                                      f"{self._max_bytes:,} bytes")
            try:
                page = orjson.loads(content)
            except orjson.JSONDecodeError as exc:
                raise UpstreamError(f"feed {self.config.url}: page {pages + 1} of the TAXII collection is not "
                                    f"valid JSON ({exc})") from None
            objects.extend(page.get("objects") or [] if isinstance(page, dict) else [])
            pages += 1
        return orjson.dumps({"objects": objects})

    def check(self) -> FeedCheck:
        """Download and read the feed once, storing nothing."""
        body = self.download()
        assert body is not None  # an unconditional download always has a body
        kinds: dict[str, int] = {}
        rejected = 0
        try:
            for item in parse_feed(body, self.config.format, self.config.column):
                found = classify(refang(item.value)) if isinstance(item, Entry) else None
                if found is None:
                    rejected += 1
                else:
                    kinds[found[0]] = kinds.get(found[0], 0) + 1
        except ParseError as exc:
            raise UpstreamError(f"feed {self.config.url}: {exc}") from None
        return FeedCheck(self.config.url, len(body), dict(sorted(kinds.items())), rejected, UNITS[self.config.format])

    def batches(self, *, now: datetime) -> Iterator[Batch]:
        """Every row of the feed; rejected lines are reported with their line number and reason."""
        parse_time = panther_ts(now)
        config = self.config
        body = self.download(conditional=bool(self.previous))
        if body is None or (self.previous.get("sha256") == self.validators.get("sha256")):
            raise SnapshotUnchanged(f"feed {config.url} is unchanged since the last sync"
                                    f"{' (HTTP 304)' if body is None else ' (same content)'}")
        items = self._entries(body)
        # progress: a text feed has at most one entry per line; a STIX or MISP document's count is not known ahead
        estimate = body.count(b"\n") + 1 if config.format in ("lines", "csv", "jsonl") else None
        unit = UNITS[config.format]
        fetched = 0
        while chunk := list(islice(items, BATCH_ROWS)):
            ids = self._row_ids(len(chunk))
            rows: list[LoadRow] = []
            rejects = []
            for item, row_id in zip(chunk, ids, strict=True):
                if not isinstance(item, Entry):
                    rejects.append(f"{unit} {item.line}: {item.reason}")
                    continue
                built = build_row(item.value, item.extra, line=item.line, config=config, parse_time=parse_time,
                                  row_id=row_id, own=item.own)
                if isinstance(built, str):
                    rejects.append(f"{unit} {item.line}: {built}")
                else:  # the store's load shape: one match value, the filter columns, the row's JSON
                    rows.append((built["value"], built["id"], built["type"], built.get("itype"), built["status"],
                                 built["confidence"], None, dumps_row(built)))
            fetched += len(chunk)
            yield Batch([], rejects, fetched, max(estimate, fetched) if estimate is not None else None,
                        pack_rows(rows))

    def _entries(self, body: bytes) -> Iterator[Entry | Rejected]:
        """The feed's entries one by one (never all in memory at once); a feed that cannot be read at all (a CSV
        without the column, a document that is no STIX or MISP) is an ``UpstreamError``."""
        try:
            yield from parse_feed(body, self.config.format, self.config.column)
        except ParseError as exc:
            raise UpstreamError(f"feed {self.config.url}: {exc}") from None

    # -- one attempt ---------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"threatmatch/{__version__}", "Accept": ACCEPT.get(self.config.format, "*/*")}
        if self.config.header_name:
            headers[self.config.header_name] = self.config.header_value.reveal()
        return headers

    def _attempt(self, conditional: bool, url: str) -> bytes | None:
        headers = self._headers()
        if conditional and self.previous.get("etag"):
            headers["If-None-Match"] = str(self.previous["etag"])
        if conditional and self.previous.get("last_modified"):
            headers["If-Modified-Since"] = str(self.previous["last_modified"])
        started = time.perf_counter()
        try:
            with self._http.stream("GET", url, headers=headers, timeout=self._timeout,
                                   follow_redirects=True) as response:
                status = response.status_code
                if status == 304 and conditional:
                    return None
                if url == self.config.url:  # what identifies the feed's answer for the next conditional request
                    self.validators = {key: response.headers[header] for key, header in
                                       (("etag", "ETag"), ("last_modified", "Last-Modified"))
                                       if header in response.headers}
                if status != 200:
                    response.read()
                    raise self._failure(status, response)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise BadRequestError(f"feed {url} is larger than {self._max_bytes:,} bytes: this is not an "
                                              "indicator feed (check --url)")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError as exc:
            raise network_failure(exc, self._timeout, silent=(
                f"feed {url} did not answer within {self._timeout:g} s, even after retries; check the network "
                "path or try again later"), unreachable=(
                f"cannot download feed {url} ({type(exc).__name__}: {self._scrub(exc)}); check the URL, DNS, "
                "proxy and firewall settings")) from None
        finally:
            self.wait_seconds += time.perf_counter() - started

    def _failure(self, status: int, response: httpx.Response) -> ProviderError | Retryable:
        url = self.config.url
        if status == 429:
            wait = retry_after(response.headers.get("Retry-After"), time.time())
            if wait is not None and wait > self._retry.max_retry_after:
                return RateLimitedError(f"feed {url} rate-limited the download and asked to wait {wait:.0f} s; "
                                        "raise --refresh-minutes or try again later")
            return Retryable("HTTP 429 (rate limited)", RateLimitedError(
                f"feed {url} kept rate-limiting the download (HTTP 429) after every retry; raise "
                "--refresh-minutes"), wait)
        if status >= 500:
            return Retryable(f"HTTP {status}", UpstreamError(
                f"feed {url} kept failing (HTTP {status}) after every retry; the server has a problem, try "
                "again later"))
        if status in (401, 403):
            header = f" (header {self.config.header_name})" if self.config.header_name else ""
            return AuthError(f"feed {url} refused the download (HTTP {status}): it needs a key or the key{header} "
                             "is wrong; set it with --header NAME and --header-value-file / --header-value-env")
        if status == 404:
            return BadRequestError(f"there is no feed at {url} (HTTP 404): check --url")
        return BadRequestError(f"feed {url} refused the download (HTTP {status}): {self._body(response)}")

    def _body(self, response: httpx.Response) -> str:
        text = " ".join(response.text.split())[:200] or "(empty)"
        return self._scrub(text)

    def _scrub(self, text: object) -> str:
        secret = self.config.header_value.reveal()
        return str(text).replace(secret, "********") if secret else str(text)
