"""Django-style filters, q= and ordering on the emulator agree with evaluating the same conditions per object."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from threatmatch.emulator.testing import EmulatorHandle, run_emulator
from threatmatch.providers.threatstream.query import compile_predicate, parse_query
from threatmatch.providers.threatstream.query_fields import iso_ms

API = "/api/v2/intelligence/"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def ts() -> Iterator[EmulatorHandle]:
    with run_emulator(indicators=3000, seed=11) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(ts: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ts.base_url, headers=ts.auth_header, timeout=30) as c:
        yield c


def fetch(client: httpx.Client, **params: Any) -> tuple[list[Obj], int]:
    """All objects for ``params`` (following next links) and the first page's total_count."""
    response = client.get(API, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    body = orjson.loads(response.content)
    objects, total = body["objects"], body["meta"]["total_count"]
    next_url = body["meta"]["next"]
    while next_url:
        body = orjson.loads(client.get(next_url).content)
        objects += body["objects"]
        next_url = body["meta"]["next"]
    return objects, total


@pytest.fixture(scope="module")
def everything(client: httpx.Client) -> list[Obj]:
    objects, total = fetch(client, order_by="update_id")
    assert len(objects) == total == 3000
    return objects


def expect(everything: list[Obj], test: Callable[[Obj], bool]) -> list[int]:
    return [o["id"] for o in everything if test(o)]


def meta_sev(o: Obj) -> Any:
    return (o.get("meta") or {}).get("severity")


CASES: list[tuple[dict[str, str], Callable[[Obj], bool]]] = [
    ({"status": "active"}, lambda o: o["status"] == "active"),
    ({"status": "inactive,falsepos"}, lambda o: o["status"] in ("inactive", "falsepos")),
    ({"type": "ip,domain,hash"}, lambda o: o["type"] in ("ip", "domain", "md5")),
    ({"type": "hash", "hash$subtype": "SHA1,SHA256"},
     lambda o: o["type"] == "md5" and o["subtype"] in ("SHA1", "SHA256")),
    ({"itype": "c2_ip"}, lambda o: o["itype"] == "c2_ip"),
    ({"feed_id": "1103,9241"}, lambda o: o["feed_id"] in (1103, 9241)),
    ({"confidence__gt": "80"}, lambda o: o["confidence"] > 80),
    ({"confidence__gte": "80"}, lambda o: o["confidence"] >= 80),
    ({"confidence__lt": "20"}, lambda o: o["confidence"] < 20),
    ({"confidence__lte": "20"}, lambda o: o["confidence"] <= 20),
    ({"meta.severity": "high,very-high"}, lambda o: meta_sev(o) in ("high", "very-high")),
    ({"tags.name": "Emotet"}, lambda o: any(t["name"] == "Emotet" for t in o["tags"] or [])),
    ({"value__contains": "LOGIN"}, lambda o: "login" in o["value"].lower()),  # text lookups ignore case
    ({"value__startswith": "https://"}, lambda o: o["value"].startswith("https://")),
    ({"value__regex": r"^\d+\.\d+\.\d+\.1$"}, lambda o: o["type"] == "ip" and o["value"].endswith(".1")),
    ({"tlp__isnull": "true"}, lambda o: o["tlp"] is None),
    ({"modified_ts__gte": "2024-01-01"}, lambda o: o["modified_ts"] >= "2024-01-01"),
    ({"modified_ts__lt": "2023-06-01T12:00:00Z"}, lambda o: o["modified_ts"] < "2023-06-01T12:00:00"),
    ({"created_ts__gt": "2024-06-01T00:00:00"}, lambda o: o["created_ts"] > "2024-06-01T00:00:00"),
    ({"expiration_ts__lt": "2026-01-01"}, lambda o: o["expiration_ts"] is not None and o["expiration_ts"] < "2026"),
    ({"status": "active", "remote_api": "true", "local_only": "false", "format": "json"},
     lambda o: o["status"] == "active"),
    ({"not_a_field": "x", "status": "falsepos"}, lambda o: o["status"] == "falsepos"),
    ({"q": 'feed_id=42 and status="active"'}, lambda o: o["feed_id"] == 42 and o["status"] == "active"),
    ({"q": "(itype = c2_domain or itype = c2_ip) and confidence >= 50", "status": "active"},
     lambda o: o["itype"] in ("c2_domain", "c2_ip") and o["confidence"] >= 50 and o["status"] == "active"),
    ({"q": "feed_name = \"DShield Scanning IPs\" and value contains .1"},
     lambda o: o["source"] == "DShield Scanning IPs" and ".1" in o["value"]),
    ({"q": "country = DE or asn = 16509"}, lambda o: o.get("country") == "DE" or o.get("asn") == "16509"),
    ({"q": "meta.severity != low", "type": "url"}, lambda o: meta_sev(o) != "low" and o["type"] == "url"),
]


@pytest.mark.parametrize(("params", "test"), CASES, ids=[str(p) for p, _ in CASES])
def test_filter_matches_per_object_evaluation(
    client: httpx.Client, everything: list[Obj], params: dict[str, str], test: Callable[[Obj], bool]
) -> None:
    """Each filter kind returns exactly the objects the condition selects, and total_count says how many."""
    objects, total = fetch(client, order_by="update_id", **params)
    wanted = expect(everything, test)
    assert wanted, f"the generated data should contain matches for {params}"
    assert [o["id"] for o in objects] == wanted
    assert total == len(wanted)


def test_q_agrees_with_compile_predicate(client: httpx.Client, everything: list[Obj]) -> None:
    """The server's q evaluation equals the shared compile_predicate over the served objects."""
    for q in ("tags.name = MalSpam or tags.name = Mirai", "is_public = false and tlp = amber",
              "threat_type = phish and expiration_ts > 2030-01-01", "subtype = sha256 or subtype = null",
              "trusted_circle_ids != null", "retina_confidence >= 0 and threatscore < 50"):
        predicate = compile_predicate(parse_query(q))
        objects, _ = fetch(client, order_by="update_id", q=q)
        assert [o["id"] for o in objects] == [o["id"] for o in everything if predicate(o)], q


@pytest.mark.parametrize("field", ["update_id", "modified_ts", "created_ts", "confidence", "id", "value", "itype"])
def test_order_by_ascending_and_descending(client: httpx.Client, everything: list[Obj], field: str) -> None:
    """order_by sorts by the field then id; ``-field`` is the exact reverse."""
    def key(o: Obj) -> Any:
        value = o[field]
        return (iso_ms(value) if field.endswith("_ts") else value, o["id"])

    up, _ = fetch(client, order_by=field)
    down, _ = fetch(client, order_by=f"-{field}")
    assert [o["id"] for o in up] == [o["id"] for o in sorted(everything, key=key)]
    assert [o["id"] for o in down] == [o["id"] for o in up][::-1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "feedid=42"}, "invalid q: unknown field 'feedid' (did you mean 'feed_id'?) at position 0"),
        ({"q": "status = "}, "invalid q: expected a value after '='"),
        ({"confidence__gt": "high"}, "invalid value for confidence__gt: expected a number, found 'high'"),
        ({"modified_ts__gt": "last week"}, "invalid value for modified_ts__gt: 'last week' is not a timestamp"),
        ({"confidence__contains": "5"}, "confidence__contains: the __contains lookup needs a text field"),
        ({"value__regex": "("}, "value__regex: invalid regular expression"),
        ({"limit": "ten"}, "limit must be a whole number, not 'ten'"),
        ({"offset": "-5"}, "offset must not be negative"),
        ({"order_by": "colour"}, "cannot order by 'colour'"),
        ({"order_by": "update_id", "search_after": "x"}, "search_after takes the comma-joined sort values"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(client: httpx.Client, params: dict[str, str], message: str) -> None:
    """A bad q or filter value is a 400 whose JSON error says what is wrong."""
    response = client.get(API, params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content)["error"].startswith(message)


def test_offset_paging_with_previous(client: httpx.Client, everything: list[Obj], ts: EmulatorHandle) -> None:
    """In offset style, next/previous move by limit over the same ordering."""
    ts.configure(next_style="offset")
    try:
        body = orjson.loads(client.get(API, params={"order_by": "update_id", "limit": 100, "offset": 200}).content)
        assert [o["id"] for o in body["objects"]] == [o["id"] for o in everything[200:300]]
        assert body["meta"]["next"] == API + "?order_by=update_id&limit=100&offset=300"
        assert body["meta"]["previous"] == API + "?order_by=update_id&limit=100&offset=100"
        assert body["meta"]["total_count"] == 3000
    finally:
        ts.configure(next_style="update_id")


@pytest.mark.parametrize("order", ["update_id", "-modified_ts", "confidence"])
def test_search_after_paging(client: httpx.Client, ts: EmulatorHandle, order: str) -> None:
    """In search_after style, following next visits the same objects, in the same order, as offset paging."""
    ts.configure(next_style="offset")
    try:
        by_offset, _ = fetch(client, order_by=order, status="active", limit=500)
        ts.configure(next_style="search_after")
        by_cursor, total = fetch(client, order_by=order, status="active", limit=500)
        first = orjson.loads(client.get(API, params={"order_by": order, "limit": 10}).content)
    finally:
        ts.configure(next_style="update_id")
    assert [o["id"] for o in by_cursor] == [o["id"] for o in by_offset]
    assert len(by_cursor) == total
    assert "search_after=" in first["meta"]["next"] and "offset=" not in first["meta"]["next"]


def test_single_object_route(client: httpx.Client, everything: list[Obj]) -> None:
    """/api/v2/intelligence/<id>/ returns that object; an unknown id is 404."""
    sample = everything[1234]
    response = client.get(f"{API}{sample['id']}/")
    assert response.status_code == 200
    assert {k: v for k, v in orjson.loads(response.content).items() if k != "sort"} == {
        k: v for k, v in sample.items() if k != "sort"}
    assert client.get(f"{API}1/").status_code == 404
    assert client.get("/api/v2/other/").status_code == 404


def test_max_result_window(client: httpx.Client, ts: EmulatorHandle) -> None:
    """With the optional window on, offset + limit past it is a 400 naming the max result window."""
    ts.configure(max_result_window=10000)
    try:
        response = client.get(API, params={"offset": 9500, "limit": 1000})
        assert response.status_code == 400
        assert "max result window of 10000" in orjson.loads(response.content)["error"]
        assert client.get(API, params={"offset": 9000, "limit": 1000}).status_code == 200
    finally:
        ts.configure(max_result_window=None)
