"""The emulator's intelligence API over real sockets: auth, paging, meta, filters, ordering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from threatmatch.emulator.testing import EmulatorHandle, run_emulator

API = "/api/v2/intelligence/"


@pytest.fixture(scope="module")
def ts() -> Iterator[EmulatorHandle]:
    with run_emulator(indicators=5000, seed=7) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(ts: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ts.base_url, headers=ts.auth_header, timeout=30) as c:
        yield c


def get(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get(API, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = orjson.loads(response.content)
    return body


def all_objects(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every object matching ``params``, fetched 1000 at a time in update_id order."""
    first = get(client, limit=1000, order_by="update_id", **params)
    return first["objects"] + _follow(client, first["meta"]["next"])


def _follow(client: httpx.Client, next_url: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while next_url:
        body = orjson.loads(client.get(next_url).content)
        found.extend(body["objects"])
        next_url = body["meta"]["next"]
    return found


class TestAuth:
    def test_header_auth(self, ts: EmulatorHandle) -> None:
        """``Authorization: apikey user:key`` is accepted, with the scheme in any case."""
        for scheme in ("apikey", "APIKEY", "ApiKey"):
            response = httpx.get(ts.base_url + API, headers={"Authorization": f"{scheme} {ts.username}:{ts.api_key}"})
            assert response.status_code == 200

    def test_legacy_query_parameters(self, ts: EmulatorHandle) -> None:
        """The legacy ``?username=&api_key=`` form is accepted too."""
        response = httpx.get(ts.base_url + API, params={"username": ts.username, "api_key": ts.api_key})
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "apikey analyst@example.com:wrong"}, {"Authorization": "Bearer test-api-key"},
         {"Authorization": "apikey nobody@example.com:test-api-key"}],
    )
    def test_missing_or_wrong_credentials_are_401(self, ts: EmulatorHandle, headers: dict[str, str]) -> None:
        """No credentials, a wrong key, a wrong user or another scheme get 401 with an empty body."""
        response = httpx.get(ts.base_url + API, headers=headers)
        assert response.status_code == 401
        assert response.content == b""

    def test_wrong_query_parameter_credentials_are_401(self, ts: EmulatorHandle) -> None:
        """A wrong legacy api_key is refused."""
        response = httpx.get(ts.base_url + API, params={"username": ts.username, "api_key": "nope"})
        assert response.status_code == 401


class TestPaging:
    def test_defaults(self, client: httpx.Client) -> None:
        """Without parameters: 20 objects, tastypie meta with took, newest modified_ts first."""
        body = get(client)
        meta = body["meta"]
        assert set(meta) == {"limit", "offset", "total_count", "next", "previous", "took"}
        assert (meta["limit"], meta["offset"], meta["total_count"], meta["previous"]) == (20, 0, 5000, None)
        assert meta["next"] == API + "?offset=20"
        stamps = [o["modified_ts"] for o in body["objects"]]
        assert len(stamps) == 20 and stamps == sorted(stamps, reverse=True)

    def test_limit_clamps_and_zero_means_max(self, client: httpx.Client) -> None:
        """limit above 1000 is clamped to 1000 and limit=0 means 1000."""
        assert len(get(client, limit=5000)["objects"]) == 1000
        assert get(client, limit=0)["meta"]["limit"] == 1000

    def test_update_id_keyset_visits_every_indicator_once(self, client: httpx.Client) -> None:
        """Following ``next`` with order_by=update_id collects all 5,000 indicators exactly once, in order."""
        first = get(client, order_by="update_id", limit=1000)
        assert first["meta"]["next"].startswith(API + "?order_by=update_id&limit=1000&update_id__gt=")
        objects = first["objects"] + _follow(client, first["meta"]["next"])
        ids = [o["id"] for o in objects]
        assert len(ids) == 5000 and len(set(ids)) == 5000
        uids = [o["update_id"] for o in objects]
        assert uids == sorted(uids) and len(set(uids)) == 5000

    def test_total_count_shrinks_with_the_keyset_cursor(self, client: httpx.Client) -> None:
        """As in the real API, total_count counts what is left after update_id__gt; offset stays 0."""
        first = get(client, order_by="update_id", limit=1000)
        second = orjson.loads(client.get(first["meta"]["next"]).content)
        assert first["meta"]["total_count"] == 5000
        assert second["meta"]["total_count"] == 4000
        assert second["meta"]["offset"] == 0

    def test_sort_values(self, client: httpx.Client) -> None:
        """``sort`` is [update_id] in update_id order and [modified epoch ms, "id"] otherwise."""
        by_uid = get(client, order_by="update_id", limit=3)["objects"]
        assert all(o["sort"] == [o["update_id"]] for o in by_uid)
        default = get(client, limit=3)["objects"]
        from threatmatch.providers.threatstream.query_fields import iso_ms

        assert all(o["sort"] == [iso_ms(o["modified_ts"]), str(o["id"])] for o in default)


def test_every_generated_id_above_2_53_is_an_exact_json_integer(client: httpx.Client) -> None:
    """Ids beyond 2**53 arrive as exact JSON integers (a float would lose the last digits)."""
    objects = get(client, order_by="-id", limit=10)["objects"]
    big = [o["id"] for o in objects if o["id"] > 2**53]
    assert big and all(isinstance(i, int) and i % 2 == 1 for i in big)
    assert all(o["resource_uri"] == f"{API}{o['id']}/" for o in objects)


def test_all_objects_helper_agrees_with_total(client: httpx.Client) -> None:
    """Collecting a filtered set by keyset gives exactly total_count objects."""
    objects = all_objects(client, status="active")
    assert len(objects) == get(client, status="active")["meta"]["total_count"]
    assert {o["status"] for o in objects} == {"active"}


def test_query_parameter_auth_can_be_switched_off(ts: EmulatorHandle) -> None:
    """With param_auth off (the v1 deprecation), only the header works."""
    ts.configure(param_auth=False)
    try:
        legacy = httpx.get(ts.base_url + API, params={"username": ts.username, "api_key": ts.api_key})
        header = httpx.get(ts.base_url + API, headers=ts.auth_header)
    finally:
        ts.configure(param_auth=True)
    assert (legacy.status_code, header.status_code) == (401, 200)


def test_any_host_name_is_served(ts: EmulatorHandle) -> None:
    """Requests addressed to a cloud-style host name (Host header) are answered like any other."""
    response = httpx.get(ts.base_url + API, headers={**ts.auth_header, "Host": "api.threatstream.com"})
    assert response.status_code == 200
    assert orjson.loads(response.content)["meta"]["total_count"] == 5000
