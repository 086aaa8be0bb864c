"""Injected faults fire for the next N API requests, in queue order, then the API answers normally again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from threatmatch.emulator.testing import EmulatorHandle, run_emulator

API = "/api/v2/intelligence/"


@pytest.fixture(scope="module")
def ts() -> Iterator[EmulatorHandle]:
    with run_emulator(indicators=300, seed=5) as handle:
        yield handle


@pytest.fixture
def client(ts: EmulatorHandle) -> Iterator[httpx.Client]:
    ts.clear_faults()
    with httpx.Client(base_url=ts.base_url, headers=ts.auth_header, timeout=10) as c:
        yield c
    ts.clear_faults()


def page(client: httpx.Client) -> httpx.Response:
    return client.get(API, params={"limit": 50, "order_by": "update_id"})


def test_429_with_retry_after(ts: EmulatorHandle, client: httpx.Client) -> None:
    """A 429 carries Retry-After in whole seconds (or fractional when asked), for exactly ``count`` requests."""
    ts.fault("429", count=2, retry_after=3)
    first, second, third = page(client), page(client), page(client)
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["retry-after"] == "3"
    ts.fault("429", retry_after=0.25)
    assert page(client).headers["retry-after"] == "0.25"


def test_429_without_retry_after(ts: EmulatorHandle, client: httpx.Client) -> None:
    """A 429 without the option has no Retry-After header."""
    ts.fault("429")
    response = page(client)
    assert response.status_code == 429 and "retry-after" not in response.headers


@pytest.mark.parametrize("kind", ["500", "502", "503", "403"])
def test_status_faults(ts: EmulatorHandle, client: httpx.Client, kind: str) -> None:
    """5xx and 403 faults answer with that status and an opaque body, once."""
    ts.fault(kind)
    response = page(client)
    assert response.status_code == int(kind) and response.content
    assert page(client).status_code == 200


def test_faults_fire_in_queue_order(ts: EmulatorHandle, client: httpx.Client) -> None:
    """Queued faults are consumed first-in first-out, and the request log names each one."""
    ts.clear_requests()
    ts.fault("503", retry_after=1)
    ts.fault("500")
    statuses = [page(client).status_code for _ in range(3)]
    assert statuses == [503, 500, 200]
    assert [(r["status"], r["fault"]) for r in ts.requests()] == [(503, "503"), (500, "500"), (200, None)]


def test_slow(ts: EmulatorHandle, client: httpx.Client) -> None:
    """A slow fault delays the (correct) answer; a client time-out shorter than the delay fires."""
    ts.fault("slow", delay=0.6)
    started = time.monotonic()
    response = page(client)
    assert response.status_code == 200 and len(response.json()["objects"]) == 50
    assert time.monotonic() - started >= 0.5
    ts.fault("slow", delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get(API, timeout=0.3)


def test_truncated_body_short_read(ts: EmulatorHandle, client: httpx.Client) -> None:
    """A truncated response declares the full length, sends half and closes: the client sees an incomplete read."""
    ts.fault("truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        page(client)
    assert page(client).status_code == 200


def test_truncated_json(ts: EmulatorHandle, client: httpx.Client) -> None:
    """In json mode the HTTP message is complete but the JSON inside is cut mid-way."""
    ts.fault("truncate", mode="json")
    response = page(client)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_drop(ts: EmulatorHandle, client: httpx.Client) -> None:
    """A dropped connection gives no response at all."""
    ts.fault("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        page(client)
    assert page(client).status_code == 200


def test_bad_fault_requests_are_refused(ts: EmulatorHandle) -> None:
    """Unknown kinds and options are a 400 naming the problem."""
    with pytest.raises(RuntimeError, match="unknown fault kind '418'"):
        ts.fault("418")
    with pytest.raises(RuntimeError, match="unknown fault option"):
        ts.fault("429", colour="red")


def test_admin_needs_no_api_credentials_and_lives_under_admin(ts: EmulatorHandle) -> None:
    """Admin routes answer without credentials; unknown admin routes are 404."""
    assert httpx.get(ts.base_url + "/_admin/state").json()["indicators"] == 300
    assert httpx.get(ts.base_url + "/_admin/nothing").status_code == 404
    assert "api_key" not in httpx.get(ts.base_url + "/_admin/state").json()["config"]
