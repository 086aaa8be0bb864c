"""The generated dataset: deterministic, realistic, and its columnar filtering equals per-object evaluation."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threatmatch.emulator.catalog import ITYPE_TYPE, THREAT_OF_ITYPE
from threatmatch.emulator.dataset import Dataset, PageRequest
from threatmatch.emulator.generate import SENTINEL_MS
from threatmatch.indicators.normalize import hash_kind, normalize_domain, normalize_email, normalize_ip
from threatmatch.providers.threatstream.query import And, Comparison, Expr, Or, compile_predicate, parse_query
from threatmatch.providers.threatstream.query_fields import iso_ms

DATASET = Dataset.generate(4000, seed=21)
OBJECTS = [DATASET.object(row) for row in range(len(DATASET))]
HEX = re.compile(r"[0-9a-f]+")


class TestGeneration:
    def test_same_seed_same_objects(self) -> None:
        """Generation is deterministic for a (seed, count), in another process too, and differs between seeds."""
        again = Dataset.generate(4000, seed=21)
        assert [again.object(r) for r in range(0, 4000, 97)] == OBJECTS[::97]
        code = ("import orjson; from threatmatch.emulator.dataset import Dataset; d = Dataset.generate(4000, seed=21); "
                "print(orjson.dumps([d.object(r) for r in range(0, 4000, 97)]).decode())")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                env={**os.environ, "PYTHONHASHSEED": "12345"})
        assert orjson.loads(result.stdout) == OBJECTS[::97]
        other = Dataset.generate(4000, seed=22)
        assert [other.object(r)["value"] for r in range(50)] != [o["value"] for o in OBJECTS[:50]]

    def test_every_type_with_consistent_itype_and_threat(self) -> None:
        """All seven types occur, itype suffix and threat_type agree with the type."""
        types = collections.Counter(o["type"] for o in OBJECTS)
        assert set(types) == {"ip", "ipv6", "domain", "url", "email", "md5", "string"}
        for o in OBJECTS:
            assert ITYPE_TYPE[o["itype"]] == o["type"]
            assert THREAT_OF_ITYPE[o["itype"]] == o["threat_type"]

    def test_values_are_valid_observables(self) -> None:
        """IPs, domains, e-mails parse; hashes are lower-case hex of the subtype's length."""
        for o in OBJECTS:
            value, kind = o["value"], o["type"]
            if kind in ("ip", "ipv6"):
                assert normalize_ip(value) == value
            elif kind == "domain":
                assert normalize_domain(value) == value
            elif kind == "email":
                assert normalize_email(value) == value
            elif kind == "url":
                assert value.startswith(("http://", "https://"))
            elif kind == "md5":
                assert HEX.fullmatch(value) and hash_kind(value) == o["subtype"].lower()
            if kind != "md5":
                assert o["subtype"] is None

    def test_field_shapes(self) -> None:
        """Spec field types: asn a string, ids ints, timestamps ISO with ms and Z, uuid, confidence -1..100."""
        stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
        for o in OBJECTS:
            assert isinstance(o["asn"], str) and isinstance(o["id"], int) and isinstance(o["update_id"], int)
            assert stamp.fullmatch(o["created_ts"]) and stamp.fullmatch(o["modified_ts"])
            assert o["expiration_ts"] is None or stamp.fullmatch(o["expiration_ts"])
            assert o["created_ts"] <= o["modified_ts"]
            assert -1 <= o["confidence"] <= 100 and -1 <= o["retina_confidence"] <= 100
            assert uuid.UUID(o["uuid"]).version == 4
            assert o["resource_uri"] == f"/api/v2/intelligence/{o['id']}/"
            assert o["meta"]["severity"] in ("low", "medium", "high", "very-high")
            assert o["tags"] is None or all(set(t) <= {"id", "name", "org_id"} for t in o["tags"])

    def test_realistic_mix(self) -> None:
        """Mostly active, some inactive (with the bifocals note) and falsepos; many never expire; some geo."""
        status = collections.Counter(o["status"] for o in OBJECTS)
        assert status["active"] > 0.8 * len(OBJECTS) and status["inactive"] > 100 and status["falsepos"] > 20
        for o in OBJECTS:
            if o["status"] == "inactive":
                assert o["meta"]["detail2"].startswith("bifocals_deactivated_on_")
        never = sum(iso_ms(o["expiration_ts"] or "") == SENTINEL_MS for o in OBJECTS)
        assert 0.4 * len(OBJECTS) < never < 0.7 * len(OBJECTS)
        resolved = [o for o in OBJECTS if o["type"] in ("domain", "url") and o.get("ip")]
        assert 0.2 < len(resolved) / sum(o["type"] in ("domain", "url") for o in OBJECTS) < 0.5
        assert sum(o["tags"] is None for o in OBJECTS) > len(OBJECTS) / 3
        assert any(o["id"] > 2**53 for o in OBJECTS)
        feeds = {(o["feed_id"], o["source"]) for o in OBJECTS}
        assert len({f for f, _ in feeds}) == len(feeds) - 1  # feed 0 has two organisations, the rest one each

    def test_update_ids_unique_and_increasing(self) -> None:
        """update_id strictly increases with the row, and modified_ts with it."""
        uids = [o["update_id"] for o in OBJECTS]
        assert uids == sorted(set(uids))
        mods = [iso_ms(o["modified_ts"]) for o in OBJECTS]
        assert mods == sorted(mods)


_FIELDS = {
    "status": st.sampled_from(["active", "inactive", "falsepos", "ACTIVE"]),
    "type": st.sampled_from(["ip", "domain", "md5", "url"]),
    "itype": st.sampled_from(["c2_ip", "scan_ip", "mal_md5", "phish_url"]),
    "feed_id": st.sampled_from(["0", "42", "1103", "5220"]),
    "confidence": st.integers(-1, 101).map(str),
    "modified_ts": st.sampled_from(["2023-01-01", "2024-06-30T12:00:00Z"]),
    "expiration_ts": st.sampled_from(["2026-01-01", "9999-12-31T00:00:00.000Z"]),
    "meta.severity": st.sampled_from(["low", "high", "very-high"]),
    "value": st.sampled_from(["login", ".com", "1", "https"]),
    "tlp": st.sampled_from(["amber", "red"]),
    "country": st.sampled_from(["DE", "US"]),
    "tags.name": st.sampled_from(["Emotet", "MalSpam"]),
    "update_id": st.integers(900_000_000, 900_013_000).map(str),
}
_NUMERIC = {"confidence", "modified_ts", "expiration_ts", "feed_id", "update_id"}


@st.composite
def conditions(draw: st.DrawFn) -> Comparison:
    name = draw(st.sampled_from(sorted(_FIELDS)))
    ops = ["=", "!=", ">", ">=", "<", "<="] if name in _NUMERIC else ["=", "!=", "contains"]
    if name == "value":
        ops = ["contains", "startswith"]
    nullable = name in ("tlp", "country", "expiration_ts")
    value = None if nullable and draw(st.integers(0, 12)) == 0 else draw(_FIELDS[name])
    op = "=" if value is None else draw(st.sampled_from(ops))
    return Comparison(name, op, value)


expressions = st.recursive(
    conditions(),
    lambda kids: st.one_of(st.lists(kids, min_size=2, max_size=3).map(lambda i: And(tuple(i))),
                           st.lists(kids, min_size=2, max_size=3).map(lambda i: Or(tuple(i)))),
    max_leaves=5,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_columnar_filter_equals_per_object_predicate(expr: Expr) -> None:
    """For any expression, the column-based row filter selects exactly what compile_predicate selects."""
    predicate = compile_predicate(expr)
    expected = [row for row, obj in enumerate(OBJECTS) if predicate(obj)]
    assert list(DATASET.matches(expr, "update_id", False)) == expected


@pytest.mark.parametrize(
    "conditions",
    [
        ("update_id > 900005000", "update_id <= 900009000", "status = active"),
        ("confidence >= 50", "confidence < 90"),
        ("modified_ts > 2023-03-01", "modified_ts < 2024-03-01T08:00:00Z", "type = ip"),
    ],
)
@pytest.mark.parametrize("descending", [False, True])
def test_range_windows_on_the_order_field(conditions: tuple[str, ...], descending: bool) -> None:
    """Ranges on the order field (answered by bisection) give the same rows as plain evaluation."""
    exprs = tuple(parse_query(c) for c in conditions)
    field = exprs[0].field if isinstance(exprs[0], Comparison) else "update_id"
    predicate = compile_predicate(And(exprs))
    expected = [o for o in OBJECTS if predicate(o)]

    def key(o: dict[str, Any]) -> Any:
        value = o[field]
        return (iso_ms(value) if field.endswith("_ts") else value, o["id"])

    expected.sort(key=key, reverse=descending)
    page = DATASET.page(PageRequest(conditions=exprs, order_field=field, descending=descending, limit=100000))
    assert [DATASET.object(r)["id"] for r in page.rows] == [o["id"] for o in expected]
    assert page.total_count == len(expected) and not page.has_more
