"""One million generated indicators: keyset pages of 1000 anywhere in the set, filters, and a mutation."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from threatmatch.emulator.generate import UPDATE_ID_BASE
from threatmatch.emulator.testing import run_emulator

API = "/api/v2/intelligence/"


@pytest.mark.slow
def test_a_million_indicators_page_by_update_id() -> None:
    """Pages of 1000 from the start, the middle and the end of a 1,000,000-row set; counts stay exact."""
    with run_emulator(indicators=1_000_000, seed=1) as ts, \
            httpx.Client(base_url=ts.base_url, headers=ts.auth_header, timeout=60) as client:
        def page(**params: object) -> dict[str, Any]:
            response = client.get(API, params={"order_by": "update_id", "limit": 1000, **params})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = orjson.loads(response.content)
            return body

        first = page()
        assert first["meta"]["total_count"] == 1_000_000 and len(first["objects"]) == 1000
        second = orjson.loads(client.get(first["meta"]["next"]).content)
        assert second["objects"][0]["update_id"] > first["objects"][-1]["update_id"]
        assert second["meta"]["total_count"] == 999_000

        middle_cursor = UPDATE_ID_BASE + 3 * 500_000
        middle = page(update_id__gt=middle_cursor)
        assert middle["objects"][0]["update_id"] > middle_cursor
        assert 499_000 < middle["meta"]["total_count"] <= 500_000

        last = page(update_id__gt=UPDATE_ID_BASE + 3 * 999_500)
        assert last["meta"]["next"] is None and 0 < len(last["objects"]) <= 500

        active = page(q='status="active"', modified_ts__lt="2099-01-01T00:00:00Z")
        assert 800_000 < active["meta"]["total_count"] < 900_000
        following = orjson.loads(client.get(active["meta"]["next"]).content)
        assert following["meta"]["total_count"] == active["meta"]["total_count"] - 1000
        assert all(o["status"] == "active" for o in following["objects"])

        target = first["objects"][10]
        ts.deactivate(target["id"])
        tail = page(update_id__gt=last["objects"][-1]["update_id"])
        assert [o["id"] for o in tail["objects"]] == [target["id"]]
        assert tail["objects"][0]["status"] == "inactive"
