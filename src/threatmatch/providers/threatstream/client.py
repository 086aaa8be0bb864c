"""ThreatStream intelligence API client: request building, keyset paging, retries, plain-words errors.

The HTTP client is injected (``httpx.Client``), so tests run it against the real emulator on loopback
or an ``httpx.MockTransport``. Pages are decoded only as far as paging needs (``meta`` and the raw
bytes of each object); ``rows.encode_raw`` turns the objects into rows.

Credentials travel only in the ``Authorization: apikey <user>:<key>`` header; the key never appears
in a URL, a log line or an error message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx
import msgspec

from threatmatch import __version__
from threatmatch.errors import (
    AuthError,
    BadRequestError,
    ProviderError,
    RateLimitedError,
    UpstreamError,
)
from threatmatch.providers.retry import Retryable, RetryPolicy, network_failure, retry_after, with_retries
from threatmatch.providers.threatstream.config import ProviderConfig

__all__ = ["DEFAULT_TIMEOUT", "PAGE_SIZE", "Page", "RetryPolicy", "ThreatStreamClient"]

_TAGS = re.compile(r"<[^>]*>")

PAGE_SIZE = 1000  # the API's maximum
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_PAGES = 20_000  # 20 million indicators per sync


class Page(NamedTuple):
    """One page of indicators: its body, each object's exact JSON text within it, and paging metadata."""

    number: int
    raws: list[msgspec.Raw]  # views into ``body`` (no copy)
    total_count: int | None
    next: str | None
    cursor: int | None  # the update_id__gt this page was requested with (None on the first page)
    body: bytes = b""

    @property
    def objects(self) -> list[bytes]:
        """Each object's exact JSON bytes (copied out of the body)."""
        return [bytes(raw) for raw in self.raws]


class _Meta(msgspec.Struct, gc=False):
    total_count: Any = None
    next: Any = None


class _PageView(msgspec.Struct, gc=False):
    objects: list[msgspec.Raw]
    meta: _Meta = msgspec.field(default_factory=_Meta)


class _UpdateId(msgspec.Struct, gc=False):
    update_id: Any = None


_PAGE_DECODER = msgspec.json.Decoder(_PageView)
_UPDATE_ID_DECODER = msgspec.json.Decoder(_UpdateId)


class ThreatStreamClient:
    """Fetches a provider's indicators from ``/api/v2/intelligence/`` by keyset paging on ``update_id``."""

    def __init__(self, http: httpx.Client, config: ProviderConfig, *, retry: RetryPolicy | None = None,
                 timeout: float = DEFAULT_TIMEOUT, page_size: int = PAGE_SIZE,
                 max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self._http = http
        self._config = config
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._page_size = page_size
        self._max_pages = max_pages
        self.wait_seconds = 0.0  # time spent waiting on the network and in retry back-off
        self._headers = {
            "Authorization": f"apikey {config.username}:{config.token.reveal()}",
            "Accept": "application/json",
            "User-Agent": f"threatmatch/{__version__}",
        }

    @property
    def url(self) -> str:
        return self._config.intelligence_url

    def params(self, cursor: int | None, *, modified_before: datetime | None = None,
               limit: int | None = None) -> dict[str, str]:
        """Query parameters of one page request (the user's query goes, URL-encoded, in ``q``)."""
        params = {"q": self._config.query, "order_by": "update_id", "limit": str(limit or self._page_size)}
        if cursor is not None:
            params["update_id__gt"] = str(cursor)
        if modified_before is not None:
            params["modified_ts__lt"] = modified_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return params

    def check(self) -> int | None:
        """One authenticated request for one indicator; returns how many indicators the query matches."""
        return self.fetch(self.params(None, limit=1), number=1, cursor=None).total_count

    def pages(self, *, modified_before: datetime | None = None) -> Iterator[Page]:
        """Every page of the query, in ``update_id`` order, until ``meta.next`` is null or a page is empty."""
        cursor: int | None = None
        for number in range(1, self._max_pages + 1):
            page = self.fetch(self.params(cursor, modified_before=modified_before), number=number, cursor=cursor)
            yield page
            if not page.raws or page.next is None:
                return
            cursor = self._advance(page, cursor)
        raise UpstreamError(f"stopped after {self._max_pages} pages of {self._page_size} indicators from "
                            f"{self.url}: the query matches more than this run allows; narrow the query")

    def _advance(self, page: Page, cursor: int | None) -> int:
        last = _UPDATE_ID_DECODER.decode(page.raws[-1]).update_id
        if isinstance(last, bool) or not isinstance(last, int):
            raise UpstreamError(f"page {page.number} from {self.url}: the last indicator has no integer "
                                "update_id, so paging cannot continue; the server does not honour order_by=update_id")
        if cursor is not None and last <= cursor:
            raise UpstreamError(f"page {page.number} from {self.url}: paging did not advance (update_id {last} "
                                f"after update_id__gt={cursor}); the server ignores the update_id__gt filter")
        return last

    def fetch(self, params: dict[str, str], *, number: int, cursor: int | None) -> Page:
        """GET one page, retrying what is worth retrying; raises a ``ProviderError`` subclass otherwise."""
        return with_retries(lambda: self._attempt(params, number, cursor), self._retry, what=f"page {number}",
                            waited=self._waited)

    def _waited(self, seconds: float) -> None:
        self.wait_seconds += seconds

    def _attempt(self, params: dict[str, str], number: int, cursor: int | None) -> Page:
        where = f"page {number} of {self.url}"
        started = time.perf_counter()
        try:
            response = self._http.get(self.url, params=params, headers=self._headers, timeout=self._timeout)
        except httpx.TransportError as exc:
            raise network_failure(exc, self._timeout, silent=(
                f"ThreatStream did not answer {where} within {self._timeout:g} s, even after retries; "
                "check the network path to the server or try again later"), unreachable=(
                f"cannot reach ThreatStream at {self._config.base_url} ({type(exc).__name__}: {self._scrub(exc)}); "
                "check --subdomain/--base-url, DNS, proxy and firewall settings")) from None
        finally:
            self.wait_seconds += time.perf_counter() - started
        status = response.status_code
        if status == 200:
            return self._decode(response.content, number, cursor, where)
        if status in (202, 204):
            return Page(number, [], 0, None, cursor)
        if status == 429:
            wait = retry_after(response.headers.get("Retry-After"), time.time())
            if wait is not None and wait > self._retry.max_retry_after:
                raise RateLimitedError(f"ThreatStream rate-limited {where} and asked to wait {wait:.0f} s "
                                       f"(more than {self._retry.max_retry_after:.0f} s); try again later")
            raise Retryable("HTTP 429 (rate limited)", RateLimitedError(
                f"ThreatStream kept rate-limiting {where} (HTTP 429) after every retry; "
                "lower the sync frequency or ask Anomali about the API quota"), wait)
        if status >= 500:
            raise Retryable(f"HTTP {status}", UpstreamError(
                f"ThreatStream kept failing on {where} (HTTP {status}) after every retry; "
                f"the server has a problem, try again later. Body: {self._body(response)}"))
        raise self._refused(status, response, where)

    def _decode(self, content: bytes, number: int, cursor: int | None, where: str) -> Page:
        try:
            view = _PAGE_DECODER.decode(content)
        except msgspec.DecodeError as exc:
            raise Retryable("malformed or truncated JSON", UpstreamError(
                f"ThreatStream sent a malformed or truncated response for {where} ({len(content)} bytes: {exc}) "
                "after every retry; try again later")) from None
        total = view.meta.total_count
        following = view.meta.next
        return Page(number, view.objects, total if isinstance(total, int) and not isinstance(total, bool) else None,
                    following if isinstance(following, str) and following else None, cursor, content)

    def _refused(self, status: int, response: httpx.Response, where: str) -> ProviderError:
        user = self._config.username
        if status == 401:
            return AuthError(f"ThreatStream refused the credentials for user {user} (HTTP 401): check the username "
                             "and API token (ThreatStream: Settings > My Profile > API Key) and update them with "
                             "`threatmatch providers add-threatstream`")
        if status == 403:
            return AuthError(f"ThreatStream denied access for user {user} (HTTP 403): the API key lacks permission "
                             "to read intelligence, or this machine's IP address is not on the ThreatStream "
                             "allow-list")
        if status == 404:
            return BadRequestError(f"there is no ThreatStream intelligence API at {self.url} (HTTP 404): check "
                                   "--subdomain (cloud: 'api') or --base-url")
        if status == 400:
            return BadRequestError(f"ThreatStream rejected the request for {where} (HTTP 400): "
                                   f"{self._body(response)}. Check the indicator query ({self._config.query!r})")
        if 300 <= status < 400:
            return BadRequestError(f"ThreatStream redirected {where} (HTTP {status}) to "
                                   f"{response.headers.get('Location', '?')}: set --base-url to the final address")
        return BadRequestError(f"ThreatStream refused {where} (HTTP {status}): {self._body(response)}")

    def _body(self, response: httpx.Response) -> str:
        """The response body as one short line of text (HTML tags removed), token masked."""
        text = response.text
        if "<" in text and ">" in text:
            text = _TAGS.sub(" ", text)
        text = " ".join(text.split()) or "(empty)"
        return self._scrub(text[:300])

    def _scrub(self, text: object) -> str:
        """Text with the API token masked, should a server or library ever echo it."""
        token = self._config.token.reveal()
        return str(text).replace(token, "********") if token else str(text)
