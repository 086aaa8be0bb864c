"""Test-only mutations: every change bumps the global update_id and shows up past an incremental cursor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from threatmatch.emulator.testing import EmulatorHandle, run_emulator
from threatmatch.providers.threatstream.query_fields import iso_ms

API = "/api/v2/intelligence/"


@pytest.fixture
def ts() -> Iterator[EmulatorHandle]:
    with run_emulator(indicators=500, seed=3) as handle:
        yield handle


def listing(ts: EmulatorHandle, **params: Any) -> dict[str, Any]:
    response = httpx.get(ts.base_url + API, params={"limit": 1000, **params}, headers=ts.auth_header)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = orjson.loads(response.content)
    return body


def newest(ts: EmulatorHandle) -> dict[str, Any]:
    objects: list[dict[str, Any]] = listing(ts, order_by="-update_id", limit=1)["objects"]
    return objects[0]


def test_modify_bumps_update_id_and_modified_ts(ts: EmulatorHandle) -> None:
    """A modified indicator gets the next update_id, a fresh modified_ts, and the new field values."""
    before = listing(ts, order_by="update_id", limit=5)["objects"][2]
    top = newest(ts)["update_id"]
    after = ts.modify(before["id"], confidence=99, **{"meta.severity": "very-high"})
    assert after["update_id"] == top + 1
    assert iso_ms(after["modified_ts"]) >= int(time.time() * 1000) - 5000
    assert (after["confidence"], after["meta"]["severity"]) == (99, "very-high")
    assert after["meta"].get("detail2") == before["meta"].get("detail2")
    served = listing(ts, order_by="update_id", update_id__gt=top)["objects"]
    assert [o["id"] for o in served] == [before["id"]]
    assert served[0]["confidence"] == 99 and served[0]["sort"] == [top + 1]
    ids = [o["id"] for o in listing(ts, order_by="update_id")["objects"]]
    assert ids.count(before["id"]) == 1 and ids[-1] == before["id"]


def test_deactivate_falsepos_expire(ts: EmulatorHandle) -> None:
    """Deactivation writes ThreatStream's bifocals note; falsepos and expiry change status / expiration_ts."""
    first, second, third = listing(ts, order_by="update_id", status="active", limit=3)["objects"]
    deactivated = ts.deactivate(first["id"])
    assert deactivated["status"] == "inactive"
    assert deactivated["meta"]["detail2"].startswith("bifocals_deactivated_on_20")
    assert ts.falsepos(second["id"])["status"] == "falsepos"
    expired = ts.expire(third["id"])
    assert expired["status"] == "active" and iso_ms(expired["expiration_ts"]) < int(time.time() * 1000)
    changed = listing(ts, order_by="update_id")["objects"][-3:]
    assert [o["id"] for o in changed] == [first["id"], second["id"], third["id"]]
    uids = [o["update_id"] for o in changed]
    assert uids == sorted(uids) and uids[1] == uids[0] + 1 and uids[2] == uids[1] + 1
    active_ids = {o["id"] for o in listing(ts, status="active")["objects"]}
    assert first["id"] not in active_ids and second["id"] not in active_ids and third["id"] in active_ids


def test_add_creates_a_realistic_indicator(ts: EmulatorHandle) -> None:
    """An added indicator has every field, the requested values, and the newest update_id."""
    top = newest(ts)
    added = ts.add(type="domain", value="evil-login.example", confidence=88)
    assert added["update_id"] == top["update_id"] + 1
    assert (added["type"], added["value"], added["confidence"], added["status"]) == (
        "domain", "evil-login.example", 88, "active")
    assert added["itype"].endswith("_domain") or added["itype"] == "dyn_dns"
    assert added["resource_uri"] == f"{API}{added['id']}/"
    assert set(top) - {"sort"} <= set(added) | {"ip", "country", "latitude", "longitude", "import_session_id",
                                               "source_created", "source_modified"}
    assert listing(ts, value="evil-login.example")["objects"][0]["id"] == added["id"]
    single = httpx.get(f"{ts.base_url}{API}{added['id']}/", headers=ts.auth_header)
    assert orjson.loads(single.content)["value"] == "evil-login.example"
    assert ts.add(type="hash")["type"] == "md5"


def test_unknown_id_is_404(ts: EmulatorHandle) -> None:
    """Mutating an id that does not exist is refused with 404."""
    with pytest.raises(RuntimeError, match="404"):
        ts.deactivate(12345)


def test_counter_is_global_and_keyset_sees_every_change(ts: EmulatorHandle) -> None:
    """An incremental client holding a cursor sees each later change exactly once, in change order."""
    cursor = newest(ts)["update_id"]
    objects = listing(ts, order_by="update_id", limit=4)["objects"]
    for obj in objects:
        ts.modify(obj["id"], description="touched")
    ts.modify(objects[0]["id"], description="touched twice")
    changed = listing(ts, order_by="update_id", update_id__gt=cursor)
    assert [o["id"] for o in changed["objects"]] == [o["id"] for o in objects[1:]] + [objects[0]["id"]]
    assert changed["meta"]["total_count"] == 4
    assert ts.state()["next_update_id"] == cursor + 6


def test_visibility_delay_hides_fresh_rows_from_modified_ts_lt(ts: EmulatorHandle) -> None:
    """With a visibility delay, just-modified rows are hidden from queries that bound modified_ts from above."""
    ts.configure(visibility_delay_s=300)
    obj = listing(ts, order_by="update_id", limit=1)["objects"][0]
    ts.modify(obj["id"], confidence=1)
    guarded = listing(ts, order_by="update_id", modified_ts__lt="2999-01-01")["objects"]
    unguarded = listing(ts, order_by="update_id")["objects"]
    assert obj["id"] not in {o["id"] for o in guarded}
    assert obj["id"] == unguarded[-1]["id"]


def test_mutation_log_masks_the_key(ts: EmulatorHandle) -> None:
    """The request log shows parameters but never the api_key value."""
    httpx.get(ts.base_url + API, params={"username": ts.username, "api_key": ts.api_key, "limit": 1})
    entry = ts.requests()[-1]
    assert entry["params"] == {"username": ts.username, "api_key": "***", "limit": "1"}
    assert entry["status"] == 200
    assert ts.api_key not in orjson.dumps(ts.requests()).decode()
