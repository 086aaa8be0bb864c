"""ThreatStream client against a scripted HTTP transport: request shape, paging, retries and errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from threatmatch.errors import (
    AuthError,
    BadRequestError,
    ProviderNetworkError,
    RateLimitedError,
    UpstreamError,
)
from threatmatch.providers.threatstream.client import RetryPolicy, ThreatStreamClient
from threatmatch.providers.threatstream.config import make_config

TOKEN = "s3cr3t-T0ken-value"
CONFIG = make_config(name="anomali", username="analyst@example.com", token=TOKEN,
                     query='feed_id=42 and status="active"', base_url="https://ts.example.com")
Handler = Callable[[httpx.Request], httpx.Response]


def page(update_ids: list[int], *, next_url: str | None = "/api/v2/intelligence/?x", total: int = 99) -> bytes:
    objects = [{"id": 1000 + u, "value": f"10.0.0.{u % 250}", "type": "ip", "update_id": u} for u in update_ids]
    return orjson.dumps({"objects": objects, "meta": {"total_count": total, "next": next_url, "limit": 1000,
                                                      "offset": 0, "took": 3}})


class Recorder:
    """A scripted ThreatStream: answers requests in order and keeps them for inspection."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(recorder: Recorder, *, sleeps: list[float] | None = None, **kwargs: Any) -> ThreatStreamClient:
    policy = RetryPolicy(attempts=kwargs.pop("attempts", 5), base_delay=1.0, max_delay=8.0, max_retry_after=60,
                         sleep=(sleeps if sleeps is not None else []).append, random=lambda: 0.5)
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    return ThreatStreamClient(http, CONFIG, retry=policy, **kwargs)


def ok(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body)


class TestRequestShape:
    def test_first_request_carries_query_order_limit_and_header_auth(self) -> None:
        """The first page asks for the user's query by update_id, 1000 at a time, with header credentials only."""
        recorder = Recorder(ok(page([1], next_url=None)))
        list(client(recorder).pages())
        request = recorder.requests[0]
        assert request.url.path == "/api/v2/intelligence/"
        assert dict(request.url.params) == {"q": 'feed_id=42 and status="active"', "order_by": "update_id",
                                            "limit": "1000"}
        assert request.headers["Authorization"] == f"apikey analyst@example.com:{TOKEN}"
        assert request.headers["Accept"] == "application/json"
        assert TOKEN not in str(request.url) and "api_key" not in str(request.url)

    def test_query_is_url_encoded(self) -> None:
        """Quotes, spaces and '=' of the query are percent-encoded in the URL, never sent raw."""
        recorder = Recorder(ok(page([1], next_url=None)))
        list(client(recorder).pages())
        raw_query = recorder.requests[0].url.query.decode()
        assert '"' not in raw_query and " " not in raw_query and "q=feed_id%3D42" in raw_query

    def test_keyset_cursor_is_the_last_update_id(self) -> None:
        """Each next page asks for update_id__gt = the previous page's last update_id."""
        recorder = Recorder(ok(page([3, 5, 9])), ok(page([12, 40])), ok(page([41], next_url=None)))
        pages = list(client(recorder).pages())
        assert [len(p.objects) for p in pages] == [3, 2, 1]
        cursors = [r.url.params.get("update_id__gt") for r in recorder.requests]
        assert cursors == [None, "9", "40"]

    def test_stability_lag_adds_modified_before(self) -> None:
        """With a stability cut-off, every page carries modified_ts__lt in ThreatStream's timestamp form."""
        recorder = Recorder(ok(page([1], next_url=None)))
        cutoff = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        list(client(recorder).pages(modified_before=cutoff))
        assert recorder.requests[0].url.params["modified_ts__lt"] == "2026-01-02T03:04:05.678Z"

    def test_paging_stops_on_an_empty_page_even_with_next(self) -> None:
        """An empty page ends paging although meta.next is set."""
        recorder = Recorder(ok(page([1])), ok(page([])))
        assert len(list(client(recorder).pages())) == 2

    def test_non_advancing_cursor_is_an_error(self) -> None:
        """A server that ignores update_id__gt cannot make the client loop forever."""
        recorder = Recorder(ok(page([5, 7])), ok(page([6, 7])))
        with pytest.raises(UpstreamError, match="paging did not advance"):
            list(client(recorder).pages())

    def test_page_cap_stops_a_runaway_sync(self) -> None:
        """Paging stops with a clear error after the page cap."""
        recorder = Recorder(*(ok(page([n])) for n in range(1, 4)))
        with pytest.raises(UpstreamError, match="stopped after 2 pages"):
            list(client(recorder, max_pages=2).pages())

    def test_no_content_is_an_empty_page(self) -> None:
        """HTTP 204 is an empty result, as other ThreatStream clients treat it."""
        recorder = Recorder(httpx.Response(204))
        pages = list(client(recorder).pages())
        assert pages[0].objects == []

    def test_objects_keep_their_exact_bytes(self) -> None:
        """Each object is handed over as the server's bytes (big ids and number spelling intact)."""
        body = b'{"objects": [{"id": 18446744073709551615, "value": "a.b", "update_id": 1, "lat": 1.50}],' \
               b' "meta": {"next": null}}'
        pages = list(client(Recorder(ok(body))).pages())
        assert pages[0].objects == [b'{"id": 18446744073709551615, "value": "a.b", "update_id": 1, "lat": 1.50}']


class TestRetries:
    def test_429_honours_retry_after(self) -> None:
        """A 429 with Retry-After waits exactly that long, then continues."""
        sleeps: list[float] = []
        recorder = Recorder(httpx.Response(429, headers={"Retry-After": "7"}), ok(page([1], next_url=None)))
        list(client(recorder, sleeps=sleeps).pages())
        assert sleeps == [7.0] and len(recorder.requests) == 2

    def test_429_without_retry_after_backs_off_exponentially_with_cap(self) -> None:
        """Without Retry-After the waits grow 2x per retry up to the cap, with jitter applied."""
        sleeps: list[float] = []
        recorder = Recorder(*(httpx.Response(429) for _ in range(5)), ok(page([1], next_url=None)))
        list(client(recorder, sleeps=sleeps, attempts=6).pages())
        assert sleeps == [0.75, 1.5, 3.0, 6.0, 6.0]  # min(8, 1*2^n) * (0.5 + 0.5/2)

    def test_429_asking_too_long_fails_at_once(self) -> None:
        """A Retry-After beyond the policy's limit fails immediately with the wait in the message."""
        recorder = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}))
        with pytest.raises(RateLimitedError, match="asked to wait 3600 s"):
            list(client(recorder).pages())

    def test_persistent_429_becomes_rate_limited_error(self) -> None:
        """429 on every attempt ends in RateLimitedError after the allowed attempts."""
        recorder = Recorder(*(httpx.Response(429, headers={"Retry-After": "0"}) for _ in range(3)))
        with pytest.raises(RateLimitedError, match="HTTP 429"):
            list(client(recorder, attempts=3).pages())
        assert len(recorder.requests) == 3

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_server_errors_are_retried(self, status: int) -> None:
        """5xx answers are retried and a later success is used."""
        recorder = Recorder(httpx.Response(status), ok(page([1], next_url=None)))
        assert len(list(client(recorder).pages())) == 1

    def test_persistent_server_error_names_page_and_status(self) -> None:
        """A 5xx that outlives the retries says which page and which status."""
        recorder = Recorder(*(httpx.Response(503, text="maintenance") for _ in range(2)))
        with pytest.raises(UpstreamError, match=r"page 1 of https://ts.example.com/api/v2/intelligence/ \(HTTP 503\)"):
            list(client(recorder, attempts=2).pages())

    def test_timeouts_are_retried_then_reported_in_plain_words(self) -> None:
        """A time-out is retried; when every attempt times out the error says so."""
        recorder = Recorder(httpx.ReadTimeout("slow"), ok(page([1], next_url=None)))
        assert len(list(client(recorder).pages())) == 1
        recorder = Recorder(*(httpx.ReadTimeout("slow") for _ in range(2)))
        with pytest.raises(ProviderNetworkError, match="did not answer page 1"):
            list(client(recorder, attempts=2, timeout=3).pages())

    def test_truncated_body_is_retried_then_reported(self) -> None:
        """A truncated JSON page is retried, then reported with where and what."""
        body = page([1, 2], next_url=None)
        recorder = Recorder(ok(body[:-20]), ok(body))
        assert len(list(client(recorder).pages())[0].objects) == 2
        recorder = Recorder(ok(body[:-20]), ok(b"<html>oops</html>"))
        with pytest.raises(UpstreamError, match="malformed or truncated response for page 1"):
            list(client(recorder, attempts=2).pages())

    def test_connection_refused_is_a_network_error(self) -> None:
        """An unreachable server ends in ProviderNetworkError naming the base URL."""
        recorder = Recorder(*(httpx.ConnectError("refused") for _ in range(2)))
        with pytest.raises(ProviderNetworkError, match="cannot reach ThreatStream at https://ts.example.com"):
            list(client(recorder, attempts=2).pages())


class TestFailFast:
    @pytest.mark.parametrize(("status", "error", "words"), [
        (401, AuthError, "refused the credentials for user analyst@example.com"),
        (403, AuthError, "denied access for user analyst@example.com"),
        (400, BadRequestError, "rejected the request"),
        (404, BadRequestError, "no ThreatStream intelligence API"),
        (405, BadRequestError, "HTTP 405"),
    ])
    def test_refusals_are_not_retried(self, status: int, error: type[Exception], words: str) -> None:
        """400/401/403/404 fail on the first answer with an actionable message."""
        recorder = Recorder(httpx.Response(status, json={"error": "bad"}))
        with pytest.raises(error, match=words):
            list(client(recorder).pages())
        assert len(recorder.requests) == 1

    @pytest.mark.parametrize("status", [400, 401, 500])
    def test_token_never_appears_in_errors(self, status: int) -> None:
        """Even a server echoing the Authorization header cannot put the token in an error message."""
        def echo(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, text=f"bad header {request.headers['Authorization']}")

        http = httpx.Client(transport=httpx.MockTransport(echo))
        ts = ThreatStreamClient(http, CONFIG, retry=RetryPolicy(attempts=2, sleep=lambda _: None))
        with pytest.raises(Exception) as info:
            ts.check()
        assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)

    def test_config_repr_hides_the_token(self) -> None:
        """Printing a provider config never shows the token."""
        assert TOKEN not in repr(CONFIG) and TOKEN not in str(CONFIG.public())
